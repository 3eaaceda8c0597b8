"""Complaints (投诉, S7) through the API against a real PostgreSQL: registering (by a
supervisor, by an operator for its own call, and automatically from a call record of type
complaint), the transitions with their timeline and audit rows, 409 naming the state for an
illegal transition and 400 naming the field for a bad body — with nothing stored on either —
the resolved complaint's 24–72 h callback, and the list's filters."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select, text, update

from ivr_agent.app import build_app
from ivr_agent.calls.store import save_outcome
from ivr_agent.db.database import Database
from ivr_agent.db.models import AuditLogRow, CallbackRow, ComplaintRow
from ivr_agent.db.tokens import create_token
from ivr_agent.notify import Contacts, Department, Directory
from ivr_agent.platform.keys import DIRECTORY as COMPLAINT_DIRECTORY
from ivr_agent.settings import load_settings
from tests.support.outcomes import sample_outcome

pytestmark = pytest.mark.postgres

Client = TestClient[web.Request, web.Application]

DIRECTORY = Directory(
    departments={
        "billing": Department(
            "billing",
            "Billing 计费部",
            Contacts(emails=("billing@example.test",)),
            Contacts(emails=("billing-head@example.test",)),
        ),
        "network": Department("network", "Network", Contacts(webhook="http://h/x"), Contacts()),
    },
    quality=Contacts(emails=("quality@example.test",)),
)
COMPLAINT = {"summary": "账单多扣费", "customer_number": "13900139000", "customer_name": "王女士"}


@pytest.fixture
async def client(
    db: Database, tmp_path: Path, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> Client:
    settings = load_settings(_env_file=None, data_dir=tmp_path / "var")
    app = build_app(settings, database=db)
    app[COMPLAINT_DIRECTORY] = DIRECTORY
    return await aiohttp_client(app)


@pytest.fixture
async def ops(db: Database) -> str:
    return await create_token(db, "ops")


async def _send(
    client: Client, method: str, path: str, token: str | None, body: Any = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with client.request(method, path, json=body, headers=headers) as response:
        return response.status, await response.json()


async def _count(db: Database, table: str) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def _register(client: Client, token: str, **changes: Any) -> dict[str, Any]:
    status, body = await _send(client, "POST", "/api/complaints", token, COMPLAINT | changes)
    assert status == 201, body
    return body  # type: ignore[no-any-return]


async def _move(client: Client, token: str, complaint_id: str, **body: Any) -> tuple[int, Any]:
    return await _send(client, "POST", f"/api/complaints/{complaint_id}/events", token, body)


async def test_given_a_complaint_then_it_is_registered_with_its_timeline_and_audit(
    client: Client, db: Database, ops: str
) -> None:
    body = await _register(client, ops, department_id="billing", note="电话登记")
    assert body["state"] == "assigned"
    assert body["department_id"] == "billing"
    assert [e["kind"] for e in body["timeline"]] == ["registered", "assigned"]
    assert body["timeline"][0]["note"] == "电话登记"
    assert body["overdue"] is False
    status, read = await _send(client, "GET", f"/api/complaints/{body['complaint_id']}", ops)
    assert status == 200
    assert read == body
    async with db.transaction("audit") as session:
        actions = list(
            await session.scalars(
                select(AuditLogRow.action).where(AuditLogRow.object == body["complaint_id"])
            )
        )
    assert actions == ["complaint.register"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"summary": "   "}, "summary"),
        ({"summary": None}, "summary"),
        ({"customer_number": "12ab"}, "customer_number"),
        ({"call_id": "not-a-uuid"}, "call_id"),
        ({"call_id": "9f0c0f5e-0000-4000-8000-000000000000"}, "call_id"),
        ({"department_id": "sales"}, "department_id"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_given_a_bad_complaint_then_400_names_the_field_and_nothing_is_stored(
    client: Client, db: Database, ops: str, change: dict[str, Any], field: str
) -> None:
    status, body = await _send(client, "POST", "/api/complaints", ops, COMPLAINT | change)
    assert status == 400, body
    assert body["error"]["details"]["field"] == field
    assert await _count(db, "complaints") == 0
    assert await _count(db, "complaint_events") == 0


async def test_given_the_life_of_a_complaint_then_each_step_is_on_the_timeline(
    client: Client, db: Database, ops: str
) -> None:
    complaint_id = (await _register(client, ops))["complaint_id"]
    status, body = await _move(client, ops, complaint_id, transition="assign")
    assert (status, body["error"]["details"]["field"]) == (400, "department_id")
    status, body = await _move(
        client, ops, complaint_id, transition="assign", department_id="billing", note="转计费部"
    )
    assert (status, body["state"]) == (201, "assigned")
    status, body = await _move(client, ops, complaint_id, transition="feedback", note="在查")
    assert (status, body["state"]) == (201, "assigned")
    before = datetime.now(UTC)
    status, body = await _move(client, ops, complaint_id, transition="resolve", note="已退款")
    assert (status, body["state"]) == (201, "resolved")
    assert body["resolved_at"] is not None
    assert [e["kind"] for e in body["timeline"]] == [
        "registered",
        "assigned",
        "feedback",
        "resolved",
    ]
    assert body["timeline"][2]["note"] == "在查"
    # Resolved: the complaint_resolved callback is scheduled, 24–72 h on (S7).
    callback_id = body["callback_id"]
    assert body["timeline"][-1]["details"]["callback_id"] == callback_id
    async with db.transaction("callback") as session:
        callback = await session.get(CallbackRow, callback_id)
    assert callback is not None
    assert (callback.reason, callback.customer_number) == ("complaint_resolved", "13900139000")
    assert callback.due_at >= before + timedelta(hours=24)
    assert callback.deadline <= datetime.now(UTC) + timedelta(hours=72)
    async with db.transaction("audit") as session:
        actions = list(
            await session.scalars(
                select(AuditLogRow.action)
                .where(AuditLogRow.object == complaint_id)
                .order_by(AuditLogRow.audit_id)
            )
        )
    assert actions == [
        "complaint.register",
        "complaint.assign",
        "complaint.feedback",
        "complaint.resolve",
    ]
    status, body = await _move(client, ops, complaint_id, transition="reopen", note="客户不认")
    assert (status, body["state"]) == (201, "reopened")


async def test_given_an_illegal_transition_then_409_names_the_state_and_nothing_changes(
    client: Client, db: Database, ops: str
) -> None:
    complaint_id = (await _register(client, ops))["complaint_id"]
    events = await _count(db, "complaint_events")
    audits = await _count(db, "audit_log")
    status, body = await _move(client, ops, complaint_id, transition="resolve", note="x")
    assert status == 409
    assert body["error"]["details"] == {"state": "registered", "transition": "resolve"}
    assert "registered" in body["error"]["message"]
    status, body = await _move(client, ops, complaint_id, transition="close")
    assert (status, body["error"]["details"]["field"]) == (400, "transition")
    status, body = await _move(
        client, ops, complaint_id, transition="feedback", department_id="billing"
    )
    assert (status, body["error"]["details"]["field"]) == (400, "department_id")
    assert (await _count(db, "complaint_events"), await _count(db, "audit_log")) == (
        events,
        audits,
    )
    status, _ = await _move(client, ops, "9f0c0f5e-0000-4000-8000-000000000000", transition="x")
    assert status == 400
    status, _ = await _move(
        client, ops, "9f0c0f5e-0000-4000-8000-000000000000", transition="feedback"
    )
    assert status == 404


async def test_given_a_call_record_of_type_complaint_then_its_complaint_opens_once(
    client: Client, db: Database
) -> None:
    start = datetime.now(UTC) - timedelta(minutes=5)
    call_id = await save_outcome(db, sample_outcome("15.1", start=start))
    operator = await create_token(db, "operator", operator_id="007")
    record = {"type": "complaint", "summary": "排队太久", "contact_name": "李先生"}
    status, body = await _send(client, "POST", f"/api/calls/{call_id}/record", operator, record)
    assert status == 201, body
    record_id = body["record"]["record_id"]
    # A correction (still a complaint) opens no second one.
    status, _ = await _send(client, "POST", f"/api/calls/{call_id}/record", operator, record)
    assert status == 201
    async with db.transaction("complaints") as session:
        rows = list(await session.scalars(select(ComplaintRow)))
    assert len(rows) == 1
    complaint = rows[0]
    assert (str(complaint.call_id), str(complaint.record_id)) == (call_id, record_id)
    assert (complaint.summary, complaint.state) == ("排队太久", "registered")
    assert (complaint.customer_number, complaint.customer_name) == ("13800138000", "李先生")
    # The API refuses a second complaint for the same call.
    ops = await create_token(db, "ops")
    status, body = await _send(
        client, "POST", "/api/complaints", ops, {"summary": "again", "call_id": call_id}
    )
    assert status == 409
    assert body["error"]["details"]["complaint_id"] == str(complaint.complaint_id)


async def test_given_an_operator_then_it_registers_for_its_own_calls_and_acts_on_none(
    client: Client, db: Database
) -> None:
    start = datetime.now(UTC) - timedelta(minutes=5)
    own = await save_outcome(db, sample_outcome("15.2", start=start))
    other = await save_outcome(db, sample_outcome("15.3", start=start, operator_id="008"))
    operator = await create_token(db, "operator", operator_id="007")
    status, body = await _send(
        client, "POST", "/api/complaints", operator, {"summary": "态度差", "call_id": own}
    )
    assert status == 201, body
    # The call's caller is the contact when none is given.
    assert body["customer_number"] == "13800138000"
    # Its record of type complaint, entered afterwards, opens none but is linked to it.
    record = {"type": "complaint", "summary": "态度差"}
    status, written = await _send(client, "POST", f"/api/calls/{own}/record", operator, record)
    assert status == 201
    async with db.transaction("complaints") as session:
        (row,) = list(await session.scalars(select(ComplaintRow)))
    assert str(row.record_id) == written["record"]["record_id"]
    status, refused = await _send(
        client, "POST", "/api/complaints", operator, {"summary": "x", "call_id": other}
    )
    assert (status, refused["error"]["details"]["field"]) == (400, "call_id")
    status, _ = await _move(client, operator, body["complaint_id"], transition="feedback")
    assert status == 403
    status, _ = await _send(client, "GET", "/api/complaints", operator)
    assert status == 403


async def test_given_complaints_then_the_list_filters_them(
    client: Client, db: Database, ops: str
) -> None:
    billing = (await _register(client, ops, department_id="billing"))["complaint_id"]
    network = (await _register(client, ops, department_id="network"))["complaint_id"]
    fresh = (await _register(client, ops))["complaint_id"]
    # The network complaint has waited 4 days and was escalated.
    async with db.transaction("age") as session:
        await session.execute(
            update(ComplaintRow)
            .where(ComplaintRow.complaint_id == network)
            .values(
                silent_since=datetime.now(UTC) - timedelta(days=4),
                escalated_at=datetime.now(UTC),
            )
        )

    async def ids(query: str) -> list[str]:
        status, body = await _send(client, "GET", f"/api/complaints{query}", ops)
        assert status == 200, body
        return [c["complaint_id"] for c in body["complaints"]]

    assert await ids("") == [fresh, network, billing]
    assert await ids("?department=billing") == [billing]
    assert await ids("?state=registered") == [fresh]
    assert await ids("?overdue=true") == [network]
    assert await ids("?escalated=false") == [fresh, billing]
    assert await ids("?limit=1&offset=1") == [network]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert await ids(f"?from={tomorrow.replace('+', '%2B')}") == []
    for query, field in (
        ("?state=open", "state"),
        ("?overdue=yes", "overdue"),
        ("?from=yesterday", "from"),
        ("?limit=0", "limit"),
        ("?colour=red", "colour"),
    ):
        status, body = await _send(client, "GET", f"/api/complaints{query}", ops)
        assert (status, body["error"]["details"]["field"]) == (400, field)
    status, body = await _send(client, "GET", "/api/complaints/nope", ops)
    assert status == 404


async def test_given_two_registrations_of_one_call_at_once_then_one_wins_and_one_is_409(
    client: Client, db: Database, ops: str
) -> None:
    start = datetime.now(UTC) - timedelta(minutes=5)
    call_id = await save_outcome(db, sample_outcome("15.4", start=start))
    body = {"summary": "重复登记", "call_id": call_id}
    answers = await asyncio.gather(
        *(_send(client, "POST", "/api/complaints", ops, body) for _ in range(4))
    )
    statuses = sorted(status for status, _ in answers)
    assert statuses == [201, 409, 409, 409]
    assert await _count(db, "complaints") == 1
