"""How fast the summary, history and reports answer over 10,000,000 stored calls.

Fills a fresh database in the embedded PostgreSQL (``INSERT … SELECT … generate_series``:
one year of inbound calls and callbacks with a realistic mix — late answers, abandons, short
abandons, holds, silent callers, long calls, incomplete calls, satisfaction answers, call
records for the last 30 days — and 30 operators), with the roll-up triggers off during the
bulk load, then builds the roll-ups once (``rollup_rebuild``, timed) and times, in the same
run:

- the **baseline**: the same summary counted from ``calls`` only (``use_rollups=False``,
  the raw query of issue 9), and a bare ``SELECT count(*)`` of the interval;
- the **summary with roll-ups** (``metrics.counts.summary``, the real SQLAlchemy path),
  ungrouped and grouped by operator, hour, day, week and month, for the last day, the last
  30 days and the whole year;
- the **callback figures** (``callback_summary``, S5) and the **whole API body**
  (``summary_of``: calls + callbacks + QA averages), as the summary, history and reports
  compute it.

Each query runs ``--rounds`` times after one warm-up; the best and the median are reported.
``EXPLAIN (ANALYZE, BUFFERS)`` of the year-by-hour roll-up query is included in the results.

    .venv/bin/python benchmarks/metrics_summary.py --data-dir /tmp/ivr-bench-10m \
        --out benchmarks/metrics-summary-results.json
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from ivr_agent.core.buckets import Unit, bucket_starts, zone_grain_seconds
from ivr_agent.db.database import Database, connect
from ivr_agent.db.embedded import embedded_postgres
from ivr_agent.db.migrate import upgrade_to_head
from ivr_agent.db.models import CallbackAttemptRow, RollupCallsRow
from ivr_agent.metrics import history_of, rebuild_rollups, summary_of
from ivr_agent.metrics.counts import GroupBy, summary
from ivr_agent.metrics.rollups import one_row_each, read_basis, rolled_query, split
from ivr_agent.metrics.store import callback_summary
from ivr_agent.settings import load_settings

ZONE = "Asia/Shanghai"
#: The year of data ends at this local midnight (exclusive).
END = datetime(2026, 11, 23, tzinfo=ZoneInfo(ZONE))
START = END - timedelta(days=365)
HOLD_SEVERE = 60.0
CALL_TARGET = 180.0
WRAP_UP = timedelta(minutes=10)
TARGET_MS = 200.0
OPERATORS = 30
#: Calls of the last 30 days have call records (S8; older ones were stored before records).
RECORD_DAYS = 30

#: One year of calls, spread uniformly; every column derived from a few random draws so
#: the mix is realistic: 8 % abandoned (a third of them short), 88 % of answers within
#: 15 s, 12 % holds over 10 s (1 % over 60 s), 5 % silent, 3 % over 5 min, 5 % callbacks,
#: 60 % of answered callers asked the satisfaction question (75 % of them press 1).
FILL_CALLS = """
INSERT INTO calls (
    call_id, pbx_id, linkedid, direction, caller_number, operator_id, offered_at,
    wait_started_at, answered_at, ended_at, ring_seconds, rings, answered_within_standard,
    abandoned, short_abandon, max_hold_seconds, hold_over_limit, silence, talk_seconds,
    duration_seconds, over_max_duration, recording_id, complete, incomplete_reason, extra,
    record_expected)
SELECT
    gen_random_uuid(), 'bench', g::text,
    CASE WHEN r.d < 0.05 THEN 'callback' ELSE 'inbound' END,
    '138' || lpad((g % 100000000)::text, 8, '0'),
    CASE WHEN r.a < 0.08 THEN NULL ELSE lpad((1 + g % :operators)::text, 3, '0') END,
    t.offered, t.offered + interval '1.5 s',
    CASE WHEN r.a < 0.08 THEN NULL ELSE t.offered + interval '1.5 s' + w.ring * interval '1 s' END,
    t.offered + interval '1.5 s' + w.ring * interval '1 s' + w.talk * interval '1 s',
    CASE WHEN r.a < 0.08 THEN NULL ELSE w.ring END,
    CASE WHEN r.a < 0.08 THEN NULL ELSE floor(w.ring / 5)::int + 1 END,
    CASE WHEN r.a < 0.08 THEN NULL ELSE w.ring < 15 END,
    r.a < 0.08, r.a < 0.027,
    CASE WHEN r.h < 0.3 THEN round((r.h * 240)::numeric, 2)::float8 END,
    r.h < 0.3 AND r.h * 240 > 10,
    CASE WHEN r.s < 0.02 THEN 'hung_up_silent' WHEN r.s < 0.05 THEN 'prompted_then_spoke'
         ELSE 'none' END,
    CASE WHEN r.a < 0.08 THEN NULL ELSE w.talk END,
    1.5 + w.ring + w.talk, r.a >= 0.08 AND w.talk > 300,
    NULL, r.d < 0.999, CASE WHEN r.d >= 0.999 THEN 'ami_gap' END,
    CASE WHEN r.a >= 0.08 AND r.q < 0.6 THEN jsonb_build_object('satisfaction',
        CASE WHEN r.q < 0.45 THEN 'satisfied' WHEN r.q < 0.5 THEN 'suggestion'
             WHEN r.q < 0.52 THEN 'invalid' ELSE 'no_answer' END)
         ELSE '{}'::jsonb END,
    t.offered >= CAST(:end AS timestamptz) - :record_days * interval '1 day'
FROM generate_series(1, :calls) AS g
CROSS JOIN LATERAL (
    -- "+ g * 0": a lateral subquery not naming g would be evaluated only once.
    SELECT random() + g * 0 AS a, random() AS d, random() AS h, random() AS s, random() AS x,
           random() AS q
) AS r
CROSS JOIN LATERAL (
    SELECT CASE WHEN r.x < 0.88 THEN r.x * 15 / 0.88 ELSE 15 + (r.x - 0.88) * 300 END AS ring,
           CASE WHEN r.a < 0.08 THEN r.x * 30 WHEN r.s > 0.97 THEN 300 + r.s * 200
                ELSE 20 + r.s * 260 END AS talk
) AS w
CROSS JOIN LATERAL (
    SELECT CAST(:start AS timestamptz)
           + (g::float8 / :calls) * (CAST(:end AS timestamptz) - CAST(:start AS timestamptz))
           AS offered
) AS t
"""

#: 97 % of the answered calls that expect a record have one, entered 0–15 min after the
#: call (a third of them after the 10 min wrap-up time: late).
FILL_RECORDS = """
INSERT INTO call_records (
    record_id, call_id, version, type, summary, status, entered_by, entered_role, created_at)
SELECT gen_random_uuid(), c.call_id, 1, 'consultation', '咨询', 'done', c.operator_id,
       'operator', c.ended_at + random() * interval '15 min'
FROM calls AS c
WHERE c.direction = 'inbound' AND c.answered_at IS NOT NULL AND c.record_expected
  AND random() < 0.97
"""

#: The roll-up triggers (migration 0014), off during the bulk load: the roll-ups are built
#: once afterwards by ``rollup_rebuild`` (what the migration's backfill does).
TRIGGERS = (
    ("calls", "rollup_calls_inserted_deleted"),
    ("calls", "rollup_calls_updated"),
    ("call_records", "rollup_record_entered"),
    ("callbacks", "rollup_callbacks_inserted_deleted"),
    ("callbacks", "rollup_callbacks_updated"),
    ("callback_attempts", "rollup_callback_attempts_inserted_deleted"),
    ("callback_attempts", "rollup_callback_attempts_updated"),
)

#: One callback per 20 calls, with one to three attempts; most completed, some open.
FILL_CALLBACKS = """
INSERT INTO callbacks (
    callback_id, pbx_id, customer_number, reason, reference_time, due_at, deadline, status,
    attempts_made, satisfaction_index)
SELECT
    md5('cb' || g)::uuid, 'bench', '139' || lpad(g::text, 8, '0'),
    CASE WHEN r.k < 0.7 THEN 'service_completed' WHEN r.k < 0.9 THEN 'complaint_resolved'
         ELSE 'abandoned_call' END,
    t.ref, t.ref + interval '30 min', t.ref + interval '3 h',
    CASE WHEN r.k2 < 0.8 THEN 'completed' WHEN r.k2 < 0.85 THEN 'pending'
         WHEN r.k2 < 0.9 THEN 'declined' WHEN r.k2 < 0.97 THEN 'unreachable'
         ELSE 'cancelled' END,
    1 + (g % 3),
    CASE WHEN r.k2 < 0.8 THEN round((1 + r.k * 4)::numeric, 1)::float8 END
FROM generate_series(1, :callbacks) AS g
CROSS JOIN LATERAL (SELECT random() + g * 0 AS k, random() AS k2) AS r
CROSS JOIN LATERAL (
    SELECT CAST(:start AS timestamptz)
           + (g::float8 / :callbacks) * (CAST(:end AS timestamptz) - CAST(:start AS timestamptz))
           AS ref
) AS t;

INSERT INTO callback_attempts (
    attempt_id, callback_id, attempt_no, channel_id, state, outcome, started_at, ended_at
    {pbx_column})
SELECT md5(c.callback_id::text || n)::uuid, c.callback_id, n, c.callback_id::text || '-' || n,
       CASE WHEN n = c.attempts_made AND c.status IN ('completed', 'declined') THEN 'finished'
            ELSE 'failed' END,
       CASE WHEN n < c.attempts_made THEN 'no_answer'
            WHEN c.status IN ('completed', 'declined') THEN c.status ELSE 'no_answer' END,
       c.reference_time + n * interval '25 min', c.reference_time + n * interval '27 min'
       {pbx_value}
FROM callbacks AS c CROSS JOIN LATERAL generate_series(1, c.attempts_made) AS n;
"""


async def _timed(rounds: int, run: Callable[[], Awaitable[Any]]) -> dict[str, float]:
    await run()  # warm-up: plans cached, pages in memory
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await run()
        times.append((time.perf_counter() - started) * 1000)
    return {"best_ms": round(min(times), 1), "median_ms": round(statistics.median(times), 1)}


async def _fill(db: Database, calls: int) -> dict[str, float]:
    params = {
        "calls": calls,
        "callbacks": calls // 20,
        "start": START,
        "end": END,
        "operators": OPERATORS,
        "record_days": RECORD_DAYS,
    }
    started = time.perf_counter()
    async with db.engine.begin() as conn:
        for table, trigger in TRIGGERS:
            await conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}"))
        await conn.execute(text("SELECT setseed(0.7)"))
        await conn.execute(text(FILL_CALLS), params)
        await conn.execute(text(FILL_RECORDS), params)
        # The callback store may name the dialling PBX on each attempt (migration 0002).
        named = "pbx_id" in CallbackAttemptRow.__table__.c
        fill_callbacks = FILL_CALLBACKS.format(
            pbx_column=", pbx_id" if named else "", pbx_value=", 'bench'" if named else ""
        )
        for statement in fill_callbacks.split(";"):
            if statement.strip():
                await conn.execute(text(statement), params)
        for table, trigger in TRIGGERS:
            await conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}"))
    filled = time.perf_counter() - started
    rows = await rebuild_rollups(
        db,
        grain_seconds=zone_grain_seconds(ZONE),
        zone=ZONE,
        hold_severe_seconds=HOLD_SEVERE,
        call_target_seconds=CALL_TARGET,
        wrap_up=WRAP_UP,
        callback_service_due_minutes=30,
    )
    built = time.perf_counter() - started - filled
    async with db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE"))
    return {
        "fill_s": round(filled, 1),
        "rollup_rebuild_s": round(built, 1),
        "rollup_rows_by_operator": rows,
        "vacuum_s": round(time.perf_counter() - started - filled - built, 1),
    }


async def _explain(db: Database, start: datetime, end: datetime) -> list[str]:
    """EXPLAIN ANALYZE of the year-by-hour roll-up query, as the summary builds it."""
    async with db.transaction("explain") as session:
        basis = await read_basis(session)
    assert basis is not None
    pieces = [
        (n, s.astimezone(UTC), e.astimezone(UTC))
        for n, (s, e) in enumerate(
            itertools.pairwise([*bucket_starts(start, end, Unit.HOUR, ZoneInfo(ZONE)), end])
        )
    ]
    cut = split(pieces, basis.grain_seconds)
    query = rolled_query(
        RollupCallsRow,
        cut.inner,
        basis,
        by_operator=False,
        operator=None,
        by_row=one_row_each(cut, RollupCallsRow),
    )
    async with db.engine.connect() as conn:
        compiled = query.compile(dialect=conn.dialect)
        params = tuple(compiled.params[name] for name in compiled.positiontup or ())
        rows = await conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + str(compiled), params)
        return [row[0] for row in rows]


GROUPINGS: tuple[GroupBy | None, ...] = (None, *GroupBy)


def _label(group: GroupBy | None) -> str:
    return f"by_{group.value}" if group else "total"


async def _bench(db: Database, rounds: int, raw_year: bool) -> dict[str, Any]:
    intervals = {
        "day": (END - timedelta(days=1), END),
        "month": (END - timedelta(days=30), END),
        "year": (START, END),
    }
    settings = load_settings(timezone=ZONE)
    results: dict[str, Any] = {}
    async with db.engine.connect() as conn:
        total = (await conn.execute(text("SELECT count(*) FROM calls"))).scalar_one()
    for name, (start, end) in intervals.items():

        async def bare(start: datetime = start, end: datetime = end) -> int:
            async with db.engine.connect() as conn:
                count = await conn.execute(
                    text(
                        "SELECT count(*) FROM calls WHERE direction = 'inbound' "
                        "AND offered_at >= :start AND offered_at < :end"
                    ),
                    {"start": start, "end": end},
                )
                return int(count.scalar_one())

        entry: dict[str, Any] = {"calls": await bare(), "count_star": await _timed(rounds, bare)}

        async def callbacks(start: datetime = start, end: datetime = end) -> None:
            await callback_summary(db, start, end, now=END, service_due_minutes=30)

        entry["callback_figures"] = await _timed(rounds, callbacks)
        for group in GROUPINGS:
            label = _label(group)

            async def counted(
                use_rollups: bool,
                start: datetime = start,
                end: datetime = end,
                group: GroupBy | None = group,
            ) -> Any:
                return await summary(
                    db,
                    start,
                    end,
                    hold_severe_seconds=HOLD_SEVERE,
                    call_target_seconds=CALL_TARGET,
                    group_by=group,
                    zone=ZONE,
                    wrap_up=WRAP_UP,
                    use_rollups=use_rollups,
                )

            async def body(
                start: datetime = start, end: datetime = end, group: GroupBy | None = group
            ) -> None:
                await summary_of(db, settings, start, end, group, now=END)

            figures: dict[str, Any] = {"rollups": await _timed(rounds, lambda: counted(True))}
            if name != "year" or raw_year:
                figures["raw"] = await _timed(max(1, rounds // 2), lambda: counted(False))
                figures["raw_over_rollups"] = round(
                    figures["raw"]["best_ms"] / max(figures["rollups"]["best_ms"], 0.001), 1
                )
                # The point of the roll-ups: the very same counts, only sooner.
                figures["identical"] = await counted(True) == await counted(False)
            figures["api_body"] = await _timed(rounds, body)
            if group is not None and group.unit is not None:

                async def history(
                    start: datetime = start, end: datetime = end, group: GroupBy = group
                ) -> None:
                    await history_of(db, settings, start, end, group)

                figures["history"] = await _timed(rounds, history)
            entry[label] = figures
            print(f"{name:5} {label:12} {figures}", file=sys.stderr, flush=True)
        results[name] = entry
    results["stored_calls"] = total
    return results


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="ivr-bench-"))
    async with (
        embedded_postgres(data_dir) as server,
        connect(server.url, statement_timeout=None) as db,
    ):
        await upgrade_to_head(db)
        async with db.engine.connect() as conn:
            existing = (await conn.execute(text("SELECT count(*) FROM calls"))).scalar_one()
        fill: dict[str, Any] = {}
        if existing not in (0, args.calls):
            # Not emptied here: some tables refuse TRUNCATE by design (audit, QA scores).
            raise SystemExit(
                f"{data_dir} holds {existing} calls, not {args.calls}: use a new --data-dir"
            )
        # What filling took is kept beside the data, for a later run on the same data.
        filled = data_dir / "fill.json"
        if existing == 0:
            fill = await _fill(db, args.calls)
            filled.write_text(json.dumps(fill))
            print(f"filled: {fill}", file=sys.stderr, flush=True)
        elif filled.exists():
            fill = {**json.loads(filled.read_text()), "reused": True}
        results = await _bench(db, args.rounds, not args.no_raw_year)
        results["fill"] = fill
        results["target_ms"] = TARGET_MS
        results["explain_year_by_hour_rollups"] = await _explain(db, START, END)
        async with db.engine.connect() as conn:
            results["postgres"] = (await conn.execute(text("SELECT version()"))).scalar_one()
            sizes = await conn.execute(
                text(
                    "SELECT relname, pg_total_relation_size(oid) FROM pg_class "
                    "WHERE relname IN ('calls', 'call_records', 'rollup_calls', "
                    "'rollup_calls_by_operator', 'rollup_calls_by_operator_daily')"
                )
            )
            results["table_bytes"] = {name: size for name, size in sizes}
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10_000_000, help="stored calls (one year)")
    parser.add_argument("--rounds", type=int, default=5, help="timed runs per query")
    parser.add_argument("--data-dir", help="keep the embedded database here (reused if filled)")
    parser.add_argument("--out", type=Path, help="also write the JSON results here")
    parser.add_argument(
        "--no-raw-year", action="store_true", help="skip the (slow) raw baseline over the year"
    )
    args = parser.parse_args()
    results = asyncio.run(_main(args))
    rendered = json.dumps(results, indent=2, ensure_ascii=False)
    print(rendered)
    if args.out:
        args.out.write_text(rendered + "\n")
    over = [
        f"{name}.{_label(group)}"
        for name in ("day", "month", "year")
        for group in GROUPINGS
        if results[name][_label(group)]["rollups"]["best_ms"] > TARGET_MS
    ]
    different = [
        f"{name}.{_label(group)}"
        for name in ("day", "month", "year")
        for group in GROUPINGS
        if results[name][_label(group)].get("identical") is False
    ]
    if different:
        print(f"roll-ups differ from the raw query: {', '.join(different)}", file=sys.stderr)
        return 2
    if over:
        print(f"over the {TARGET_MS:g} ms target: {', '.join(over)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
