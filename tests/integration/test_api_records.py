"""Call records (来电记录, S7–S8) against a real PostgreSQL: create and correct through the API,
validation naming the field, operator isolation, unanswered calls, the audit trail,
immutability, and late_wrap_up in the summary, the breaches list and the QA filter, equal to
a count done by hand."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select, text, update

from ivr_agent.app import build_app
from ivr_agent.calls.store import save_outcome
from ivr_agent.core.outcome import CallOutcome
from ivr_agent.db.database import Database
from ivr_agent.db.errors import StoreError
from ivr_agent.db.models import AuditLogRow, CallRecordRow, CallRow
from ivr_agent.db.tokens import create_token
from ivr_agent.qa.listing import QaFilter, qa_calls
from ivr_agent.settings import load_settings
from tests.support.outcomes import sample_outcome

pytestmark = pytest.mark.postgres

Client = TestClient[web.Request, web.Application]
RECORD = {"type": "consultation", "summary": "问账单", "result": "已解答", "status": "done"}


@pytest.fixture
async def client(
    db: Database, tmp_path: Path, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> Client:
    settings = load_settings(_env_file=None, data_dir=tmp_path / "var")
    return await aiohttp_client(build_app(settings, database=db))


def ended_ago(linkedid: str, minutes: float, **changes: Any) -> CallOutcome:
    """A sample answered call (operator 007) that ended ``minutes`` ago."""
    start = datetime.now(UTC) - timedelta(minutes=minutes, seconds=200.000001)
    return sample_outcome(linkedid, start=start, **changes)


@pytest.fixture
async def call_id(db: Database) -> str:
    return await save_outcome(db, ended_ago("2.1", 2))


async def _post(client: Client, path: str, token: str | None, body: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with client.post(path, json=body, headers=headers) as response:
        return response.status, await response.json()


async def _get(client: Client, path: str, token: str | None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with client.get(path, headers=headers) as response:
        return response.status, await response.json()


async def _count(db: Database, table: str) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def test_given_a_record_then_version_1_with_the_calls_defaults_and_an_audit_row(
    client: Client, db: Database, call_id: str
) -> None:
    operator = await create_token(db, "operator", operator_id="007")
    status, body = await _post(client, f"/api/calls/{call_id}/record", operator, RECORD)
    assert status == 201, body
    record = body["record"]
    assert record["version"] == 1
    assert record["supersedes"] is None
    assert (record["type"], record["summary"], record["status"]) == (
        "consultation",
        "问账单",
        "done",
    )
    # Left out: the call's operator follows up, and the caller's number is the contact.
    assert record["follow_up_owner"] == "007"
    assert record["contact_number"] == "13800138000"
    assert record["entered_role"] == "operator"
    assert body["wrap_up"]["first_entered_at"] == record["created_at"]
    assert body["wrap_up"]["late"] is False
    async with db.transaction("read audit") as session:
        audit = list(
            await session.scalars(select(AuditLogRow).where(AuditLogRow.object == call_id))
        )
    assert [(a.action, a.actor, a.details["version"]) for a in audit] == [
        ("call.record", record["entered_by"], 1)
    ]
    status, read = await _get(client, f"/api/calls/{call_id}/record", operator)
    assert status == 200
    assert read["record"] == record


async def test_given_a_record_then_a_correction_is_version_2_and_keeps_the_first_time(
    client: Client, db: Database, call_id: str
) -> None:
    operator = await create_token(db, "operator", operator_id="007")
    path = f"/api/calls/{call_id}/record"
    _, first = await _post(client, path, operator, RECORD)
    v1 = first["record"]
    changed = {
        **RECORD,
        "type": "complaint",
        "status": "in_progress",
        "supersedes": v1["record_id"],
    }
    status, body = await _post(client, path, operator, changed)
    assert status == 201, body
    assert body["record"]["version"] == 2
    assert body["record"]["supersedes"] == v1["record_id"]
    assert [r["superseded"] for r in body["history"]] == [True, False]
    assert body["history"][0]["type"] == "consultation"  # the first wording is kept
    assert body["wrap_up"]["first_entered_at"] == v1["created_at"]
    # Naming a version that is no longer the latest is a conflict, and stores nothing.
    status, stale = await _post(client, path, operator, {**RECORD, "supersedes": v1["record_id"]})
    assert status == 409
    assert stale["error"]["details"]["field"] == "supersedes"
    # Without supersedes, a write goes on top of the latest.
    status, third = await _post(client, path, operator, RECORD)
    assert (status, third["record"]["version"]) == (201, 3)
    assert await _count(db, "call_records") == 3
    audit_actions = await _count(db, "audit_log WHERE action = 'call.record'")
    assert audit_actions == 3


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "chat"}, "type"),
        ({"type": None}, "type"),
        ({"summary": "   "}, "summary"),
        ({"summary": 5}, "summary"),
        ({"summary": "x" * 4001}, "summary"),
        ({"status": "closed"}, "status"),
        ({"contact_number": "12ab5"}, "contact_number"),
        ({"contact_number": "1234"}, "contact_number"),
        ({"expected_completion": "2026-12-04T10:00"}, "expected_completion"),  # no zone
        ({"expected_completion": "soon"}, "expected_completion"),
        ({"follow_up_owner": "x" * 101}, "follow_up_owner"),
        ({"supersedes": "not-an-id"}, "supersedes"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_given_a_bad_field_then_400_naming_it_and_nothing_stored(
    client: Client, db: Database, call_id: str, change: dict[str, Any], field: str
) -> None:
    admin = await create_token(db, "admin")
    status, body = await _post(client, f"/api/calls/{call_id}/record", admin, {**RECORD, **change})
    assert status == 400, body
    assert body["error"]["details"]["field"] == field
    assert await _count(db, "call_records") == 0


async def test_given_a_missing_summary_then_400_naming_it(
    client: Client, db: Database, call_id: str
) -> None:
    admin = await create_token(db, "admin")
    status, body = await _post(client, f"/api/calls/{call_id}/record", admin, {"type": "business"})
    assert status == 400
    assert body["error"]["details"]["field"] == "summary"


async def test_given_roles_then_operators_see_and_write_only_their_own_calls(
    client: Client, db: Database, call_id: str
) -> None:
    path = f"/api/calls/{call_id}/record"
    own = await create_token(db, "operator", operator_id="007")
    other = await create_token(db, "operator", operator_id="008")
    ops = await create_token(db, "ops")
    qa = await create_token(db, "qa")
    admin = await create_token(db, "admin")
    assert (await _post(client, path, None, RECORD))[0] == 401
    # Another operator's call does not exist for it: 404, not 403.
    assert (await _post(client, path, other, RECORD))[0] == 404
    assert (await _get(client, path, other))[0] == 404
    # ops and qa read; only operators (their calls) and admin write.
    assert (await _post(client, path, ops, RECORD))[0] == 403
    assert (await _post(client, path, qa, RECORD))[0] == 403
    assert (await _post(client, path, own, RECORD))[0] == 201
    assert (await _post(client, path, admin, RECORD))[0] == 201
    for token in (ops, qa, own, admin):
        status, body = await _get(client, path, token)
        assert (status, body["record"]["version"]) == (200, 2)
    assert await _count(db, "call_records") == 2


async def test_given_an_unanswered_call_then_409_and_an_unknown_call_404(
    client: Client, db: Database
) -> None:
    admin = await create_token(db, "admin")
    abandoned = await save_outcome(
        db,
        ended_ago(
            "2.9",
            1,
            operator_id=None,
            answered_at=None,
            answered_within_standard=None,
            abandoned=True,
            talk_seconds=None,
        ),
    )
    status, body = await _post(client, f"/api/calls/{abandoned}/record", admin, RECORD)
    assert status == 409
    assert body["error"]["error_id"] == "not_answered"
    unknown = str(uuid.uuid4())
    assert (await _post(client, f"/api/calls/{unknown}/record", admin, RECORD))[0] == 404
    assert (await _get(client, f"/api/calls/{unknown}/record", admin))[0] == 404
    assert (await _post(client, "/api/calls/not-a-uuid/record", admin, RECORD))[0] == 404
    assert await _count(db, "call_records") == 0


async def test_given_a_stored_record_then_the_database_refuses_to_change_it(
    client: Client, db: Database, call_id: str
) -> None:
    admin = await create_token(db, "admin")
    assert (await _post(client, f"/api/calls/{call_id}/record", admin, RECORD))[0] == 201
    with pytest.raises(StoreError):
        async with db.transaction("tamper") as session:
            await session.execute(text("UPDATE call_records SET summary = 'changed'"))
    with pytest.raises(StoreError):
        async with db.transaction("tamper") as session:
            await session.execute(text("DELETE FROM call_records"))


async def test_given_tokens_then_operator_ids_go_with_the_operator_role_only(db: Database) -> None:
    with pytest.raises(ValueError, match="operator-id"):
        await create_token(db, "operator")
    with pytest.raises(ValueError, match="only an operator token"):
        await create_token(db, "ops", operator_id="007")
    with pytest.raises(ValueError, match="operator-id"):
        await create_token(db, "operator", operator_id="0 7")


async def test_given_known_calls_then_late_wrap_ups_equal_a_count_by_hand(
    client: Client, db: Database
) -> None:
    now = datetime.now(UTC)
    # A: ended 30 min ago, record entered now → late (entered 30 min after hang-up).
    a = await save_outcome(db, ended_ago("3.1", 30))
    # B: ended 2 min ago, record entered now → in time.
    b = await save_outcome(db, ended_ago("3.2", 2))
    # C: ended 20 min ago, no record → late.
    c = await save_outcome(db, ended_ago("3.3", 20, operator_id="008"))
    # D: ended 5 min ago, no record → not late yet.
    d = await save_outcome(db, ended_ago("3.4", 5))
    # E: ended 40 min ago, entered 3 min after hang-up, corrected 35 min after: in time
    # (the first entry counts).
    e_outcome = ended_ago("3.5", 40)
    e = await save_outcome(db, e_outcome)
    # F: abandoned 30 min ago: no record expected, never late.
    await save_outcome(
        db,
        ended_ago(
            "3.6",
            30,
            operator_id=None,
            answered_at=None,
            answered_within_standard=None,
            abandoned=True,
            talk_seconds=None,
        ),
    )
    # G: a callback (survey) answered 30 min ago: no operator wraps it up.
    await save_outcome(db, ended_ago("3.7", 30, direction="callback"))
    # H: answered 50 min ago, stored before records existed (migration 0009 marks those
    # record_expected = false): nobody could enter its record, it is no late wrap-up.
    h = await save_outcome(db, ended_ago("3.8", 50))
    async with db.transaction("a call from before records") as session:
        await session.execute(
            update(CallRow).where(CallRow.call_id == h).values(record_expected=False)
        )
    admin = await create_token(db, "admin")
    for call in (a, b):
        assert (await _post(client, f"/api/calls/{call}/record", admin, RECORD))[0] == 201
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    async with db.transaction("records of E") as session:
        for version, record_id, supersedes, after in (
            (1, first, None, 3),
            (2, second, first, 35),
        ):
            session.add(
                CallRecordRow(
                    record_id=record_id,
                    call_id=e,
                    version=version,
                    supersedes=supersedes,
                    type="complaint",
                    summary="投诉",
                    status="open",
                    entered_by="test",
                    entered_role="admin",
                    created_at=e_outcome.ended_at + timedelta(minutes=after),
                )
            )
            await session.flush()
    late = {a, c}
    answered_inbound = 6  # A B C D E H
    ops = await create_token(db, "ops")
    window = (
        f"from={quote((now - timedelta(hours=2)).isoformat())}"
        f"&to={quote((now + timedelta(hours=1)).isoformat())}"
    )
    status, body = await _get(client, f"/api/metrics/summary?{window}", ops)
    assert status == 200, body
    figures = body["figures"]
    assert figures["answered"]["value"] == answered_inbound
    assert figures["late_wrap_ups"]["value"] == len(late)
    assert figures["late_wrap_up_rate"]["value"] == pytest.approx(round(2 / 6, 6))
    assert figures["late_wrap_up_rate"]["formula"] == "late_wrap_ups / answered = 2 / 6"
    assert body["settings"]["wrap_up_minutes"] == 10
    status, grouped = await _get(client, f"/api/metrics/summary?{window}&group_by=operator", ops)
    by_operator = {
        g["operator_id"]: g["figures"]["late_wrap_ups"]["value"] for g in grouped["groups"]
    }
    assert by_operator == {"007": 1, "008": 1, None: 0}
    status, body = await _get(client, f"/api/metrics/breaches?{window}&limit=50", ops)
    listed = {b["call_id"] for b in body["breaches"] if "late_wrap_up" in b["kinds"]}
    assert listed == late
    rows, total = await qa_calls(db, QaFilter(breach="late_wrap_up"), page=1, per_page=50)
    assert {r.call_id for r in rows} == late
    assert total == len(late)
    assert all("late_wrap_up" in r.breaches for r in rows)
    # A short wrap-up time makes D late too (it ended 5 min ago without a record).
    rows, _ = await qa_calls(
        db, QaFilter(breach="late_wrap_up", wrap_up=timedelta(minutes=4)), page=1, per_page=50
    )
    assert {r.call_id for r in rows} == {a, c, d}
    assert b not in {r.call_id for r in rows}
