"""The roll-ups (migrations 0014, 0016) answer exactly what the raw query over ``calls``
answers, for every PBX together and for some of them (the calls are of two PBXs).

Random outcomes are stored through the real store (``save_outcome``): re-delivered
duplicates, newer outcomes replacing older ones (also moving a call to another hour or
operator), calls ending just now (their missing record not due yet), and first call
records entered on time, late or never. Then random intervals, groupings and zones are
summed both ways, and a rebuild must leave exactly the rows the triggers kept.
"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select, text
from sqlalchemy.engine import URL

from ivr_agent.calls.store import save_outcome
from ivr_agent.core.outcome import CallOutcome, call_id_for
from ivr_agent.db.database import Database, connect
from ivr_agent.db.models import (
    CallRecordRow,
    RollupCallsByOperatorDailyRow,
    RollupCallsByOperatorRow,
    RollupCallsRow,
)
from ivr_agent.metrics.counts import GroupBy, summary
from ivr_agent.metrics.rollups import rebuild

pytestmark = pytest.mark.postgres

#: Each example writes its calls in a window of its own, far from the others'.
_EXAMPLES = itertools.count()
FIRST_WINDOW = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday
WINDOW = timedelta(days=3)
ZONES = ("Asia/Shanghai", "Asia/Kolkata", "Europe/Berlin", "Asia/Kathmandu")
WRAP_UP = timedelta(minutes=10)
FIGURES: dict[str, Any] = {"hold_severe_seconds": 60.0, "call_target_seconds": 180.0}
BASIS: dict[str, Any] = {**FIGURES, "wrap_up": WRAP_UP, "callback_service_due_minutes": 30}


@dataclass(frozen=True)
class CallSpec:
    """One outcome to store (for call ``call`` of the example)."""

    call: int
    minute: float
    operator: str | None
    ring: float
    talk: float
    hold: float | None
    silence: str
    satisfaction: str | None
    complete: bool
    ends_now: bool


calls = st.builds(
    CallSpec,
    call=st.integers(0, 11),
    # Whole minutes and a few seconds off them: near the grain and bucket edges.
    minute=st.one_of(
        st.integers(0, int(WINDOW.total_seconds() // 60)).map(float),
        st.floats(0, WINDOW.total_seconds() / 60, allow_nan=False),
    ),
    operator=st.sampled_from([None, "001", "002", "017"]),
    ring=st.sampled_from([0.5, 7.25, 14.999, 15.0, 42.125]),
    talk=st.sampled_from([3.5, 120.0, 180.0, 180.001, 301.0]),
    hold=st.sampled_from([None, 4.0, 10.5, 60.0, 61.0]),
    silence=st.sampled_from(["none", "none", "prompted_then_spoke", "hung_up_silent"]),
    satisfaction=st.sampled_from([None, "satisfied", "suggestion", "invalid", "no_answer"]),
    complete=st.booleans(),
    ends_now=st.booleans(),
)
# A step stores an outcome (again, or a newer one), or enters a call's first record
# ``minutes`` after it ended (or does nothing if that call is not stored or has one).
steps = st.lists(
    st.one_of(
        calls.map(lambda c: ("save", c)),
        st.tuples(st.integers(0, 11), st.sampled_from([1.0, 9.99, 10.0, 10.01, 300.0])).map(
            lambda r: ("record", r)
        ),
        st.just(("again", None)),
    ),
    min_size=1,
    max_size=30,
)
intervals = st.tuples(
    st.floats(-60, WINDOW.total_seconds() / 60 + 60, allow_nan=False),
    st.floats(1, WINDOW.total_seconds() / 60 + 120, allow_nan=False),
)


#: The PBXs of the calls (call n is PBX n % 2's), and what a summary may filter on.
PBXS = ("pbx-r", "pbx-s")
PBX_FILTERS = (None, ("pbx-r",), ("pbx-s",), PBXS, ("pbx-unknown",))


def _outcome(spec: CallSpec, example: int, base: datetime, now: datetime) -> CallOutcome:
    linkedid = f"{example}.{spec.call}"
    pbx_id = PBXS[spec.call % 2]
    offered = base + timedelta(minutes=spec.minute)
    answered = spec.operator is not None
    wait_started = offered + timedelta(seconds=1)
    ended = wait_started + timedelta(seconds=spec.ring + (spec.talk if answered else 0))
    if spec.ends_now:  # a long call that ended a few minutes ago: its record is not due
        ended = max(ended, now - timedelta(minutes=spec.minute % 20))
    return CallOutcome(
        call_id=call_id_for(pbx_id, linkedid),
        pbx_id=pbx_id,
        linkedid=linkedid,
        direction="inbound",
        caller_number="13800138000",
        operator_id=spec.operator,
        offered_at=offered,
        wait_started_at=wait_started,
        answered_at=wait_started + timedelta(seconds=spec.ring) if answered else None,
        ended_at=ended,
        ring_seconds=spec.ring if answered else None,
        rings=int(spec.ring // 5) + 1 if answered else None,
        answered_within_standard=spec.ring < 15 if answered else None,
        abandoned=not answered,
        short_abandon=not answered and spec.ring < 5,
        holds=(),
        max_hold_seconds=spec.hold,
        hold_over_limit=spec.hold is not None and spec.hold > 10,
        silence=spec.silence,  # type: ignore[arg-type]
        prompts_played=(),
        talk_seconds=spec.talk if answered else None,
        duration_seconds=(ended - offered).total_seconds(),
        over_max_duration=answered and spec.talk > 300,
        recording_id=None,
        complete=spec.complete,
        extra={} if spec.satisfaction is None else {"satisfaction": spec.satisfaction},
    )


async def _enter_record(db: Database, outcome: CallOutcome, minutes: float) -> None:
    async with db.transaction("test record") as session:
        exists = await session.scalar(
            select(CallRecordRow.record_id).where(CallRecordRow.call_id == outcome.call_id)
        )
        if exists is not None:
            return
        await session.execute(
            insert(CallRecordRow).values(
                record_id=str(uuid.uuid4()),
                call_id=outcome.call_id,
                version=1,
                type="consultation",
                summary="问询",
                status="done",
                entered_by="007",
                entered_role="operator",
                created_at=outcome.ended_at + timedelta(minutes=minutes),
            )
        )


async def _rows(db: Database) -> list[set[Any]]:
    """Every roll-up row with calls (a row whose calls all left keeps zeros and NULLs)."""
    kept = []
    async with db.engine.connect() as conn:
        for table in (RollupCallsRow, RollupCallsByOperatorRow, RollupCallsByOperatorDailyRow):
            rows = await conn.execute(select(table.__table__).where(table.offered != 0))
            kept.append(set(rows.all()))
            empty = await conn.execute(
                select(table.__table__).where(
                    table.offered == 0,
                    (table.longest_wait.is_not(None)) | (table.missing_last_end.is_not(None)),
                )
            )
            assert not empty.all(), "a row without calls keeps a maximum"
    return kept


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    grain=st.sampled_from([3600, 1800, 900]),
    zone_of_rollups=st.sampled_from(ZONES),
    story=steps,
    asked=st.lists(
        st.tuples(
            intervals,
            st.sampled_from([None, *GroupBy]),
            st.sampled_from(ZONES),
            st.sampled_from(PBX_FILTERS),
        ),
        min_size=1,
        max_size=4,
    ),
    one_operator=st.sampled_from([None, "001"]),
)
async def test_the_roll_ups_answer_what_the_raw_query_answers(
    db: Database,
    grain: int,
    zone_of_rollups: str,
    story: list[tuple[str, Any]],
    asked: list[tuple[tuple[float, float], GroupBy | None, str, tuple[str, ...] | None]],
    one_operator: str | None,
) -> None:
    example = next(_EXAMPLES)
    base = FIRST_WINDOW + example * 2 * WINDOW
    now = datetime.now(UTC)
    await rebuild(db, grain_seconds=grain, zone=zone_of_rollups, **BASIS)
    stored: dict[int, CallOutcome] = {}
    last: CallOutcome | None = None
    for kind, value in story:
        if kind == "save":
            last = _outcome(value, example, base, now)
            stored[value.call] = last
            await save_outcome(db, last)
        elif kind == "again" and last is not None:  # a re-delivered outcome
            await save_outcome(db, last)
        elif kind == "record" and value[0] in stored:
            await _enter_record(db, stored[value[0]], value[1])
    for (from_minute, length), group_by, zone, pbx_ids in asked:
        start = base + timedelta(minutes=from_minute)
        end = start + timedelta(minutes=length)
        kwargs: dict[str, Any] = {**FIGURES, "group_by": group_by, "zone": zone}
        kwargs["pbx_ids"] = pbx_ids
        kwargs["wrap_up"] = WRAP_UP
        if group_by is not GroupBy.OPERATOR:
            kwargs["operator"] = one_operator
        rolled = await summary(db, start, end, **kwargs)
        raw = await summary(db, start, end, use_rollups=False, **kwargs)
        assert rolled == raw, (start, end, group_by, zone, pbx_ids)
        if pbx_ids == PBXS:  # the PBXs partition the calls: theirs add up to the whole
            alone = [await summary(db, start, end, **{**kwargs, "pbx_ids": (p,)}) for p in PBXS]
            assert sum(one.total.offered for one in alone) == rolled.total.offered
    kept = await _rows(db)
    await rebuild(db, grain_seconds=grain, zone=zone_of_rollups, **BASIS)
    assert await _rows(db) == kept


async def test_given_a_call_moved_to_another_hour_then_its_old_hour_forgets_it(
    db: Database,
) -> None:
    spec = CallSpec(0, 30.0, "001", 42.125, 120.0, 61.0, "none", None, True, False)
    base = datetime(2026, 3, 2, tzinfo=UTC)
    now = datetime.now(UTC)
    first = _outcome(spec, 9999, base, now)
    await save_outcome(db, first)
    await save_outcome(db, first)  # re-delivered: counted once
    moved = _outcome(
        CallSpec(0, 150.0, "002", 0.5, 3.5, None, "none", None, True, False), 9999, base, now
    )
    await save_outcome(db, moved)
    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT bucket_start, operator_key, offered, longest_wait, hold_severe "
                    "FROM rollup_calls_by_operator ORDER BY bucket_start, operator_key"
                )
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (base, "001", 0, None, 0),
        (base + timedelta(hours=2), "002", 1, 0.5, 0),
    ]


async def test_given_roll_ups_of_other_settings_then_the_summary_counts_from_the_calls(
    db: Database,
) -> None:
    base = datetime(2026, 3, 2, tzinfo=UTC)
    spec = CallSpec(0, 30.0, "001", 7.25, 120.0, 61.0, "none", None, True, False)
    await save_outcome(db, _outcome(spec, 9998, base, datetime.now(UTC)))
    # Built with a severe hold of 90 s: the call's 61 s hold is not severe there.
    await rebuild(db, grain_seconds=3600, zone="UTC", **{**BASIS, "hold_severe_seconds": 90.0})
    async with db.engine.connect() as conn:
        kept = await conn.scalar(select(RollupCallsRow.hold_severe))
    assert kept == 0
    asked = await summary(db, base, base + timedelta(days=1), **FIGURES, wrap_up=WRAP_UP)
    assert asked.total.hold_severe == 1  # 61 s > 60 s: counted from the calls
    assert asked == await summary(
        db, base, base + timedelta(days=1), **FIGURES, wrap_up=WRAP_UP, use_rollups=False
    )


def test_given_a_half_hour_zone_when_rollups_rebuild_runs_then_its_grain_is_30_minutes(
    migrated_database_url: URL, cli_env: dict[str, str]
) -> None:
    url = migrated_database_url.render_as_string(hide_password=False)
    cli_env["IVR_AGENT_DATABASE_URL"] = url.replace("postgresql+asyncpg://", "postgresql://")
    cli_env["IVR_AGENT_TIMEZONE"] = "Asia/Kolkata"
    done = subprocess.run(
        [sys.executable, "-m", "ivr_agent.cli", "rollups", "rebuild"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "grain 1800 s for Asia/Kolkata" in done.stdout

    async def basis() -> Any:
        async with connect(migrated_database_url) as database, database.engine.connect() as conn:
            return (await conn.execute(text("SELECT grain_seconds, zone FROM rollup_basis"))).one()

    assert tuple(asyncio.run(basis())) == (1800, "Asia/Kolkata")
