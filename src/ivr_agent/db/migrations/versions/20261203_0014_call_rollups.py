"""Roll-ups of the inbound calls' summary counts (issue 16), kept exact by triggers.

* ``rollup_basis`` (one row, or none: roll-ups off): the grain of the buckets (seconds of
  UTC time from the Unix epoch, a divisor of 3600 that fits the call centre's time zone —
  ``ivr_agent.core.buckets.zone_grain_seconds``), that zone (for the daily table), and the
  three settings some counts depend on (``IVR_AGENT_HOLD_SEVERE_SECONDS``,
  ``IVR_AGENT_CALL_TARGET_SECONDS``, ``IVR_AGENT_WRAP_UP_MINUTES``). A summary asked with
  other settings does not use the roll-ups.
* ``rollup_calls`` (per grain), ``rollup_calls_by_operator`` (per grain and operator,
  ``''`` = no operator answered) and ``rollup_calls_by_operator_daily`` (per local day of
  the zone and operator): every count the summary computes, summed; the ring time as an
  exact ``numeric`` sum; the longest wait as a maximum; late wrap-ups as the records
  entered late plus the answered calls with no record yet (and the latest end among them,
  which tells a reader when all of them are late). Complaints, when they come, are more
  columns of the same rows (a trigger on their table, like the one on ``call_records``).
* ``rollup_call_facts(call, first record entry, basis)``: what one call adds to its rows
  (an inlinable SQL function: the triggers and the rebuild share it).
* Triggers: after a call is inserted, updated (a re-delivered outcome changes nothing; a
  newer outcome replaces the older one's contribution, also across rows) or deleted, and
  after a call's first record (version 1) is inserted, the call's old contribution is taken
  out and its new one added, in the same transaction. A maximum whose holder leaves is
  recounted from ``calls`` for that one row.
* ``rollup_rebuild(grain, zone, hold_severe, call_target, wrap_up, service_due_minutes)``:
  empties and refills every roll-up table from ``calls`` and the callback tables
  (``ivr-agent rollups rebuild`` calls it with the settings); this migration runs it with
  the defaults (1 h, Asia/Shanghai; 60 s, 180 s, 10 min, 30 min) as the backfill.
* ``rollup_callback_facts`` (what each callback adds now: due, completed, its deadline while
  open, completed late, service due / within the service time, satisfaction) and
  ``rollup_callbacks`` (their sums per grain of ``due_at``, with the latest open deadline):
  the summary's callback figures (S5). Triggers on ``callbacks`` and ``callback_attempts``
  (only when a column the figures read changes: not a claim, not a lease renewal) recompute
  the callback's facts and apply the difference from the kept ones to its bucket.
  ``rollup_basis.callback_service_due_minutes`` is the "within 30 min" setting
  (``IVR_AGENT_CALLBACK_SERVICE_DUE_MINUTES``).
* ``ix_callbacks_due_at``: the callback figures' edges count callbacks by due time.

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-03 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The summed counts (bigint), in the order of ``rollup_call_facts``'s columns.
_COUNTS = (
    "offered",
    "answered",
    "within_standard",
    "abandoned",
    "short_abandons",
    "hold_over_limit",
    "hold_severe",
    "silence_spoke",
    "silence_hung_up",
    "over_max_duration",
    "within_target",
    "operator_first",
    "satisfaction_satisfied",
    "satisfaction_suggestion",
    "satisfaction_invalid",
    "satisfaction_no_answer",
    "incomplete",
    "records_late",
    "records_missing",
)

_FACTS = """
CREATE FUNCTION rollup_call_facts(c calls, first_entry timestamptz, b rollup_basis)
RETURNS TABLE (
    bucket_start timestamptz, day_start timestamptz, operator_key text,
    {count_types},
    ring_seconds_sum numeric, longest_wait float8, missing_last_end timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT
        date_bin(make_interval(secs => b.grain_seconds), c.offered_at,
                 timestamptz '1970-01-01 00:00:00+00'),
        date_trunc('day', c.offered_at, b.zone),
        coalesce(c.operator_id, ''),
        1,
        (c.answered_at IS NOT NULL)::int,
        (c.answered_at IS NOT NULL AND c.answered_within_standard IS TRUE)::int,
        (c.abandoned IS TRUE)::int,
        (c.abandoned IS TRUE AND c.short_abandon IS TRUE)::int,
        (c.hold_over_limit IS TRUE)::int,
        coalesce(c.max_hold_seconds > b.hold_severe_seconds, false)::int,
        (c.silence = 'prompted_then_spoke')::int,
        (c.silence = 'hung_up_silent')::int,
        (c.over_max_duration IS TRUE)::int,
        coalesce(c.answered_at IS NOT NULL AND c.talk_seconds <= b.call_target_seconds,
                 false)::int,
        (c.operator_hung_up_first IS TRUE)::int,
        coalesce(c.extra ->> 'satisfaction' = 'satisfied', false)::int,
        coalesce(c.extra ->> 'satisfaction' = 'suggestion', false)::int,
        coalesce(c.extra ->> 'satisfaction' = 'invalid', false)::int,
        coalesce(c.extra ->> 'satisfaction' = 'no_answer', false)::int,
        (c.complete IS FALSE)::int,
        (c.answered_at IS NOT NULL AND c.record_expected IS TRUE
         AND first_entry IS NOT NULL AND first_entry > c.ended_at + b.wrap_up)::int,
        (c.answered_at IS NOT NULL AND c.record_expected IS TRUE AND first_entry IS NULL)::int,
        CASE WHEN c.answered_at IS NOT NULL THEN c.ring_seconds::numeric END,
        coalesce(c.ring_seconds, extract(epoch FROM c.ended_at - c.wait_started_at)),
        CASE WHEN c.answered_at IS NOT NULL AND c.record_expected IS TRUE
                  AND first_entry IS NULL THEN c.ended_at END
    WHERE c.direction = 'inbound'
$$
"""


class _Table(NamedTuple):
    """A roll-up table: its key columns, the facts' values of them, and the condition on a
    call ``k`` (with facts ``x``) of being in the row of call facts ``f`` (for a recount).
    A NamedTuple, not a dataclass: Alembic loads this module outside ``sys.modules``."""

    name: str
    keys: tuple[str, ...]
    values: tuple[str, ...]
    members: str


_GRAIN_RANGE = (
    "k.offered_at >= f.bucket_start "
    "AND k.offered_at < f.bucket_start + make_interval(secs => b.grain_seconds)"
)
# A local day lasts 23 to 25 hours: the range serves the index, the day decides.
_DAY_RANGE = (
    "k.offered_at >= f.day_start AND k.offered_at < f.day_start + interval '26 hours' "
    "AND x.day_start = f.day_start"
)
_TABLES = (
    _Table("rollup_calls", ("bucket_start",), ("f.bucket_start",), _GRAIN_RANGE),
    _Table(
        "rollup_calls_by_operator",
        ("bucket_start", "operator_key"),
        ("f.bucket_start", "f.operator_key"),
        _GRAIN_RANGE + " AND x.operator_key = f.operator_key",
    ),
    _Table(
        "rollup_calls_by_operator_daily",
        ("bucket_start", "operator_key"),
        ("f.day_start", "f.operator_key"),
        _DAY_RANGE + " AND x.operator_key = f.operator_key",
    ),
)


def _upsert(table: _Table) -> str:
    keys = ", ".join(table.keys)
    return f"""
    INSERT INTO {table.name} AS r ({keys}, {{count_columns}},
                                   ring_seconds_sum, longest_wait, missing_last_end)
    VALUES ({", ".join(table.values)}, {{signed_counts}},
            delta * coalesce(f.ring_seconds_sum, 0),
            CASE WHEN delta > 0 THEN f.longest_wait END,
            CASE WHEN delta > 0 THEN f.missing_last_end END)
    ON CONFLICT ({keys}) DO UPDATE SET {{added}},
        ring_seconds_sum = r.ring_seconds_sum + EXCLUDED.ring_seconds_sum,
        longest_wait = greatest(r.longest_wait, EXCLUDED.longest_wait),
        missing_last_end = greatest(r.missing_last_end, EXCLUDED.missing_last_end);"""  # noqa: S608 — fixed names


def _recount(table: _Table) -> str:
    same_row = " AND ".join(f"r.{k} = {v}" for k, v in zip(table.keys, table.values, strict=True))
    return f"""
        UPDATE {table.name} AS r SET
            longest_wait = CASE WHEN recount_wait THEN m.longest_wait ELSE r.longest_wait END,
            missing_last_end = CASE WHEN recount_missing THEN m.missing_last_end
                                    ELSE r.missing_last_end END
        FROM (
            SELECT max(x.longest_wait) AS longest_wait, max(x.missing_last_end) AS missing_last_end
            FROM calls AS k
            LEFT JOIN call_records AS e ON e.call_id = k.call_id AND e.version = 1
            CROSS JOIN LATERAL rollup_call_facts(k, e.created_at, b) AS x
            WHERE {table.members}
        ) AS m
        WHERE {same_row}
          AND ((recount_wait AND r.longest_wait <= f.longest_wait)
               OR (recount_missing AND r.missing_last_end <= f.missing_last_end));"""  # noqa: S608 — fixed names


# Adds (delta 1) or takes out (delta -1) one call's contribution to the three tables. The
# first statement on a row locks it, so the recount of a maximum that follows (its own
# statement, hence its own snapshot) sees every committed call of the row.
_APPLY = (
    """
CREATE FUNCTION rollup_apply(c calls, first_entry timestamptz, delta int)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    b rollup_basis;
    f record;
    recount_wait boolean;
    recount_missing boolean;
BEGIN
    SELECT * INTO b FROM rollup_basis;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT * INTO f FROM rollup_call_facts(c, first_entry, b);
    IF NOT FOUND THEN
        RETURN;
    END IF;"""  # noqa: S608 — fixed names
    + "".join(_upsert(t) for t in _TABLES)
    + """
    IF delta > 0 THEN
        RETURN;
    END IF;
    -- The call leaving may have held a row's maximum: recount it (one row per table).
    recount_wait := f.longest_wait IS NOT NULL;
    recount_missing := f.missing_last_end IS NOT NULL;
    IF recount_wait OR recount_missing THEN"""
    + "".join(_recount(t) for t in _TABLES)
    + """
    END IF;
END
$$
"""
)

_CALL_TRIGGERS = (
    """
CREATE FUNCTION rollup_calls_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    first_entry timestamptz;
    changed_call uuid;
BEGIN
    changed_call := CASE WHEN TG_OP = 'DELETE' THEN OLD.call_id ELSE NEW.call_id END;
    SELECT e.created_at INTO first_entry FROM call_records AS e
    WHERE e.call_id = changed_call AND e.version = 1;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM rollup_apply(OLD, first_entry, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM rollup_apply(NEW, first_entry, 1);
    END IF;
    RETURN NULL;
END
$$
""",
    """
CREATE TRIGGER rollup_calls_inserted_deleted AFTER INSERT OR DELETE ON calls
    FOR EACH ROW EXECUTE FUNCTION rollup_calls_changed()
""",
    """
-- A re-delivered outcome rewrites the same values: nothing to do.
CREATE TRIGGER rollup_calls_updated AFTER UPDATE ON calls
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION rollup_calls_changed()
""",
    """
CREATE FUNCTION rollup_record_entered() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    c calls;
BEGIN
    SELECT * INTO c FROM calls WHERE call_id = NEW.call_id;
    IF FOUND THEN
        PERFORM rollup_apply(c, NULL, -1);
        PERFORM rollup_apply(c, NEW.created_at, 1);
    END IF;
    RETURN NULL;
END
$$
""",
    """
CREATE TRIGGER rollup_record_entered AFTER INSERT ON call_records
    FOR EACH ROW WHEN (NEW.version = 1) EXECUTE FUNCTION rollup_record_entered()
""",
)

# Calls and records are locked against writes while the tables are refilled, so no outcome
# stored meanwhile is missed or counted twice. One scan of calls fills a work table at the
# finest key (a grain that fits the zone lies within one local day); the three tables are
# summed from it.
_REBUILD = """
CREATE FUNCTION rollup_rebuild(grain int, zone text, hold_severe float8, call_target float8,
                               wrap_up interval, service_due_minutes int)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE calls, call_records, callbacks, callback_attempts IN SHARE MODE;
    DELETE FROM rollup_basis;
    INSERT INTO rollup_basis (id, grain_seconds, zone, hold_severe_seconds,
                              call_target_seconds, wrap_up, callback_service_due_minutes)
    VALUES (1, grain, zone, hold_severe, call_target, wrap_up, service_due_minutes);
    DELETE FROM rollup_calls;
    DELETE FROM rollup_calls_by_operator;
    DELETE FROM rollup_calls_by_operator_daily;
    DELETE FROM rollup_callbacks;
    DELETE FROM rollup_callback_facts;
    INSERT INTO rollup_callback_facts
    SELECT f.* FROM callbacks AS cb
    CROSS JOIN rollup_basis AS basis
    CROSS JOIN LATERAL rollup_callback_facts_of(cb, basis) AS f;
    INSERT INTO rollup_callbacks (bucket_start, {callback_columns}, open, satisfaction_sum,
                                  open_last_deadline)
    SELECT k.bucket_start, {callback_summed}, count(k.open_deadline)::int,
           coalesce(sum(k.satisfaction_sum), 0), max(k.open_deadline)
    FROM rollup_callback_facts AS k GROUP BY k.bucket_start;
    CREATE TEMPORARY TABLE rollup_work ON COMMIT DROP AS
    SELECT x.bucket_start, x.day_start, x.operator_key, {summed_counts},
           coalesce(sum(x.ring_seconds_sum), 0) AS ring_seconds_sum,
           max(x.longest_wait) AS longest_wait, max(x.missing_last_end) AS missing_last_end
    FROM calls AS k
    LEFT JOIN call_records AS e ON e.call_id = k.call_id AND e.version = 1
    -- The basis as a table, not the variable: then the planner inlines the facts function
    -- (10 times faster than calling it per call).
    CROSS JOIN rollup_basis AS basis
    CROSS JOIN LATERAL rollup_call_facts(k, e.created_at, basis) AS x
    GROUP BY x.bucket_start, x.day_start, x.operator_key;
    INSERT INTO rollup_calls_by_operator (bucket_start, operator_key, {count_columns},
                                          ring_seconds_sum, longest_wait, missing_last_end)
    SELECT x.bucket_start, x.operator_key, {summed_counts}, sum(x.ring_seconds_sum),
           max(x.longest_wait), max(x.missing_last_end)
    FROM rollup_work AS x GROUP BY x.bucket_start, x.operator_key;
    INSERT INTO rollup_calls_by_operator_daily (bucket_start, operator_key, {count_columns},
                                                ring_seconds_sum, longest_wait, missing_last_end)
    SELECT x.day_start, x.operator_key, {summed_counts}, sum(x.ring_seconds_sum),
           max(x.longest_wait), max(x.missing_last_end)
    FROM rollup_work AS x GROUP BY x.day_start, x.operator_key;
    INSERT INTO rollup_calls (bucket_start, {count_columns},
                              ring_seconds_sum, longest_wait, missing_last_end)
    SELECT x.bucket_start, {summed_counts}, sum(x.ring_seconds_sum),
           max(x.longest_wait), max(x.missing_last_end)
    FROM rollup_work AS x GROUP BY x.bucket_start;
END
$$
"""


# ---------------------------------------------------------------- callbacks --
# A callback's figures (S5) depend on its row and on its last completing attempt; each
# callback's current contribution is kept in rollup_callback_facts, so a change applies
# exactly "new facts − kept facts" to its bucket of rollup_callbacks (counted by due_at).
_CALLBACK_FACTS = """
CREATE FUNCTION rollup_callback_facts_of(cb callbacks, b rollup_basis)
RETURNS SETOF rollup_callback_facts LANGUAGE sql STABLE AS $$
    SELECT
        cb.callback_id,
        date_bin(make_interval(secs => b.grain_seconds), cb.due_at,
                 timestamptz '1970-01-01 00:00:00+00'),
        1,
        (cb.status = 'completed')::int,
        CASE WHEN cb.status IN ('pending', 'in_progress') THEN cb.deadline END,
        coalesce(cb.status = 'completed' AND l.started_at > cb.deadline, false)::int,
        (cb.reason = 'service_completed')::int,
        coalesce(cb.reason = 'service_completed' AND cb.status = 'completed'
                 AND l.started_at <= cb.reference_time
                                     + make_interval(mins => b.callback_service_due_minutes),
                 false)::int,
        CASE WHEN cb.status = 'completed' AND cb.satisfaction_index IS NOT NULL
             THEN cb.satisfaction_index::numeric END,
        (cb.status = 'completed' AND cb.satisfaction_index IS NOT NULL)::int
    FROM (SELECT 1) AS one
    LEFT JOIN LATERAL (
        -- The completing attempt: the last one completed (a survey) or connected (a return
        -- call handed to the operators).
        SELECT a.started_at FROM callback_attempts AS a
        WHERE a.callback_id = cb.callback_id AND a.outcome IN ('completed', 'connected')
        ORDER BY a.attempt_no DESC LIMIT 1
    ) AS l ON true
    WHERE cb.status <> 'cancelled'
$$
"""

_CALLBACK_COUNTS = ("due", "completed", "late", "service_due", "service_within", "scored")

_CALLBACK_APPLY = """
CREATE FUNCTION rollup_callback_apply(f rollup_callback_facts, delta int)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollup_callbacks AS r (bucket_start, {callback_columns}, open,
                                       satisfaction_sum, open_last_deadline)
    VALUES (f.bucket_start, {callback_signed}, delta * (f.open_deadline IS NOT NULL)::int,
            delta * coalesce(f.satisfaction_sum, 0),
            CASE WHEN delta > 0 THEN f.open_deadline END)
    ON CONFLICT (bucket_start) DO UPDATE SET {callback_added},
        open = r.open + EXCLUDED.open,
        satisfaction_sum = r.satisfaction_sum + EXCLUDED.satisfaction_sum,
        open_last_deadline = greatest(r.open_last_deadline, EXCLUDED.open_last_deadline);
END
$$
"""

# Serialised per callback by the lock on its kept facts (FOR UPDATE); a bucket's latest open
# deadline is recounted from the kept facts when the callback holding it leaves.
_CALLBACK_REFRESH = """
CREATE FUNCTION rollup_callback_refresh(id uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    b rollup_basis;
    cb callbacks;
    kept rollup_callback_facts;
    fresh rollup_callback_facts;
BEGIN
    SELECT * INTO b FROM rollup_basis;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT * INTO kept FROM rollup_callback_facts WHERE callback_id = id FOR UPDATE;
    SELECT * INTO cb FROM callbacks WHERE callback_id = id;
    IF FOUND THEN
        SELECT * INTO fresh FROM rollup_callback_facts_of(cb, b);
    END IF;
    IF kept IS NOT DISTINCT FROM fresh THEN
        RETURN;
    END IF;
    IF kept.callback_id IS NOT NULL THEN
        PERFORM rollup_callback_apply(kept, -1);
        DELETE FROM rollup_callback_facts WHERE callback_id = id;
    END IF;
    IF fresh.callback_id IS NOT NULL THEN
        INSERT INTO rollup_callback_facts VALUES (fresh.*);
        PERFORM rollup_callback_apply(fresh, 1);
    END IF;
    IF kept.open_deadline IS NOT NULL THEN
        UPDATE rollup_callbacks AS r SET open_last_deadline = (
            SELECT max(k.open_deadline) FROM rollup_callback_facts AS k
            WHERE k.bucket_start = kept.bucket_start)
        WHERE r.bucket_start = kept.bucket_start AND r.open_last_deadline <= kept.open_deadline;
    END IF;
END
$$
"""

_CALLBACK_TRIGGERS = (
    """
CREATE FUNCTION rollup_callback_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM rollup_callback_refresh(OLD.callback_id);
    ELSE
        PERFORM rollup_callback_refresh(NEW.callback_id);
    END IF;
    RETURN NULL;
END
$$
""",
    """
CREATE TRIGGER rollup_callbacks_inserted_deleted AFTER INSERT OR DELETE ON callbacks
    FOR EACH ROW EXECUTE FUNCTION rollup_callback_changed()
""",
    """
-- Only what the figures read: a claim (pending -> in_progress) or a new next attempt time
-- changes nothing counted.
CREATE TRIGGER rollup_callbacks_updated AFTER UPDATE ON callbacks
    FOR EACH ROW WHEN (
        (OLD.status, OLD.reason, OLD.due_at, OLD.deadline, OLD.reference_time,
         OLD.satisfaction_index)
        IS DISTINCT FROM
        (NEW.status, NEW.reason, NEW.due_at, NEW.deadline, NEW.reference_time,
         NEW.satisfaction_index))
    EXECUTE FUNCTION rollup_callback_changed()
""",
    """
CREATE TRIGGER rollup_callback_attempts_inserted_deleted
    AFTER INSERT OR DELETE ON callback_attempts
    FOR EACH ROW EXECUTE FUNCTION rollup_callback_changed()
""",
    """
-- Lease renewals (heartbeat_at) are most of an attempt's updates: they change nothing counted.
CREATE TRIGGER rollup_callback_attempts_updated AFTER UPDATE ON callback_attempts
    FOR EACH ROW WHEN (
        (OLD.callback_id, OLD.attempt_no, OLD.outcome, OLD.started_at)
        IS DISTINCT FROM (NEW.callback_id, NEW.attempt_no, NEW.outcome, NEW.started_at))
    EXECUTE FUNCTION rollup_callback_changed()
""",
)


def _render(template: str) -> str:
    columns = ", ".join(_COUNTS)
    return template.format(
        count_columns=columns,
        count_types=", ".join(f"{name} int" for name in _COUNTS),
        signed_counts=", ".join(f"delta * f.{name}" for name in _COUNTS),
        added=", ".join(f"{name} = r.{name} + EXCLUDED.{name}" for name in _COUNTS),
        # sum(int) is a bigint: back to the tables' int (a grain's counts fit easily).
        summed_counts=", ".join(f"sum(x.{name})::int AS {name}" for name in _COUNTS),
        callback_columns=", ".join(_CALLBACK_COUNTS),
        callback_signed=", ".join(f"delta * f.{name}" for name in _CALLBACK_COUNTS),
        callback_added=", ".join(
            f"{name} = r.{name} + EXCLUDED.{name}" for name in _CALLBACK_COUNTS
        ),
        callback_summed=", ".join(f"sum(k.{name})::int" for name in _CALLBACK_COUNTS),
    )


def _counts_columns() -> list[sa.Column[int]]:
    return [sa.Column(name, sa.Integer(), nullable=False) for name in _COUNTS]


def _figures_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("ring_seconds_sum", sa.Numeric(), nullable=False),
        sa.Column("longest_wait", sa.Double(), nullable=True),
        sa.Column("missing_last_end", sa.DateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    """Create the roll-up tables, functions and triggers; fill them from ``calls``."""
    op.create_table(
        "rollup_basis",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("grain_seconds", sa.Integer(), nullable=False),
        sa.Column("zone", sa.Text(), nullable=False),
        sa.Column("hold_severe_seconds", sa.Double(), nullable=False),
        sa.Column("call_target_seconds", sa.Double(), nullable=False),
        sa.Column("wrap_up", sa.Interval(), nullable=False),
        sa.Column("callback_service_due_minutes", sa.Integer(), nullable=False),
        sa.Column(
            "built_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("id = 1", name=op.f("ck_rollup_basis_one_row")),
        sa.CheckConstraint(
            "grain_seconds > 0 AND 3600 % grain_seconds = 0", name=op.f("ck_rollup_basis_grain")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollup_basis")),
    )
    op.create_table(
        "rollup_calls",
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        *_counts_columns(),
        *_figures_columns(),
        sa.PrimaryKeyConstraint("bucket_start", name=op.f("pk_rollup_calls")),
    )
    op.create_table(
        "rollup_calls_by_operator",
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("operator_key", sa.Text(), nullable=False),
        *_counts_columns(),
        *_figures_columns(),
        sa.PrimaryKeyConstraint(
            "bucket_start", "operator_key", name=op.f("pk_rollup_calls_by_operator")
        ),
    )
    op.create_table(
        "rollup_calls_by_operator_daily",
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("operator_key", sa.Text(), nullable=False),
        *_counts_columns(),
        *_figures_columns(),
        sa.PrimaryKeyConstraint(
            "bucket_start", "operator_key", name=op.f("pk_rollup_calls_by_operator_daily")
        ),
    )
    # One operator's history reads its own rows in time order.
    op.create_index(
        op.f("ix_rollup_calls_by_operator_operator_key_bucket_start"),
        "rollup_calls_by_operator",
        ["operator_key", "bucket_start"],
    )
    # The summary's callback figures count callbacks by due time (they scanned them all).
    op.create_index(op.f("ix_callbacks_due_at"), "callbacks", ["due_at"])
    op.create_table(
        "rollup_callback_facts",
        sa.Column("callback_id", sa.Uuid(), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.Column("open_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("late", sa.Integer(), nullable=False),
        sa.Column("service_due", sa.Integer(), nullable=False),
        sa.Column("service_within", sa.Integer(), nullable=False),
        sa.Column("satisfaction_sum", sa.Numeric(), nullable=True),
        sa.Column("scored", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("callback_id", name=op.f("pk_rollup_callback_facts")),
    )
    op.create_index(
        op.f("ix_rollup_callback_facts_bucket_start"), "rollup_callback_facts", ["bucket_start"]
    )
    op.create_table(
        "rollup_callbacks",
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _CALLBACK_COUNTS),
        sa.Column("open", sa.Integer(), nullable=False),
        sa.Column("satisfaction_sum", sa.Numeric(), nullable=False),
        sa.Column("open_last_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("bucket_start", name=op.f("pk_rollup_callbacks")),
    )
    op.execute(_render(_FACTS))
    op.execute(_render(_APPLY))
    for statement in _CALL_TRIGGERS:  # asyncpg runs one statement at a time
        op.execute(statement)
    op.execute(_CALLBACK_FACTS)
    op.execute(_render(_CALLBACK_APPLY))
    op.execute(_CALLBACK_REFRESH)
    for statement in _CALLBACK_TRIGGERS:
        op.execute(statement)
    op.execute(_render(_REBUILD))
    # The backfill, with the default settings; `ivr-agent rollups rebuild` uses the real ones.
    op.execute(
        "SELECT rollup_rebuild(3600, 'Asia/Shanghai', 60.0, 180.0, interval '10 minutes', 30)"
    )


def downgrade() -> None:
    """Drop the roll-ups (they are derived from ``calls``: nothing is lost)."""
    for trigger, table in (
        ("rollup_callback_attempts_updated", "callback_attempts"),
        ("rollup_callback_attempts_inserted_deleted", "callback_attempts"),
        ("rollup_callbacks_updated", "callbacks"),
        ("rollup_callbacks_inserted_deleted", "callbacks"),
    ):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS rollup_callback_changed()")
    op.execute("DROP FUNCTION IF EXISTS rollup_callback_refresh(uuid)")
    op.execute("DROP FUNCTION IF EXISTS rollup_callback_apply(rollup_callback_facts, int)")
    op.execute("DROP FUNCTION IF EXISTS rollup_callback_facts_of(callbacks, rollup_basis)")
    op.execute("DROP TRIGGER IF EXISTS rollup_record_entered ON call_records")
    op.execute("DROP TRIGGER IF EXISTS rollup_calls_updated ON calls")
    op.execute("DROP TRIGGER IF EXISTS rollup_calls_inserted_deleted ON calls")
    op.execute("DROP FUNCTION IF EXISTS rollup_record_entered()")
    op.execute("DROP FUNCTION IF EXISTS rollup_calls_changed()")
    op.execute("DROP FUNCTION IF EXISTS rollup_rebuild(int, text, float8, float8, interval, int)")
    op.execute("DROP FUNCTION IF EXISTS rollup_apply(calls, timestamptz, int)")
    op.execute("DROP FUNCTION IF EXISTS rollup_call_facts(calls, timestamptz, rollup_basis)")
    op.drop_table("rollup_callbacks")
    op.drop_table("rollup_callback_facts")
    op.drop_index(op.f("ix_callbacks_due_at"), table_name="callbacks")
    op.drop_table("rollup_calls_by_operator_daily")
    op.drop_table("rollup_calls_by_operator")
    op.drop_table("rollup_calls")
    op.drop_table("rollup_basis")
