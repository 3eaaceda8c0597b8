"""The callbacks API against a real PostgreSQL: roles, strict validation, create and read."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from ivr_agent.app import build_app
from ivr_agent.callbacks import callback_config
from ivr_agent.callbacks.attempts import AttemptResult, claim_due, finish_attempt
from ivr_agent.core.callbacks import CallbackConfig, schedule
from ivr_agent.db.database import Database
from ivr_agent.db.tokens import create_token
from ivr_agent.recordings.files import RecordingFile
from ivr_agent.settings import load_settings

pytestmark = pytest.mark.postgres

Client = TestClient[web.Request, web.Application]
SCORES = {"skill": 5, "attitude": 5, "timeliness": 4, "parts": 3, "overall": 4}


@pytest.fixture
async def client(
    db: Database, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> Client:
    settings = load_settings(_env_file=None, timezone="Asia/Shanghai")
    return await aiohttp_client(build_app(settings, database=db))


@pytest.fixture
async def ops(db: Database) -> str:
    return await create_token(db, "ops")


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def _post(client: Client, token: str | None, body: Any, raw: bool = False) -> tuple[int, Any]:
    kwargs: dict[str, Any] = {"data": body} if raw else {"json": body}
    async with client.post("/api/callbacks", headers=_headers(token), **kwargs) as response:
        return response.status, await response.json()


async def _get(client: Client, path: str, token: str) -> tuple[int, Any]:
    async with client.get(path, headers=_headers(token)) as response:
        return response.status, await response.json()


def _soon() -> str:
    return (datetime.now(UTC) - timedelta(minutes=5)).isoformat()


def _body(**changes: Any) -> dict[str, Any]:
    body = {
        "customer_number": "+8613800138000",
        "customer_name": "张三",
        "reason": "service_completed",
        "reference_time": _soon(),
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


async def test_given_roles_then_ops_and_admin_create_qa_reads_only(
    client: Client, db: Database
) -> None:
    qa, admin, ops = [await create_token(db, role) for role in ("qa", "admin", "ops")]
    assert (await _post(client, None, _body()))[0] == 401
    status, body = await _post(client, qa, _body())
    assert (status, body["error"]["error_id"]) == (403, "forbidden")
    for token in (ops, admin):
        status, body = await _post(client, token, _body())
        assert status == 201, body
    status, listed = await _get(client, "/api/callbacks", qa)
    assert status == 200
    assert len(listed["callbacks"]) == 2


async def test_given_a_service_callback_then_201_and_it_reads_back(
    client: Client, ops: str, db: Database
) -> None:
    now = datetime.now(UTC)
    status, created = await _post(client, ops, _body(reference_time=now.isoformat()))
    assert status == 201, created
    assert set(created) >= {"callback_id", "due_at", "deadline"}
    due, deadline = (datetime.fromisoformat(created[k]) for k in ("due_at", "deadline"))
    assert due >= now - timedelta(seconds=1)
    # 3 hours of working time (S5): the rule's own result for this moment, whatever the hour.
    config = callback_config(load_settings(_env_file=None, timezone="Asia/Shanghai"))
    assert deadline == schedule("service_completed", now, now, config).deadline
    assert deadline >= now + timedelta(hours=3)
    assert created["deadline"].endswith("+08:00")  # rendered in the call centre's zone

    status, one = await _get(client, f"/api/callbacks/{created['callback_id']}", ops)
    assert status == 200
    assert one["customer_number"] == "+8613800138000"
    assert one["customer_name"] == "张三"
    assert (one["status"], one["attempts_made"], one["attempts"]) == ("pending", 0, [])
    assert one["due_at"] == created["due_at"]
    async with db.engine.connect() as conn:
        audit = (await conn.execute(text("SELECT actor, action, object FROM audit_log"))).one()
    assert tuple(audit) == ("role:ops", "callback.create", created["callback_id"])


async def test_given_a_finished_survey_then_get_shows_scores_index_and_recording(
    client: Client, ops: str, db: Database
) -> None:
    status, created = await _post(client, ops, _body(reason="manual", reference_time=...))
    assert status == 201
    due = datetime.fromisoformat(created["due_at"])
    [attempt] = await claim_due(db, due, limit=1, pbx_id="pbx1", channel_id_for=lambda a: f"cb-{a}")
    recording = RecordingFile("f" * 32, "recordings/ff/" + "f" * 32 + ".wav", "0" * 64, 80044, 5.0)
    await finish_attempt(
        db,
        attempt.attempt_id,
        AttemptResult("completed", due + timedelta(seconds=5), SCORES, recording),
        due + timedelta(seconds=60),
        config=CallbackConfig(),
    )
    status, one = await _get(client, f"/api/callbacks/{created['callback_id']}", ops)
    assert status == 200
    assert (one["status"], one["outcome"]) == ("completed", "completed")
    assert one["scores"] == SCORES
    assert one["satisfaction_index"] == pytest.approx(4.2)
    assert one["recording"] == {
        "recording_id": "f" * 32,
        "seconds": 5.0,
        "sha256": "0" * 64,
        "status": "ok",
        "reason": None,
    }
    assert [a["attempt_no"] for a in one["attempts"]] == [1]
    status, listed = await _get(client, "/api/callbacks?status=completed", ops)
    assert [c["callback_id"] for c in listed["callbacks"]] == [created["callback_id"]]
    status, listed = await _get(client, "/api/callbacks?status=pending", ops)
    assert listed["callbacks"] == []


BAD_BODIES = [
    (_body(customer_number="13800138000\r\nAction: Command"), "customer_number"),
    (_body(customer_number="13800138000\n"), "customer_number"),
    (_body(customer_number="138&00138000"), "customer_number"),
    (_body(customer_number="138OO138000"), "customer_number"),
    (_body(customer_number="1234"), "customer_number"),
    (_body(customer_number="1" * 21), "customer_number"),
    (_body(customer_number=13800138000), "customer_number"),
    (_body(customer_number=...), "customer_number"),
    (_body(customer_name="张\r\n三"), "customer_name"),
    (_body(customer_name="x" * 65), "customer_name"),
    (_body(customer_name=["张三"]), "customer_name"),
    (_body(reason="whenever"), "reason"),
    (_body(reason=None), "reason"),
    (_body(reference_time="yesterday"), "reference_time"),
    (_body(reference_time=1763863200), "reference_time"),
    (_body(reference_time=...), "reference_time"),
    (_body(reference_time="2020-01-01T10:00:00+08:00"), "reference_time"),
    ({**_body(), "priority": "high"}, "priority"),
    (["13800138000"], "body"),
    # A specialist call-back (S8): kind specialist with the specialist's id, no reason.
    (_body(reason=..., kind="specialist"), "operator_id"),
    (_body(kind="specialist", operator_id="012"), "reason"),
    (_body(reason=..., kind="specialist", operator_id="01a"), "operator_id"),
    (_body(reason=..., kind="survey", operator_id="012"), "kind"),
    (_body(operator_id="012"), "operator_id"),
    (_body(reason="queue_callback"), "reason"),
    # The PBX it is dialled through: an IVR_AGENT_PBX_ID's form.
    (_body(pbx_id="pbx one"), "pbx_id"),
    (_body(pbx_id=""), "pbx_id"),
    (_body(pbx_id="p" * 33), "pbx_id"),
    (_body(pbx_id=7), "pbx_id"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
async def test_given_a_bad_body_then_400_names_the_field_and_nothing_is_stored(
    client: Client, ops: str, db: Database, body: Any, field: str
) -> None:
    status, answer = await _post(client, ops, body)
    assert status == 400, answer
    assert answer["error"]["details"]["field"] == field
    assert answer["error"]["message"].startswith(field)
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM callbacks"))).scalar() == 0


async def test_given_a_specialist_call_back_then_due_now_deadline_three_minutes_later(
    client: Client, ops: str, db: Database
) -> None:
    body = _body(reason=..., reference_time=..., kind="specialist", operator_id="012")
    status, created = await _post(client, ops, body)
    assert status == 201, created
    due = datetime.fromisoformat(created["due_at"])
    deadline = datetime.fromisoformat(created["deadline"])
    assert (deadline - due).total_seconds() == pytest.approx(180, abs=1)
    assert abs((due - datetime.now(UTC)).total_seconds()) < 5  # whatever the windows
    status, read = await _get(client, f"/api/callbacks/{created['callback_id']}", ops)
    assert status == 200
    assert (read["kind"], read["reason"]) == ("specialist", "specialist")
    assert read["specialist"] == {
        "operator_id": "012",
        "reached_at": None,
        "late_seconds": None,
        "breach": None,
    }


async def test_given_a_pbx_or_none_then_the_callback_is_that_pbxs_or_the_serving_agents(
    client: Client, ops: str
) -> None:
    status, other = await _post(client, ops, _body(pbx_id="pbx-b"))
    assert status == 201, other
    status, own = await _post(client, ops, _body(customer_number="13800138001"))
    assert status == 201, own
    status, listed = await _get(client, "/api/callbacks", ops)
    assert status == 200
    pbx_of = {c["callback_id"]: c["pbx_id"] for c in listed["callbacks"]}
    # The serving agent's settings leave IVR_AGENT_PBX_ID at its default.
    assert pbx_of == {other["callback_id"]: "pbx-b", own["callback_id"]: "pbx1"}
    async with client.get(
        "/api/callbacks", params={"format": "csv"}, headers=_headers(ops)
    ) as response:
        exported = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert exported[0][-1] == "pbx_id"
    assert sorted(row[-1] for row in exported[1:]) == ["pbx-b", "pbx1"]
    status, only_b = await _get(client, "/api/callbacks?pbx_id=pbx-b", ops)
    assert status == 200, only_b
    assert [c["callback_id"] for c in only_b["callbacks"]] == [other["callback_id"]]
    status, bad = await _get(client, "/api/callbacks?pbx_id=pbx%20b", ops)
    assert (status, bad["error"]["details"]["field"]) == (400, "pbx_id")


@pytest.mark.parametrize("raw", ["not json", '{"customer_number": ', "", "\xff"])
async def test_given_a_body_that_is_not_json_then_400_names_the_body(
    client: Client, ops: str, raw: str
) -> None:
    status, answer = await _post(client, ops, raw.encode("latin-1"), raw=True)
    assert (status, answer["error"]["details"]["field"]) == (400, "body")


async def test_given_a_naive_reference_time_then_it_is_read_in_the_call_centre_zone(
    client: Client, ops: str
) -> None:
    local = datetime.now(UTC).astimezone(load_settings(_env_file=None).zone)
    naive = local.replace(tzinfo=None).isoformat()
    status, created = await _post(client, ops, _body(reason="manual", reference_time=naive))
    assert status == 201
    assert datetime.fromisoformat(created["due_at"]) >= local - timedelta(seconds=1)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=lost", "status"),
        ("follow_up=yes", "follow_up"),
        ("from=soon", "from"),
        ("to=2026-13-01", "to"),
        ("from=2026-11-24&to=2026-11-23", "to"),
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("offset=-1", "offset"),
        ("sort=due", "sort"),
    ],
)
async def test_given_bad_list_parameters_then_400_names_them(
    client: Client, ops: str, query: str, field: str
) -> None:
    status, answer = await _get(client, f"/api/callbacks?{query}", ops)
    assert (status, answer["error"]["details"]["field"]) == (400, field)


async def test_given_unknown_ids_then_404(client: Client, ops: str) -> None:
    for callback_id in ("00000000-0000-0000-0000-000000000000", "not-an-id", "..%2f..%2fetc"):
        status, answer = await _get(client, f"/api/callbacks/{callback_id}", ops)
        assert (status, answer["error"]["error_id"]) == (404, "callback_not_found")


async def test_given_many_callbacks_then_the_list_pages_by_due_time(
    client: Client, ops: str
) -> None:
    now = datetime.now(UTC)
    for hours in (50, 30, 40):  # complaint callbacks due about 24 h after these references
        status, _ = await _post(
            client,
            ops,
            _body(
                reason="complaint_resolved",
                reference_time=(now - timedelta(hours=hours)).isoformat(),
            ),
        )
        assert status == 201
    status, first = await _get(client, "/api/callbacks?limit=2", ops)
    assert status == 200
    dues = [c["due_at"] for c in first["callbacks"]]
    assert first["next_offset"] == 2
    status, rest = await _get(client, "/api/callbacks?limit=2&offset=2", ops)
    assert rest["next_offset"] is None
    dues += [c["due_at"] for c in rest["callbacks"]]
    assert len(dues) == 3
    assert [datetime.fromisoformat(d) for d in dues] == sorted(
        datetime.fromisoformat(d) for d in dues
    )
