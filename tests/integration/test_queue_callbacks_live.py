"""In-queue callback requests end to end against the real sandbox (S8, issue 18).

Five callers dial the sandbox's callback line, whose queue has one operator (011) and offers
a return call in the caller's place after 8 s of waiting (queues.conf periodic announcement,
key 1 into the hook ``ivr-agent-queue-callback``). The agent runs whole, with its dialer and
the queue-callback dispatcher (AMI ``QueueStatus``); the customers are the scenario
``queue_callback`` on the phones instance, which measures what reached them.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ivr_agent.app import IVR
from ivr_agent.callbacks.queries import get_callback
from ivr_agent.callbacks.queue_dispatch import QueueCallbackDispatcher, running_dispatcher
from ivr_agent.calls.store import get_call
from ivr_agent.core.queue_callbacks import QueueMember, reservation_reason
from ivr_agent.db.database import Database, connect
from ivr_agent.db.models import CallbackRow, CallRow
from tests.integration.sandbox_support import running_sandbox
from tests.integration.test_callbacks_live import ZONE, _settings_for, customers, run_phones, save
from tests.support.agent import running_agent
from tests.support.waiting import until

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]

FIRST, EARLIER, THIRD, FOURTH, LATER = (f"1380013890{n}" for n in range(1, 6))
#: A database nobody answers at (the outage).
UNREACHABLE = "postgresql+asyncpg://nobody:x@127.0.0.1:1/none"


async def _calls(db: Database, pbx_id: str, expected: int) -> list[CallRow]:
    """The agent's stored calls, once ``expected`` are there (or after 30 s)."""
    deadline = time.monotonic() + 30
    while True:
        async with db.transaction("test read") as session:
            rows = list(
                await session.scalars(
                    select(CallRow).where(CallRow.pbx_id == pbx_id).order_by(CallRow.offered_at)
                )
            )
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.3)


async def _requests(db: Database, call_ids: list[str]) -> list[CallbackRow]:
    async with db.transaction("test read") as session:
        rows = await session.scalars(
            select(CallbackRow)
            .where(CallbackRow.source_call_id.in_(call_ids))
            .order_by(CallbackRow.queued_at)
        )
        return list(rows)


def _at(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


async def test_two_callers_who_press_1_are_called_back_in_their_places_one_operator_at_a_time(
    tmp_path: Path, db: Database
) -> None:
    settings = _settings_for(
        running_sandbox(),
        tmp_path / "var",
        callback_dialer_enabled=True,
        callback_poll_seconds=0.5,
        queue_callback_poll_seconds=0.5,
    )
    async with running_agent(settings, db) as app:
        # The operator starts in the queue, whatever an earlier run left paused.
        helper = QueueCallbackDispatcher(
            app[IVR].get(), db, wake=lambda: None, poll_seconds=1.0, pbx_now=time.time
        )
        await helper.change_member("callback-line", "PJSIP/op011", "unpause", "")
        await asyncio.sleep(0.5)
        phones = await run_phones(customers("queue_callback"))
        # Five inbound calls and two return calls (each measured as a call of its own).
        calls = await _calls(db, settings.pbx_id, 7)
        requests = await _requests(db, [c.call_id for c in calls])
        stored = [await get_callback(db, r.callback_id, ZONE) for r in requests]
        # The calls API links each original call and its return call, both ways.
        linked = {c.call_id: await get_call(db, c.call_id) for c in calls}
    truth = {r["id"]: r for r in phones.results}
    save("queue-callback", {"truth": truth, "stored": stored})

    for result in phones.results:
        assert result["completed"], (result["id"], result["errors"])
    inbound = {c.caller_number: c for c in calls if c.direction == "inbound"}
    returned = {c.caller_number: c for c in calls if c.direction == "callback"}

    # The two callers who pressed 1: neither abandoned, each with its place stored once.
    for number in (THIRD, FOURTH):
        call = inbound[number]
        assert not call.abandoned, number
        assert call.extra["queue_callback"]["queue"] == "callback-line"
    assert [r.customer_number for r in requests] == [THIRD, FOURTH]
    for request, call in zip(requests, (inbound[THIRD], inbound[FOURTH]), strict=True):
        assert request.reason == "queue_callback"
        assert request.queued_at == call.wait_started_at
    # One call each, and each reached an operator through the queue.
    assert phones.calls_to[THIRD] == phones.calls_to[FOURTH] == 1
    for callback in stored:
        assert callback is not None
        assert (callback["kind"], callback["status"], callback["outcome"]) == (
            "return_call",
            "completed",
            "connected",
        )
        assert len(callback["attempts"]) == 1
    third, fourth = requests
    assert third.released_at is not None
    assert fourth.released_at is not None
    # Never ahead of a caller who joined earlier: the second caller was answered first.
    earlier_answered = inbound[EARLIER].answered_at
    assert earlier_answered is not None
    assert third.released_at > earlier_answered
    # In the order of their places, and never more than the one free operator: the fourth
    # is dialled only once the third's return call had its operator, and that call ended.
    assert returned[THIRD].answered_at is not None
    assert fourth.released_at > returned[THIRD].answered_at
    assert third.released_at < fourth.released_at
    assert returned[THIRD].operator_id == returned[FOURTH].operator_id == "011"
    # The caller who joined after them is not served before them: the operator was kept
    # (paused) for each return call in turn, and given back to the queue after.
    later_answered = inbound[LATER].answered_at
    fourth_answered = returned[FOURTH].answered_at
    assert later_answered is not None
    assert fourth_answered is not None
    assert later_answered > fourth_answered > returned[THIRD].answered_at
    # S1: the wait of each caller who pressed 1 counted until an operator answered their
    # return call.
    for number in (THIRD, FOURTH):
        original, back = inbound[number], returned[number]
        assert original.answered_at is not None
        assert original.answered_at == _at(back.extra["return_call"]["operator_answered_at"])
        assert original.wait_started_at is not None
        waited = (original.answered_at - original.wait_started_at).total_seconds()
        assert original.ring_seconds == pytest.approx(waited, abs=0.001)
        assert original.operator_id == "011"
    # Each caller's original call links to its return call, and back (S8, issue 18).
    for number, request in zip((THIRD, FOURTH), requests, strict=True):
        original, back = linked[inbound[number].call_id], linked[returned[number].call_id]
        assert original is not None
        assert back is not None
        assert back["callback"]["original_call_id"] == original["call_id"]
        assert back["callback"]["kind"] == "return_call"
        assert original["follow_up_calls"] == [
            {"call_id": back["call_id"], "kind": "return_call", "callback_id": request.callback_id}
        ]
    # The agent's own pause and unpause channels are no calls of the call centre.
    assert len(calls) == 7, [(c.caller_number, c.direction) for c in calls]


async def test_operators_kept_for_requests_go_back_to_the_queue_when_the_database_stays_down(
    tmp_path: Path, db: Database
) -> None:
    settings = _settings_for(running_sandbox(), tmp_path / "var")
    queue, operator = "callback-line", "PJSIP/op011"
    async with running_agent(settings, db) as app:
        ivr = app[IVR].get()
        helper = QueueCallbackDispatcher(
            ivr, db, wake=lambda: None, poll_seconds=1.0, pbx_now=time.time
        )

        async def member() -> QueueMember:
            snapshot = await helper.snapshot(queue)
            assert snapshot is not None
            return next(m for m in snapshot.members if m.interface == operator)

        # Kept for a request (paused with the agent's reason), as a dispatcher does.
        await helper.change_member(queue, operator, "pause", reservation_reason("cb-1"))
        async with asyncio.timeout(10):
            while not (await member()).ours:
                await asyncio.sleep(0.1)
        async with connect(UNREACHABLE) as down:
            outage = QueueCallbackDispatcher(
                ivr,
                down,
                wake=lambda: None,
                poll_seconds=0.2,
                pbx_now=time.time,
                outage_grace_seconds=1.0,
            )
            outage.known_queues = [queue]  # what its last poll before the outage read
            started = time.monotonic()
            async with running_dispatcher(outage):
                await until(lambda: outage.given_back_in_outages >= 1, timeout=15)
            # Not before the grace: a short outage keeps the places.
            assert time.monotonic() - started >= 1.0
        async with asyncio.timeout(10):
            while (await member()).paused:
                await asyncio.sleep(0.1)
