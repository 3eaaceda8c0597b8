"""Callbacks belong to their PBX (issue 20): ``callbacks.pbx_id``.

Several PBXs share one database; each PBX's active agent claims only its own PBX's due
callbacks and dials them through that PBX. A callback made from a call (an abandoned call's
return call, an in-queue request) carries that call's ``pbx_id``; one requested through the
API carries the one asked for, by default the serving agent's.

Backfill of the callbacks stored before, in this order:

1. the ``pbx_id`` of its source call, when it has one;
2. else the ``pbx_id`` of its latest dialling attempt (the PBX that dialled it so far);
3. else the ``IVR_AGENT_PBX_ID`` of the process running the migration (the agent that
   starts first after the upgrade, or ``ivr-agent migrate``; ``pbx1`` when unset). With one
   PBX that is the right one; with several, check the pending callbacks' ``pbx_id`` after
   the upgrade (``GET /api/callbacks`` shows it).

``ix_callbacks_pbx_id_status_next_attempt_at`` serves the dialer's claim
(``WHERE pbx_id = … AND status = 'pending' AND next_attempt_at <= now()``).

The roll-ups (migration 0014) are kept per PBX too, so a summary of some PBXs reads them
as a summary of all does: ``pbx_id`` joins the key of ``rollup_calls``,
``rollup_calls_by_operator``, ``rollup_calls_by_operator_daily`` and ``rollup_callbacks``
(after ``bucket_start`` and ``operator_key``: a summary of every PBX still scans one range of
the primary key and adds the PBXs' rows up), and ``rollup_callback_facts`` keeps each
callback's. The functions and the rebuild are 0014's with the PBX added to every key; the
tables are emptied and rebuilt with the basis they had (none: roll-ups stay off).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 13:30:00
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _configured_pbx_id() -> str:
    # The settings' own validation (the pattern of IVR_AGENT_PBX_ID); the process running
    # the migration has loaded them already, so they load here too.
    from ivr_agent.settings import load_settings

    return load_settings().pbx_id


def _callbacks_upgrade() -> None:
    op.add_column("callbacks", sa.Column("pbx_id", sa.Text(), nullable=True))
    op.execute(
        "UPDATE callbacks AS c SET pbx_id = calls.pbx_id FROM calls "
        "WHERE calls.call_id = c.source_call_id"
    )
    op.execute(
        "UPDATE callbacks AS c SET pbx_id = a.pbx_id FROM ("
        "  SELECT DISTINCT ON (callback_id) callback_id, pbx_id FROM callback_attempts"
        "  ORDER BY callback_id, attempt_no DESC"
        ") AS a WHERE c.pbx_id IS NULL AND a.callback_id = c.callback_id"
    )
    op.get_bind().execute(
        sa.text("UPDATE callbacks SET pbx_id = :pbx_id WHERE pbx_id IS NULL"),
        {"pbx_id": _configured_pbx_id()},
    )
    op.alter_column("callbacks", "pbx_id", nullable=False)
    op.create_index(
        op.f("ix_callbacks_pbx_id_status_next_attempt_at"),
        "callbacks",
        ["pbx_id", "status", "next_attempt_at"],
    )


def _callbacks_downgrade() -> None:
    op.drop_index(op.f("ix_callbacks_pbx_id_status_next_attempt_at"), table_name="callbacks")
    op.drop_column("callbacks", "pbx_id")


# ------------------------------------------------------------------ roll-ups per PBX --
# 0014's functions with ``pbx_id`` in every key (0014's own text stays as it was: its
# downgrade, and this one's, need it).

#: The summed counts (bigint), in the order of ``rollup_call_facts``'s columns (as 0014).
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
_CALLBACK_COUNTS = ("due", "completed", "late", "service_due", "service_within", "scored")

_FACTS = """
CREATE FUNCTION rollup_call_facts(c calls, first_entry timestamptz, b rollup_basis)
RETURNS TABLE (
    pbx_id text, bucket_start timestamptz, day_start timestamptz, operator_key text,
    {count_types},
    ring_seconds_sum numeric, longest_wait float8, missing_last_end timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT
        c.pbx_id,
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
    "AND k.offered_at < f.bucket_start + make_interval(secs => b.grain_seconds) "
    "AND k.pbx_id = f.pbx_id"
)
# A local day lasts 23 to 25 hours: the range serves the index, the day decides.
_DAY_RANGE = (
    "k.offered_at >= f.day_start AND k.offered_at < f.day_start + interval '26 hours' "
    "AND x.day_start = f.day_start AND k.pbx_id = f.pbx_id"
)
_TABLES = (
    _Table(
        "rollup_calls", ("bucket_start", "pbx_id"), ("f.bucket_start", "f.pbx_id"), _GRAIN_RANGE
    ),
    _Table(
        "rollup_calls_by_operator",
        ("bucket_start", "operator_key", "pbx_id"),
        ("f.bucket_start", "f.operator_key", "f.pbx_id"),
        _GRAIN_RANGE + " AND x.operator_key = f.operator_key",
    ),
    _Table(
        "rollup_calls_by_operator_daily",
        ("bucket_start", "operator_key", "pbx_id"),
        ("f.day_start", "f.operator_key", "f.pbx_id"),
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


_APPLY = (
    """
CREATE OR REPLACE FUNCTION rollup_apply(c calls, first_entry timestamptz, delta int)
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

_REBUILD = """
CREATE OR REPLACE FUNCTION rollup_rebuild(grain int, zone text, hold_severe float8,
                                          call_target float8, wrap_up interval,
                                          service_due_minutes int)
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
    INSERT INTO rollup_callbacks (bucket_start, pbx_id, {callback_columns}, open,
                                  satisfaction_sum, open_last_deadline)
    SELECT k.bucket_start, k.pbx_id, {callback_summed}, count(k.open_deadline)::int,
           coalesce(sum(k.satisfaction_sum), 0), max(k.open_deadline)
    FROM rollup_callback_facts AS k GROUP BY k.bucket_start, k.pbx_id;
    -- A rebuild earlier in the same transaction (migrations) left its work table.
    DROP TABLE IF EXISTS pg_temp.rollup_work;
    CREATE TEMPORARY TABLE rollup_work ON COMMIT DROP AS
    SELECT x.pbx_id, x.bucket_start, x.day_start, x.operator_key, {summed_counts},
           coalesce(sum(x.ring_seconds_sum), 0) AS ring_seconds_sum,
           max(x.longest_wait) AS longest_wait, max(x.missing_last_end) AS missing_last_end
    FROM calls AS k
    LEFT JOIN call_records AS e ON e.call_id = k.call_id AND e.version = 1
    -- The basis as a table, not the variable: then the planner inlines the facts function.
    CROSS JOIN rollup_basis AS basis
    CROSS JOIN LATERAL rollup_call_facts(k, e.created_at, basis) AS x
    GROUP BY x.pbx_id, x.bucket_start, x.day_start, x.operator_key;
    INSERT INTO rollup_calls_by_operator (bucket_start, operator_key, pbx_id, {count_columns},
                                          ring_seconds_sum, longest_wait, missing_last_end)
    SELECT x.bucket_start, x.operator_key, x.pbx_id, {summed_counts}, sum(x.ring_seconds_sum),
           max(x.longest_wait), max(x.missing_last_end)
    FROM rollup_work AS x GROUP BY x.bucket_start, x.operator_key, x.pbx_id;
    INSERT INTO rollup_calls_by_operator_daily (bucket_start, operator_key, pbx_id,
                                                {count_columns}, ring_seconds_sum,
                                                longest_wait, missing_last_end)
    SELECT x.day_start, x.operator_key, x.pbx_id, {summed_counts}, sum(x.ring_seconds_sum),
           max(x.longest_wait), max(x.missing_last_end)
    FROM rollup_work AS x GROUP BY x.day_start, x.operator_key, x.pbx_id;
    INSERT INTO rollup_calls (bucket_start, pbx_id, {count_columns},
                              ring_seconds_sum, longest_wait, missing_last_end)
    SELECT x.bucket_start, x.pbx_id, {summed_counts}, sum(x.ring_seconds_sum),
           max(x.longest_wait), max(x.missing_last_end)
    FROM rollup_work AS x GROUP BY x.bucket_start, x.pbx_id;
END
$$
"""

# The callback's PBX is the last column of rollup_callback_facts (added by this migration).
_CALLBACK_FACTS = """
CREATE OR REPLACE FUNCTION rollup_callback_facts_of(cb callbacks, b rollup_basis)
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
        (cb.status = 'completed' AND cb.satisfaction_index IS NOT NULL)::int,
        cb.pbx_id
    FROM (SELECT 1) AS one
    LEFT JOIN LATERAL (
        SELECT a.started_at FROM callback_attempts AS a
        WHERE a.callback_id = cb.callback_id AND a.outcome IN ('completed', 'connected')
        ORDER BY a.attempt_no DESC LIMIT 1
    ) AS l ON true
    WHERE cb.status <> 'cancelled'
$$
"""

_CALLBACK_APPLY = """
CREATE OR REPLACE FUNCTION rollup_callback_apply(f rollup_callback_facts, delta int)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollup_callbacks AS r (bucket_start, pbx_id, {callback_columns}, open,
                                       satisfaction_sum, open_last_deadline)
    VALUES (f.bucket_start, f.pbx_id, {callback_signed},
            delta * (f.open_deadline IS NOT NULL)::int,
            delta * coalesce(f.satisfaction_sum, 0),
            CASE WHEN delta > 0 THEN f.open_deadline END)
    ON CONFLICT (bucket_start, pbx_id) DO UPDATE SET {callback_added},
        open = r.open + EXCLUDED.open,
        satisfaction_sum = r.satisfaction_sum + EXCLUDED.satisfaction_sum,
        open_last_deadline = greatest(r.open_last_deadline, EXCLUDED.open_last_deadline);
END
$$
"""

_CALLBACK_REFRESH = """
CREATE OR REPLACE FUNCTION rollup_callback_refresh(id uuid) RETURNS void
LANGUAGE plpgsql AS $$
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
            WHERE k.bucket_start = kept.bucket_start AND k.pbx_id = kept.pbx_id)
        WHERE r.bucket_start = kept.bucket_start AND r.pbx_id = kept.pbx_id
          AND r.open_last_deadline <= kept.open_deadline;
    END IF;
END
$$
"""

#: Each keyed table: its primary key's columns before this migration (0014's).
_KEYED = {
    "rollup_calls": ("bucket_start",),
    "rollup_calls_by_operator": ("bucket_start", "operator_key"),
    "rollup_calls_by_operator_daily": ("bucket_start", "operator_key"),
    "rollup_callbacks": ("bucket_start",),
}
_EMPTIED = (*_KEYED, "rollup_callback_facts")
_BASIS = (
    "grain_seconds, zone, hold_severe_seconds, call_target_seconds, wrap_up, "
    "callback_service_due_minutes"
)


def _render(template: str) -> str:
    return template.format(
        count_columns=", ".join(_COUNTS),
        count_types=", ".join(f"{name} int" for name in _COUNTS),
        signed_counts=", ".join(f"delta * f.{name}" for name in _COUNTS),
        added=", ".join(f"{name} = r.{name} + EXCLUDED.{name}" for name in _COUNTS),
        summed_counts=", ".join(f"sum(x.{name})::int AS {name}" for name in _COUNTS),
        callback_columns=", ".join(_CALLBACK_COUNTS),
        callback_signed=", ".join(f"delta * f.{name}" for name in _CALLBACK_COUNTS),
        callback_added=", ".join(
            f"{name} = r.{name} + EXCLUDED.{name}" for name in _CALLBACK_COUNTS
        ),
        callback_summed=", ".join(f"sum(k.{name})::int" for name in _CALLBACK_COUNTS),
    )


def _kept_basis() -> tuple[object, ...] | None:
    """The roll-ups' basis before the change (None: roll-ups off), to rebuild them with."""
    row = op.get_bind().execute(sa.text(f"SELECT {_BASIS} FROM rollup_basis")).first()  # noqa: S608
    return None if row is None else tuple(row)


def _rebuild(basis: tuple[object, ...] | None) -> None:
    if basis is None:
        return
    op.get_bind().execute(
        sa.text("SELECT rollup_rebuild(:g, :z, :h, :c, :w, :s)"),
        dict(zip(("g", "z", "h", "c", "w", "s"), basis, strict=True)),
    )


def _rekey(table: str, columns: tuple[str, ...]) -> None:
    op.drop_constraint(f"pk_{table}", table, type_="primary")
    op.create_primary_key(f"pk_{table}", table, list(columns))


def _rollups_upgrade() -> None:
    basis = _kept_basis()
    for table in _EMPTIED:
        op.execute(f"DELETE FROM {table}")  # noqa: S608 — fixed names; derived: rebuilt below
    for table, key in _KEYED.items():
        op.add_column(table, sa.Column("pbx_id", sa.Text(), nullable=False))
        _rekey(table, (*key, "pbx_id"))
    op.add_column("rollup_callback_facts", sa.Column("pbx_id", sa.Text(), nullable=False))
    op.execute("DROP FUNCTION rollup_call_facts(calls, timestamptz, rollup_basis)")
    op.execute(_render(_FACTS))
    for template in (_APPLY, _REBUILD, _CALLBACK_FACTS, _CALLBACK_APPLY, _CALLBACK_REFRESH):
        op.execute(_render(template))
    _rebuild(basis)


def _migration_0014() -> ModuleType:
    """0014's module (its function texts), loaded from its file beside this one."""
    path = Path(__file__).with_name("20261203_0014_call_rollups.py")
    spec = importlib.util.spec_from_file_location("ivr_agent_migration_0014", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rollups_downgrade() -> None:
    basis = _kept_basis()
    old = _migration_0014()
    for table in _EMPTIED:
        op.execute(f"DELETE FROM {table}")  # noqa: S608 — fixed names
    for signature in (
        "rollup_call_facts(calls, timestamptz, rollup_basis)",
        "rollup_apply(calls, timestamptz, int)",
        "rollup_rebuild(int, text, float8, float8, interval, int)",
        "rollup_callback_facts_of(callbacks, rollup_basis)",
        "rollup_callback_apply(rollup_callback_facts, int)",
        "rollup_callback_refresh(uuid)",
    ):
        op.execute(f"DROP FUNCTION {signature}")
    for table, key in _KEYED.items():
        _rekey(table, key)
        op.drop_column(table, "pbx_id")
    op.drop_column("rollup_callback_facts", "pbx_id")
    for name in ("_FACTS", "_APPLY", "_REBUILD"):
        op.execute(old._render(getattr(old, name)))
    op.execute(old._CALLBACK_FACTS)
    op.execute(old._render(old._CALLBACK_APPLY))
    op.execute(old._CALLBACK_REFRESH)
    _rebuild(basis)


def upgrade() -> None:
    """Add ``callbacks.pbx_id`` (backfilled, see the module docstring) and its index, and
    key the roll-ups by PBX."""
    _callbacks_upgrade()
    _rollups_upgrade()


def downgrade() -> None:
    """Roll-ups of all PBXs together again, and no ``callbacks.pbx_id`` (0015 lets any
    agent dial any callback)."""
    _rollups_downgrade()
    _callbacks_downgrade()
