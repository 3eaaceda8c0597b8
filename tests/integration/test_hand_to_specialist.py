""" "Hand to a specialist" on the call record (S8: 转接至专员), against a real PostgreSQL: the
record's ``specialist_id`` creates the specialist call-back — the callback
``POST /api/callbacks`` with ``kind: specialist`` would — for the record's contact, linked to
the call, once while it is open; a refused hand-over stores no record; the wrap-up form does
the same and shows it. And a specialist call-back not answered is dialled again within its
due time."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select, text

from ivr_agent.app import build_app
from ivr_agent.callbacks.attempts import AttemptResult, claim_due, finish_attempt
from ivr_agent.callbacks.dialing import channel_id_for
from ivr_agent.callbacks.jobs import CallbackRequest, create_callback
from ivr_agent.callbacks.queries import get_callback
from ivr_agent.calls.store import save_outcome
from ivr_agent.core.callbacks import CallbackConfig
from ivr_agent.db.database import Database
from ivr_agent.db.models import AuditLogRow, CallbackRow
from ivr_agent.db.tokens import create_session, create_token
from ivr_agent.settings import load_settings
from ivr_agent.web.auth import SESSION_COOKIE
from tests.support.outcomes import SHANGHAI, sample_outcome

pytestmark = pytest.mark.postgres

Client = TestClient[web.Request, web.Application]
RECORD = {"type": "business", "summary": "需要专员处理退款", "status": "in_progress"}


@pytest.fixture
async def client(
    db: Database, tmp_path: Path, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> Client:
    settings = load_settings(_env_file=None, data_dir=tmp_path / "var", specialist_due_seconds=120)
    return await aiohttp_client(build_app(settings, database=db))


@pytest.fixture
async def call_id(db: Database) -> str:
    start = datetime.now(UTC) - timedelta(minutes=4)
    return await save_outcome(db, sample_outcome("7.1", start=start))


async def _post(client: Client, path: str, token: str, body: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with client.post(path, json=body, headers=headers) as response:
        return response.status, await response.json()


async def _specialist_callbacks(db: Database) -> list[CallbackRow]:
    async with db.transaction("read") as session:
        rows = await session.scalars(
            select(CallbackRow)
            .where(CallbackRow.reason == "specialist")
            .order_by(CallbackRow.created_at)
        )
        return list(rows)


async def test_the_record_hands_the_call_to_a_specialist_once_while_it_is_open(
    client: Client, db: Database, call_id: str
) -> None:
    operator = await create_token(db, "operator", operator_id="007")
    before = datetime.now(UTC)
    status, body = await _post(
        client, f"/api/calls/{call_id}/record", operator, {**RECORD, "specialist_id": "012"}
    )
    assert status == 201, body
    (handed,) = body["specialist_callbacks"]
    assert (handed["operator_id"], handed["status"]) == ("012", "pending")
    (row,) = await _specialist_callbacks(db)
    # The API's specialist call-back: due at once, by the specialist's due time, for the
    # record's contact (the caller), linked to the call.
    assert (row.callback_id, row.operator_id, row.source_call_id) == (
        handed["callback_id"],
        "012",
        call_id,
    )
    assert row.customer_number == "13800138000"
    assert before <= row.reference_time <= datetime.now(UTC)
    assert row.deadline - row.reference_time == timedelta(seconds=120)
    assert row.due_at == row.reference_time
    stored = await get_callback(db, row.callback_id, SHANGHAI)
    assert stored is not None
    assert (stored["kind"], stored["specialist"]["operator_id"]) == ("specialist", "012")
    async with db.transaction("audit") as session:
        audit = await session.scalar(
            select(AuditLogRow).where(AuditLogRow.object == row.callback_id)
        )
    assert audit is not None
    assert (audit.action, audit.details["from"]) == ("callback.create", "call record")

    # A correction naming the same specialist while the call-back is open: no second call.
    latest = body["record"]["record_id"]
    status, again = await _post(
        client,
        f"/api/calls/{call_id}/record",
        operator,
        {**RECORD, "summary": "退款", "supersedes": latest, "specialist_id": "012"},
    )
    assert status == 201, again
    assert len(await _specialist_callbacks(db)) == 1
    assert [h["callback_id"] for h in again["specialist_callbacks"]] == [row.callback_id]
    # Another specialist is another hand-over.
    status, third = await _post(
        client,
        f"/api/calls/{call_id}/record",
        operator,
        {**RECORD, "specialist_id": "013", "contact_number": "13900139021"},
    )
    assert status == 201, third
    assert [h["operator_id"] for h in third["specialist_callbacks"]] == ["012", "013"]
    assert (await _specialist_callbacks(db))[1].customer_number == "13900139021"


async def test_a_bad_or_undialable_hand_over_names_the_field_and_stores_nothing(
    client: Client, db: Database
) -> None:
    start = datetime.now(UTC) - timedelta(minutes=4)
    withheld = await save_outcome(db, sample_outcome("7.2", start=start, caller_number=None))
    operator = await create_token(db, "operator", operator_id="007")
    status, body = await _post(
        client, f"/api/calls/{withheld}/record", operator, {**RECORD, "specialist_id": "12ab"}
    )
    assert status == 400
    assert body["error"]["details"]["field"] == "specialist_id"
    # No number to call back (withheld, none given): the hand-over and the record refused.
    status, body = await _post(
        client, f"/api/calls/{withheld}/record", operator, {**RECORD, "specialist_id": "012"}
    )
    assert status == 400, body
    assert body["error"]["details"]["field"] == "contact_number"
    async with db.engine.connect() as conn:
        for table in ("call_records", "callbacks"):
            count = (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
            assert count == 0, table


async def test_the_wrap_up_form_hands_over_and_shows_the_call_back(
    client: Client, db: Database, call_id: str
) -> None:
    token = await create_token(db, "operator", operator_id="007")
    started = await create_session(db, token)
    assert started is not None
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: started[0]})
    path = f"/calls/{call_id}/wrap-up"
    async with client.get(path) as response:
        page = await response.text()
    assert 'name="specialist_id"' in page
    found = re.search(r'name="form_token" value="([0-9a-f]{64})"', page)
    assert found is not None
    data = {**RECORD, "form_token": found[1], "specialist_id": "012"}
    async with client.post(path, data=data, allow_redirects=False) as response:
        assert response.status == 303
    (row,) = await _specialist_callbacks(db)
    async with client.get(path) as response:
        page = await response.text()
    assert f'data-callback-id="{row.callback_id}"' in page
    # The form does not offer the hand-over again as a value: saving again hands nothing.
    assert (
        'name="specialist_id" inputmode="numeric" maxlength="6" pattern="[0-9]{1,6}" value=""'
        in page
    )


async def test_a_specialist_call_back_not_answered_is_claimed_again_within_its_due_time(
    db: Database,
) -> None:
    # The dialer's view (S8): a failed attempt leaves the call-back pending, due again
    # IVR_AGENT_SPECIALIST_RETRY_SECONDS later; not claimed before, claimed then.
    config = CallbackConfig(specialist_retry_gap=timedelta(seconds=15))
    asked = datetime(2026, 11, 23, 10, 40, tzinfo=SHANGHAI)
    request = CallbackRequest("13900139021", None, "specialist", asked, operator_id="012")
    created = await create_callback(db, request, config, asked)
    [first] = await claim_due(db, asked, limit=1, pbx_id="pbx1", channel_id_for=channel_id_for)
    ended = asked + timedelta(seconds=40)
    following = await finish_attempt(
        db, first.attempt_id, AttemptResult(outcome="no_answer"), ended, config=config
    )
    assert (following.status, following.next_attempt_at) == (
        "pending",
        ended + timedelta(seconds=15),
    )
    soon = ended + timedelta(seconds=10)
    assert await claim_due(db, soon, limit=1, pbx_id="pbx1", channel_id_for=channel_id_for) == []
    at = ended + timedelta(seconds=15)
    [second] = await claim_due(db, at, limit=1, pbx_id="pbx1", channel_id_for=channel_id_for)
    assert (second.callback_id, second.attempt_no) == (created.callback_id, 2)
