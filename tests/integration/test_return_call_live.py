"""A return call end to end against the real sandbox (S8, issue 18), judged on the phones side.

An abandoned caller's callback (reason ``abandoned_call``) is dialled by the agent; the
simulated customer answers and stays on the line; the agent records, plays the return-call
greeting and continues the channel into the PBX's ``return-call`` context (the hotline
queue), where the simulated operator phone answers. The attempt, its recording, the measured
call and that call's recording must exist and be linked.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import structlog.testing

from ivr_agent.callbacks.queries import get_callback
from ivr_agent.calls.store import get_call, list_calls
from ivr_agent.db.database import Database
from ivr_agent.db.models import CallbackAttemptRow
from tests.integration.sandbox_support import running_sandbox
from tests.integration.test_callbacks_live import (
    ZONE,
    _settings_for,
    customers,
    dial_while_customers_wait,
    driven_dialer,
    new_callback,
    rows,
    save,
)
from tests.support.agent import recording_of, stored_outcome

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]

NUMBER = "13900139011"


async def test_an_abandoned_caller_is_called_back_greeted_and_answered_by_an_operator(
    tmp_path: Path, db: Database
) -> None:
    settings = _settings_for(running_sandbox(), tmp_path / "var")
    callback_id = await new_callback(db, NUMBER, settings, reason="abandoned_call")
    with structlog.testing.capture_logs() as logs:
        async with driven_dialer(settings, db) as dialer:
            phones = await dial_while_customers_wait(dialer, customers("return_call"))
            # The call through the queue, measured and stored by the agent like an inbound one.
            call = await stored_outcome(db, settings.pbx_id, NUMBER)
            call_recording = await recording_of(db, call["call_id"])
            stored = await get_callback(db, callback_id, ZONE)
            # GET /api/calls/{id}: the call names its callback and its return-call facts.
            read_back = await get_call(db, call["call_id"])
    (truth,) = phones.results
    save("return-call", {"truth": truth, "stored": stored, "call": read_back})
    heard = [
        name for e in logs if e["event"] == "callback_prompts_started" for name in e["prompts"]
    ]

    # The customer: called once, answered, handed to an operator who answered.
    assert truth["completed"], truth["errors"]
    assert phones.calls_to[NUMBER] == 1
    assert truth.get("operator_answered_at"), truth
    assert heard == ["return_call_greeting"]  # no survey

    # The callback: a return call, completed as connected, with the greeting's recording.
    assert stored is not None
    assert (stored["kind"], stored["status"], stored["outcome"]) == (
        "return_call",
        "completed",
        "connected",
    )
    (attempt,) = stored["attempts"]
    assert attempt["outcome"] == "connected"
    assert stored["recording"] is not None
    assert stored["recording"]["status"] == "ok", stored["recording"]
    assert stored["recording"]["seconds"] > 3  # the greeting, played on the recorded bridge

    # The measured call is linked: its Linkedid is the attempt's channel.
    assert call["linkedid"] == attempt["channel_id"]
    assert stored["result_call_id"] == attempt["result_call_id"] == call["call_id"]
    assert call["direction"] == "callback"
    assert call["operator_id"] == truth["operator_id"]
    assert read_back is not None
    assert read_back["callback"] == {
        "callback_id": callback_id,
        "attempt_id": attempt["attempt_id"],
        "kind": "return_call",
        # Requested by new_callback without a call: no original call to link to.
        "original_call_id": stored["source_call_id"],
    }
    facts = read_back["return_call"]
    assert facts["operator_answered_at"] is not None
    queued = datetime.fromisoformat(facts["queued_at"])
    answered = datetime.fromisoformat(facts["operator_answered_at"])
    waited = (answered - queued).total_seconds()
    assert facts["wait_seconds"] == pytest.approx(waited, abs=0.001)
    # The operator phone answers 2 s after it rings: the wait is that and the queue's offer.
    assert 1.5 < waited < 10
    # The agent's operator answer is the phones' (measured there, on Asterisk's clock).
    phones_answer = datetime.fromisoformat(truth["operator_answered_at"])
    assert abs((answered - phones_answer).total_seconds()) < 0.2
    # Recorded from the queue join by the inbound recorder (the rest of the call).
    assert call_recording.status == "ok", call_recording
    assert call_recording.seconds > 5


async def test_an_operator_first_return_call_rings_a_free_operator_then_the_customer(
    tmp_path: Path, db: Database
) -> None:
    settings = _settings_for(
        running_sandbox(),
        tmp_path / "var",
        return_call_order="operator_first",
        return_call_queue="hotline",
    )
    callback_id = await new_callback(db, NUMBER, settings, reason="abandoned_call")
    with structlog.testing.capture_logs() as logs:
        async with driven_dialer(settings, db) as dialer:
            phones = await dial_while_customers_wait(dialer, customers("return_call"))
            stored = await get_callback(db, callback_id, ZONE)
            assert stored is not None
            (attempt,) = stored["attempts"]
            kept = await rows(db, CallbackAttemptRow, attempt_id=attempt["attempt_id"])
            async with asyncio.timeout(30):  # stored when the call ends on the PBX
                while not (calls := await _placed_by(db, settings.pbx_id, attempt["channel_id"])):
                    await asyncio.sleep(0.2)
            read_back = await get_call(db, calls[0]["call_id"])
    (truth,) = phones.results
    save("return-call-operator-first", {"truth": truth, "stored": stored, "call": read_back})
    heard = [
        name for e in logs if e["event"] == "callback_prompts_started" for name in e["prompts"]
    ]

    # A free operator of the hotline queue was kept on the attempt and rang first; the
    # customer's phone rang only once they had answered.
    assert truth["completed"], truth["errors"]
    assert kept[0].operator_first is not None
    assert kept[0].operator_first.startswith("PJSIP/op")
    assert truth["operator_id"] == kept[0].operator_first.removeprefix("PJSIP/op")
    operator_answered = datetime.fromisoformat(truth["operator_answered_at"])
    assert operator_answered < datetime.fromisoformat(truth["ring_started_at"])
    assert phones.calls_to[NUMBER] == 1
    assert heard == ["return_call_greeting"]  # greeted, the operator listening; no survey
    # Connected, recorded from the customer's answer, and the measured call linked.
    assert (stored["kind"], stored["status"], stored["outcome"]) == (
        "return_call",
        "completed",
        "connected",
    )
    assert stored["recording"] is not None
    assert stored["recording"]["status"] == "ok", stored["recording"]
    assert stored["recording"]["seconds"] > 10  # the greeting and the talk
    assert read_back is not None
    assert read_back["callback"]["kind"] == "return_call"
    assert read_back["callback"]["callback_id"] == callback_id


async def _placed_by(db: Database, pbx_id: str, channel_id: str) -> list[dict[str, Any]]:
    """The stored calls whose first channel is ``channel_id`` (none yet: an empty list)."""
    calls = await list_calls(db, limit=1000)
    return [c for c in calls if (c["pbx_id"], c["linkedid"]) == (pbx_id, channel_id)]
