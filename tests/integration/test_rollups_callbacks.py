"""The callback roll-ups (migrations 0014, 0016) answer exactly what the raw callback query
answers, for every PBX together and for some of them (callback n is PBX n % 2's).

Random callbacks are stored, changed (status, satisfaction, due time, cancellation) and
dialled (attempts inserted, their outcomes changed, deleted) through SQL, as the callback
store writes them; then random intervals and moments (``now``: some deadlines passed, some
not) are counted both ways, and a rebuild must leave exactly the rows the triggers kept.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, update

from ivr_agent.db.database import Database
from ivr_agent.db.models import (
    CallbackAttemptRow,
    CallbackRow,
    RollupCallbackFactsRow,
    RollupCallbacksRow,
)
from ivr_agent.metrics.callback_counts import callback_summary
from ivr_agent.metrics.rollups import rebuild

pytestmark = pytest.mark.postgres

_EXAMPLES = itertools.count()
FIRST_WINDOW = datetime(2025, 2, 3, tzinfo=UTC)
WINDOW = timedelta(days=2)
BASIS: dict[str, Any] = {
    "hold_severe_seconds": 60.0,
    "call_target_seconds": 180.0,
    "wrap_up": timedelta(minutes=10),
    "callback_service_due_minutes": 30,
}
REASONS = ("service_completed", "complaint_resolved", "abandoned_call", "manual")
# Completed ones weigh double: most figures count them.
STATUSES = (
    "pending",
    "in_progress",
    "completed",
    "completed",
    "declined",
    "unreachable",
    "cancelled",
)
OUTCOMES = ("completed", "connected", "declined", "no_answer", "busy")
PBXS = ("pbx-r", "pbx-s")
PBX_FILTERS = (None, ("pbx-r",), ("pbx-s",), PBXS, ("pbx-unknown",))

minutes = st.floats(0, WINDOW.total_seconds() / 60, allow_nan=False) | st.integers(
    0, int(WINDOW.total_seconds() // 60)
).map(float)
new_callbacks = st.lists(
    st.tuples(
        st.tuples(
            st.just("new"),
            st.integers(0, 3),
            minutes,
            st.sampled_from(REASONS),
            st.sampled_from(STATUSES),
            st.sampled_from([None, 1.0, 3.4, 5.0]),
        ),
        # Its attempts so far: (outcome, when).
        st.lists(st.tuples(st.sampled_from(OUTCOMES), st.integers(0, 90)), max_size=2),
    ),
    min_size=1,
    max_size=4,
)
# What happens to them afterwards (a step naming a callback never created does nothing).
steps = st.lists(
    st.one_of(
        st.tuples(st.just("status"), st.integers(0, 3), st.sampled_from(STATUSES)),
        st.tuples(st.just("move"), st.integers(0, 3), minutes),
        st.tuples(
            st.just("attempt"), st.integers(0, 3), st.sampled_from(OUTCOMES), st.integers(0, 90)
        ),
        st.tuples(st.just("outcome"), st.integers(0, 3), st.sampled_from(OUTCOMES)),
        st.tuples(st.just("forget"), st.integers(0, 3)),
        st.tuples(st.just("heartbeat"), st.integers(0, 3)),
    ),
    min_size=1,
    max_size=30,
)


async def _apply(db: Database, step: tuple[Any, ...], ids: dict[int, str], base: datetime) -> None:
    kind, n = step[0], step[1]
    cb = CallbackRow
    a = CallbackAttemptRow
    async with db.transaction("test callbacks") as session:
        if kind == "new":
            if n in ids:
                return
            _kind, _n, minute, reason, status, satisfaction = step
            ids[n] = str(uuid.uuid4())
            due = base + timedelta(minutes=minute)
            await session.execute(
                insert(cb).values(
                    callback_id=ids[n],
                    pbx_id=PBXS[n % 2],
                    customer_number=f"1390000{n:04d}",
                    reason=reason,
                    reference_time=due - timedelta(minutes=30),
                    due_at=due,
                    deadline=due + timedelta(hours=3),
                    status=status,
                    satisfaction_index=satisfaction if status == "completed" else None,
                )
            )
            return
        if n not in ids:
            return
        callback_id = ids[n]
        if kind == "status":
            await session.execute(
                update(cb).where(cb.callback_id == callback_id).values(status=step[2])
            )
        elif kind == "move":
            due = base + timedelta(minutes=step[2])
            await session.execute(
                update(cb)
                .where(cb.callback_id == callback_id)
                .values(due_at=due, deadline=due + timedelta(hours=3))
            )
        elif kind == "attempt":
            number = 1 + (
                await session.scalar(
                    select(a.attempt_no)
                    .where(a.callback_id == callback_id)
                    .order_by(a.attempt_no.desc())
                    .limit(1)
                )
                or 0
            )
            due = await session.scalar(select(cb.due_at).where(cb.callback_id == callback_id))
            assert due is not None
            await session.execute(
                insert(a).values(
                    attempt_id=str(uuid.uuid4()),
                    callback_id=callback_id,
                    attempt_no=number,
                    channel_id=str(uuid.uuid4()),
                    state="finished",
                    # From 3 h before the due time to 6 h after: within 30 min of the
                    # reference (due − 30 min), late after the deadline (due + 3 h), between.
                    started_at=due + timedelta(minutes=(step[3] - 30) * 6),
                    outcome=step[2],
                    pbx_id="pbx-r",
                )
            )
        elif kind == "outcome":
            await session.execute(
                update(a).where(a.callback_id == callback_id).values(outcome=step[2])
            )
        elif kind == "forget":  # the last attempt is deleted (cascade of a purge, say)
            last = (
                select(a.attempt_id)
                .where(a.callback_id == callback_id)
                .order_by(a.attempt_no.desc())
                .limit(1)
                .scalar_subquery()
            )
            await session.execute(delete(a).where(a.attempt_id == last))
        elif kind == "heartbeat":
            await session.execute(
                update(a).where(a.callback_id == callback_id).values(heartbeat_at=datetime.now(UTC))
            )


async def _rows(db: Database) -> tuple[set[Any], set[Any]]:
    async with db.engine.connect() as conn:
        facts = set((await conn.execute(select(RollupCallbackFactsRow.__table__))).all())
        kept = set(
            (
                await conn.execute(
                    select(RollupCallbacksRow.__table__).where(RollupCallbacksRow.due != 0)
                )
            ).all()
        )
    return facts, kept


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    grain=st.sampled_from([3600, 900]),
    created=new_callbacks,
    story=steps,
    asked=st.lists(
        st.tuples(
            st.floats(-60, WINDOW.total_seconds() / 60 + 60, allow_nan=False),
            st.floats(1, WINDOW.total_seconds() / 60 + 120, allow_nan=False),
            # now: from before every deadline to after all of them
            st.floats(-120, WINDOW.total_seconds() / 60 + 300, allow_nan=False),
            st.sampled_from(PBX_FILTERS),
        ),
        min_size=1,
        max_size=4,
    ),
)
async def test_the_callback_roll_ups_answer_what_the_raw_query_answers(
    db: Database,
    grain: int,
    created: list[tuple[Any, ...]],
    story: list[tuple[Any, ...]],
    asked: list[tuple[float, float, float, tuple[str, ...] | None]],
) -> None:
    example = next(_EXAMPLES)
    base = FIRST_WINDOW + example * 3 * WINDOW
    await rebuild(db, grain_seconds=grain, zone="Asia/Shanghai", **BASIS)
    ids: dict[int, str] = {}
    for new, attempts in created:
        await _apply(db, new, ids, base)
        for outcome, when in attempts:
            await _apply(db, ("attempt", new[1], outcome, when), ids, base)
    for step in story:
        await _apply(db, step, ids, base)
    whole = (-60.0, WINDOW.total_seconds() / 60 + 120, asked[0][2], None)
    for from_minute, length, now_minute, pbx_ids in [whole, *asked]:
        start = base + timedelta(minutes=from_minute)
        end = start + timedelta(minutes=length)
        now = base + timedelta(minutes=now_minute)
        asking: dict[str, Any] = {"now": now, "service_due_minutes": 30, "pbx_ids": pbx_ids}
        rolled = await callback_summary(db, start, end, **asking)
        raw = await callback_summary(db, start, end, use_rollups=False, **asking)
        assert rolled == raw, (start, end, now, pbx_ids)
    kept = await _rows(db)
    await rebuild(db, grain_seconds=grain, zone="Asia/Shanghai", **BASIS)
    assert await _rows(db) == kept


async def test_given_an_attempts_outcome_changed_then_the_callback_counts_follow(
    db: Database,
) -> None:
    base = datetime(2026, 6, 1, 2, tzinfo=UTC)
    ids: dict[int, str] = {}
    await _apply(db, ("new", 0, 0.0, "service_completed", "completed", 4.0), ids, base)
    # Started 6 h after the due time (the deadline is 3 h after it), first no answer...
    await _apply(db, ("attempt", 0, "no_answer", 90), ids, base)
    start, end = base - timedelta(hours=1), base + timedelta(hours=2)
    counts = await callback_summary(db, start, end, now=base, service_due_minutes=30)
    assert (counts.due, counts.completed, counts.completed_late) == (1, 1, 0)
    # ...then corrected to completed: now the callback was completed late.
    await _apply(db, ("outcome", 0, "completed"), ids, base)
    counts = await callback_summary(db, start, end, now=base, service_due_minutes=30)
    assert (counts.completed_late, counts.service_within) == (1, 0)
    assert counts == await callback_summary(
        db, start, end, now=base, service_due_minutes=30, use_rollups=False
    )
    async with db.engine.connect() as conn:
        late = await conn.scalar(select(RollupCallbacksRow.late))
    assert late == 1
