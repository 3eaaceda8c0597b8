"""Return calls and specialist call-backs shown everywhere (S8, issue 18), against a real
PostgreSQL: the calls API, its export, the dashboard's tiles, the QA list and the summary's
figures link each such call to its original call and count them with their formulas.

The calls are stored as the tracker stores them (``save_outcome``), the callbacks and their
attempts as the dialer writes them (``create_callback``, ``claim_due``, ``finish_attempt``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import update

from ivr_agent.app import build_app
from ivr_agent.callbacks.attempts import AttemptResult, claim_due, finish_attempt
from ivr_agent.callbacks.dialing import channel_id_for
from ivr_agent.callbacks.jobs import CallbackRequest, create_callback
from ivr_agent.callbacks.specialist import customer_channel_id
from ivr_agent.calls.store import save_outcome
from ivr_agent.core.callbacks import CallbackConfig
from ivr_agent.core.outcome import CallOutcome
from ivr_agent.db.database import Database
from ivr_agent.db.models import CallbackAttemptRow
from ivr_agent.db.tokens import create_token
from ivr_agent.recordings import RecordingFile
from ivr_agent.settings import load_settings
from tests.support.outcomes import SHANGHAI, sample_outcome

pytestmark = pytest.mark.postgres

Client = TestClient[web.Request, web.Application]
# Monday 2026-11-23, inside the 10:30-11:30 calling window.
MONDAY = datetime(2026, 11, 23, 10, 40, tzinfo=SHANGHAI)
CONFIG = CallbackConfig()
DAY = "from=2026-11-23T00:00:00%2B08:00&to=2026-11-24T00:00:00%2B08:00"


def _recording(n: int) -> RecordingFile:
    return RecordingFile(f"{n:032x}", f"recordings/00/{n:032x}.wav", "a" * 64, 16044, 1.0)


def _placed(linkedid: str, at: datetime, **changes: Any) -> CallOutcome:
    """A call one of our callbacks placed: ``linkedid`` is the attempt's channel id."""
    return sample_outcome(
        linkedid, start=at, direction="callback", holds=(), prompts_played=(), **changes
    )


@dataclass(frozen=True)
class Stored:
    abandoned: str
    return_call: str
    handed: str
    specialist_leg: str
    customer_leg: str


async def _connect(db: Database, at: datetime, answered: datetime, n: int) -> tuple[str, str]:
    """Claim the callback due at ``at`` and end its attempt connected; (attempt, channel)."""
    [attempt] = await claim_due(db, at, limit=1, pbx_id="pbx1", channel_id_for=channel_id_for)
    result = AttemptResult(outcome="connected", answered_at=answered, recording=_recording(n))
    await finish_attempt(
        db, attempt.attempt_id, result, answered + timedelta(seconds=30), config=CONFIG
    )
    return attempt.attempt_id, attempt.channel_id


async def _store(db: Database) -> Stored:
    # An abandoned call gets its return call, which an operator answered.
    abandoned = sample_outcome(
        "1763863200.1",
        start=MONDAY - timedelta(minutes=5),
        abandoned=True,
        answered_at=None,
        operator_id=None,
        answered_within_standard=False,
    )
    abandoned_id = await save_outcome(db, abandoned, callbacks=CONFIG, now=MONDAY)
    _attempt, channel = await _connect(db, MONDAY, MONDAY + timedelta(seconds=8), 1)
    facts = {
        "queued_at": (MONDAY + timedelta(seconds=20)).isoformat(),
        "operator_answered_at": (MONDAY + timedelta(seconds=25)).isoformat(),
        "wait_seconds": 5.0,
    }
    return_call = await save_outcome(
        db, _placed(channel, MONDAY, operator_id="007", extra={"return_call": facts})
    )
    # An answered call handed to a specialist, who reached the customer in time …
    handed = await save_outcome(db, sample_outcome("1763863200.2", start=MONDAY))
    asked = MONDAY + timedelta(minutes=10)
    request = CallbackRequest("13900139021", None, "specialist", asked, handed, "012")
    await create_callback(db, request, CONFIG, asked)
    attempt_id, channel = await _connect(db, asked, asked + timedelta(seconds=40), 2)
    specialist_leg = await save_outcome(db, _placed(channel, asked, operator_id=None))
    # A customer leg never bridged with the specialist is a call of its own (a bridged one
    # shares the specialist's linkedid).
    customer_leg = await save_outcome(
        db, _placed(customer_channel_id(attempt_id), asked, operator_id=None)
    )
    # … and another specialist call-back never placed: late once its 3 minutes passed.
    late = CallbackRequest("13900139022", None, "specialist", asked, None, "013")
    await create_callback(db, late, CONFIG, asked)
    return Stored(abandoned_id, return_call, handed, specialist_leg, customer_leg)


@pytest.fixture
async def client(
    db: Database, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> Client:
    settings = load_settings(_env_file=None, timezone="Asia/Shanghai", pbx_id="pbx1")
    return await aiohttp_client(build_app(settings, database=db))


async def _get(client: Client, path: str, token: str) -> tuple[int, Any]:
    async with client.get(path, headers={"Authorization": f"Bearer {token}"}) as response:
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, await response.text()


async def test_the_calls_api_links_return_and_specialist_calls_to_their_original_calls(
    client: Client, db: Database
) -> None:
    stored = await _store(db)
    token = await create_token(db, "ops")
    status, body = await _get(client, "/api/calls?limit=100", token)
    assert status == 200
    calls = {c["call_id"]: c for c in body["calls"]}

    assert calls[stored.return_call]["callback"]["kind"] == "return_call"
    assert calls[stored.return_call]["callback"]["original_call_id"] == stored.abandoned
    assert calls[stored.abandoned]["follow_up_calls"] == [
        {
            "call_id": stored.return_call,
            "kind": "return_call",
            "callback_id": calls[stored.return_call]["callback"]["callback_id"],
        }
    ]
    # Both calls of the specialist call-back link to the call handed over, and back.
    for leg in (stored.specialist_leg, stored.customer_leg):
        assert calls[leg]["callback"]["kind"] == "specialist"
        assert calls[leg]["callback"]["original_call_id"] == stored.handed
    assert {f["call_id"] for f in calls[stored.handed]["follow_up_calls"]} == {
        stored.specialist_leg,
        stored.customer_leg,
    }
    # A call with no link reads as it always did.
    assert "callback" not in calls[stored.abandoned]
    assert "follow_up_calls" not in calls[stored.return_call]

    status, one = await _get(client, f"/api/calls/{stored.return_call}", token)
    assert status == 200
    assert one["callback"] == calls[stored.return_call]["callback"]
    assert one["return_call"]["operator_answered_at"] is not None


async def test_the_export_carries_the_links_flat(client: Client, db: Database) -> None:
    stored = await _store(db)
    token = await create_token(db, "ops")
    status, text = await _get(client, "/api/calls?format=csv", token)
    assert status == 200
    rows = {r["call_id"]: r for r in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))}
    assert rows[stored.return_call]["call_kind"] == "return_call"
    assert rows[stored.return_call]["original_call_id"] == stored.abandoned
    assert rows[stored.abandoned]["call_kind"] == "inbound"
    assert rows[stored.abandoned]["follow_up_call_ids"] == stored.return_call
    assert rows[stored.customer_leg]["call_kind"] == "specialist"
    assert set(rows[stored.handed]["follow_up_call_ids"].split()) == {
        stored.specialist_leg,
        stored.customer_leg,
    }


async def test_the_summary_counts_return_and_specialist_calls_with_formulas(
    client: Client, db: Database
) -> None:
    await _store(db)
    token = await create_token(db, "ops")
    status, body = await _get(client, f"/api/metrics/summary?{DAY}", token)
    assert status == 200, body
    got = {name: body["figures"][name]["value"] for name in body["figures"]}
    assert (
        got["return_calls_placed"],
        got["return_calls_reached"],
        got["return_calls_operator_answered"],
        got["return_call_operator_rate"],
    ) == (1, 1, 1, 1.0)
    assert (
        got["specialist_calls_placed"],
        got["specialist_calls_within_due"],
        got["specialist_calls_late"],
        got["specialist_within_due_rate"],
    ) == (1, 1, 1, 0.5)
    assert "= 1 / 2" in body["figures"]["specialist_within_due_rate"]["formula"]
    # Another day has none of them.
    status, other = await _get(
        client, "/api/metrics/summary?from=2026-11-24T00:00:00%2B08:00", token
    )
    assert other["figures"]["return_calls_placed"]["value"] == 0
    assert other["figures"]["specialist_calls_late"]["value"] == 0


async def test_the_qa_list_links_a_return_call_to_its_original_call(
    client: Client, db: Database
) -> None:
    stored = await _store(db)
    token = await create_token(db, "qa")
    status, page = await _get(client, "/qa?from=2026-11-23&to=2026-11-23", token)
    assert status == 200
    assert f'rel="original" href="/qa/calls/{stored.abandoned}"' in page
    assert f'rel="follow-up" href="/qa/calls/{stored.return_call}"' in page
    status, detail = await _get(client, f"/calls/{stored.handed}", token)
    assert status == 200
    assert f'rel="follow-up" href="/calls/{stored.customer_leg}"' in detail


async def test_an_operator_first_return_call_counts_as_answered_by_an_operator(
    client: Client, db: Database
) -> None:
    # Its measured call has no queue part (no extra.return_call): the attempt's operator does.
    request = CallbackRequest("13900139011", None, "abandoned_call", MONDAY)
    await create_callback(db, request, CONFIG, MONDAY)
    [attempt] = await claim_due(db, MONDAY, limit=1, pbx_id="pbx1", channel_id_for=channel_id_for)
    async with db.transaction("keep the operator") as session:
        await session.execute(
            update(CallbackAttemptRow)
            .where(CallbackAttemptRow.attempt_id == attempt.attempt_id)
            .values(operator_first="PJSIP/op001")
        )
    answered = MONDAY + timedelta(seconds=6)
    result = AttemptResult(outcome="connected", answered_at=answered, recording=_recording(3))
    await finish_attempt(
        db, attempt.attempt_id, result, answered + timedelta(seconds=30), config=CONFIG
    )
    await save_outcome(db, _placed(attempt.channel_id, MONDAY, operator_id=None))
    token = await create_token(db, "ops")
    status, body = await _get(client, f"/api/metrics/summary?{DAY}", token)
    assert status == 200, body
    got = {name: body["figures"][name]["value"] for name in body["figures"]}
    assert (
        got["return_calls_placed"],
        got["return_calls_reached"],
        got["return_calls_operator_answered"],
    ) == (1, 1, 1)
    assert "operator_first" in body["figures"]["return_calls_operator_answered"]["formula"]
