"""In-queue callback requests in PostgreSQL: kept, released once, across agents (S8)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import insert, select

from ivr_agent.callbacks.queue_requests import dispatch_in_place, queues_waiting
from ivr_agent.core.queue_callbacks import Dispatch, QueueMember, QueueSnapshot, plan_dispatch
from ivr_agent.db.database import Database
from ivr_agent.db.models import CallbackRow

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
OPS = ("PJSIP/op011", "PJSIP/op012")


async def _request(db: Database, queued_at: datetime, number: str) -> str:
    callback_id = str(uuid.uuid4())
    async with db.transaction("test insert") as session:
        await session.execute(
            insert(CallbackRow).values(
                callback_id=callback_id,
                customer_number=number,
                reason="queue_callback",
                reference_time=queued_at,
                due_at=queued_at,
                deadline=queued_at + timedelta(hours=2),
                status="pending",
                queue_name="callback-line",
                queued_at=queued_at,
            )
        )
    return callback_id


async def _rows(db: Database) -> dict[str, CallbackRow]:
    async with db.transaction("test read") as session:
        return {r.callback_id: r for r in await session.scalars(select(CallbackRow))}


async def test_agents_deciding_at_once_keep_each_operator_once_and_release_each_request_once(
    db: Database,
) -> None:
    first = await _request(db, T0, "13900139101")
    second = await _request(db, T0 + timedelta(seconds=1), "13900139102")
    third = await _request(db, T0 + timedelta(seconds=2), "13900139103")
    assert await queues_waiting(db) == ["callback-line"]
    snapshot = QueueSnapshot("callback-line", (), tuple(QueueMember(op) for op in OPS))
    decide = partial(plan_dispatch, snapshot)

    # Four agents with the same view of the queue, at the same moment.
    plans = await asyncio.gather(
        *(dispatch_in_place(db, "callback-line", decide) for _ in range(4))
    )

    kept = [k for plan in plans for k in plan.reserve]
    released = [c for plan in plans for c in plan.dial]
    assert len(kept) == 2
    assert dict(kept) == {first: OPS[0], second: OPS[1]}
    assert sorted(released) == sorted([first, second])
    rows = await _rows(db)
    assert rows[first].queue_member == OPS[0]
    assert rows[second].queue_member == OPS[1]
    assert rows[first].released_at is not None
    assert rows[first].next_attempt_at == rows[first].released_at
    # The third place waits: both operators are kept; it is not released.
    assert rows[third].released_at is None
    assert rows[third].queue_member is None
    assert rows[third].next_attempt_at is None


async def test_a_done_request_gives_its_operator_back_and_is_then_forgotten(
    db: Database,
) -> None:
    done = await _request(db, T0, "13900139104")
    async with db.transaction("test update") as session:
        row = await session.get(CallbackRow, done)
        assert row is not None
        row.status, row.queue_member, row.released_at = "completed", OPS[0], T0
    # Still polled while it keeps an operator.
    assert await queues_waiting(db) == ["callback-line"]
    paused = QueueMember(OPS[0], paused=True, paused_reason=f"ivr-agent:{done}")
    snapshot = QueueSnapshot("callback-line", (), (paused,))
    plan = await dispatch_in_place(db, "callback-line", partial(plan_dispatch, snapshot))
    assert (plan.unpause, plan.dial, plan.reserve) == ((OPS[0],), (), ())
    back = QueueSnapshot("callback-line", (), (QueueMember(OPS[0]),))
    plan = await dispatch_in_place(db, "callback-line", partial(plan_dispatch, back))
    assert plan.forget == (done,)
    assert (await _rows(db))[done].queue_member is None
    assert await queues_waiting(db) == []


async def test_a_kept_operator_found_unpaused_is_paused_again_for_their_request_only(
    db: Database,
) -> None:
    kept = await _request(db, T0, "13900139105")
    async with db.transaction("test update") as session:
        row = await session.get(CallbackRow, kept)
        assert row is not None
        row.queue_member = OPS[0]
    # The outage gave the operator back; they took a caller meanwhile (busy, not paused).
    busy = QueueSnapshot("callback-line", (), (QueueMember(OPS[0], busy=True),))
    plan = await dispatch_in_place(db, "callback-line", partial(plan_dispatch, busy))
    assert (plan.restore, plan.reserve, plan.dial) == (((kept, OPS[0]),), (), ())
    assert (await _rows(db))[kept].queue_member == OPS[0]

    # A plan restoring an operator the request no longer keeps is not applied.
    def stale(requests: object) -> Dispatch:
        return Dispatch(restore=((kept, OPS[1]),))

    assert (await dispatch_in_place(db, "callback-line", stale)).restore == ()
