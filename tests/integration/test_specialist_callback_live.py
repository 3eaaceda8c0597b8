"""A specialist call-back end to end against the real sandbox (S8, issue 18).

``POST /api/callbacks`` with ``kind: specialist`` and the specialist's operator id (012): the
agent rings the specialist's desk phone first, then — once they answer — the customer, bridges
and records them. The simulated phones measure the order and the times on Asterisk's clock.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ivr_agent.callbacks.queries import get_callback
from ivr_agent.calls.store import get_call, list_calls
from ivr_agent.db.database import Database
from ivr_agent.db.tokens import create_token
from tests.integration.sandbox_support import running_sandbox
from tests.integration.test_callbacks_live import ZONE, _settings_for, customers, run_phones, save
from tests.support.agent import serving_agent

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]

NUMBER = "13900139021"


async def _placed_by(db: Database, pbx_id: str, channel_id: str) -> list[dict[str, Any]]:
    """The stored calls whose first channel is ``channel_id`` (none yet: an empty list)."""
    calls = await list_calls(db, limit=1000)
    return [c for c in calls if (c["pbx_id"], c["linkedid"]) == (pbx_id, channel_id)]


async def test_a_specialist_call_back_rings_the_specialist_first_and_reaches_the_customer_in_time(
    tmp_path: Path, db: Database
) -> None:
    ops_token = await create_token(db, "ops")
    settings = _settings_for(
        running_sandbox(), tmp_path / "var", callback_dialer_enabled=True, callback_poll_seconds=0.5
    )
    async with serving_agent(settings, db) as (_app, url):
        phones = asyncio.create_task(run_phones(customers("specialist_callback")))
        await asyncio.sleep(1.5)  # the phones are listening
        requested = datetime.now(UTC)
        async with aiohttp.ClientSession() as http:
            reply = await http.post(
                f"{url}/api/callbacks",
                json={"customer_number": NUMBER, "kind": "specialist", "operator_id": "012"},
                headers={"Authorization": f"Bearer {ops_token}"},
            )
            assert reply.status == 201, await reply.text()
            created = await reply.json()
        result = await asyncio.wait_for(phones, 120)
        # The attempt's result is written after the recording is fetched and verified.
        async with asyncio.timeout(30):
            while True:
                stored = await get_callback(db, created["callback_id"], ZONE)
                if stored is not None and stored["status"] not in ("pending", "in_progress"):
                    break
                await asyncio.sleep(0.2)
        # The call the tracker measured for it: one call, the specialist's originated
        # channel first (the customer's leg joins it: Asterisk links bridged channels).
        assert stored is not None
        (attempt,) = stored["attempts"]
        async with asyncio.timeout(30):  # stored when the call ends on the PBX
            while not (calls := await _placed_by(db, settings.pbx_id, attempt["channel_id"])):
                await asyncio.sleep(0.2)
        leg = await get_call(db, calls[0]["call_id"])
    (truth,) = result.results
    save("specialist", {"truth": truth, "stored": stored, "call": leg})

    assert truth["completed"], truth["errors"]
    # The specialist's phone rang and answered before the customer's rang.
    specialist_answered = datetime.fromisoformat(truth["specialist_answered_at"])
    customer_rang = datetime.fromisoformat(truth["ring_started_at"])
    assert datetime.fromisoformat(truth["specialist_ring_started_at"]) < specialist_answered
    assert specialist_answered < customer_rang
    assert result.calls_to[NUMBER] == 1
    # Reached within 3 minutes of the request, bridged and recorded.
    assert stored is not None
    assert (stored["kind"], stored["status"], stored["outcome"]) == (
        "specialist",
        "completed",
        "connected",
    )
    specialist = stored["specialist"]
    assert specialist["operator_id"] == "012"
    reached = datetime.fromisoformat(specialist["reached_at"])
    assert (reached - requested).total_seconds() < 180
    assert specialist["late_seconds"] is None
    assert specialist["breach"] is None
    assert stored["recording"] is not None
    assert stored["recording"]["status"] == "ok"
    # The recording runs from the customer's answer to the end of the talk (about 8 s).
    assert 5 < stored["recording"]["seconds"] < 12
    # The call is linked to its specialist call-back (no original call: requested through
    # the API without one).
    assert leg is not None
    assert leg["direction"] == "callback"
    assert leg["callback"] == {
        "callback_id": created["callback_id"],
        "attempt_id": attempt["attempt_id"],
        "kind": "specialist",
        "original_call_id": None,
    }
