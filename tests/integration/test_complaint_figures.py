"""The S7 figures against a real PostgreSQL: complaint rate, resolution rate, overdue and
escalated complaints in ``/api/metrics/summary`` (with their formulas) and the complaint
gauges on ``/metrics``, each equal to a count done by hand."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import update

from ivr_agent.app import build_app
from ivr_agent.calls.store import save_outcome
from ivr_agent.complaints.feature import CHASER
from ivr_agent.db.database import Database
from ivr_agent.db.models import ComplaintRow
from ivr_agent.db.tokens import create_token
from ivr_agent.notify import Contacts, Department, Directory
from ivr_agent.platform.keys import DIRECTORY as COMPLAINT_DIRECTORY
from ivr_agent.settings import load_settings
from tests.support.outcomes import sample_outcome

pytestmark = pytest.mark.postgres

Client = TestClient[web.Request, web.Application]
DIRECTORY = Directory(
    departments={"billing": Department("billing", "Billing", Contacts(), Contacts())}
)


@pytest.fixture
async def client(
    db: Database, tmp_path: Path, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> Client:
    settings = load_settings(_env_file=None, data_dir=tmp_path / "var", complaint_rate_target=0.03)
    app = build_app(settings, database=db)
    app[COMPLAINT_DIRECTORY] = DIRECTORY
    return await aiohttp_client(app)


async def _send(
    client: Client, method: str, path: str, token: str, body: Any = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with client.request(method, path, json=body, headers=headers) as response:
        return response.status, await response.json()


async def _move(client: Client, token: str, complaint_id: str, *moves: str) -> None:
    for move in moves:
        body = {"transition": move} | ({"department_id": "billing"} if move == "assign" else {})
        status, answer = await _send(
            client, "POST", f"/api/complaints/{complaint_id}/events", token, body
        )
        assert status == 201, answer


async def _set(db: Database, complaint_id: str, **values: Any) -> None:
    async with db.transaction("set") as session:
        await session.execute(
            update(ComplaintRow).where(ComplaintRow.complaint_id == complaint_id).values(**values)
        )


async def test_given_complaints_and_calls_then_the_figures_equal_a_count_by_hand(
    client: Client, db: Database
) -> None:
    start = datetime.now(UTC) - timedelta(minutes=20)
    calls = [await save_outcome(db, sample_outcome(f"16.{n}", start=start)) for n in range(8)]
    operator = await create_token(db, "operator", operator_id="007")
    ops = await create_token(db, "ops")
    # A and B are opened by their calls' records (type complaint); C and D through the API.
    ids = []
    for call_id in calls[:2]:
        record = {"type": "complaint", "summary": "扣费错误"}
        status, _ = await _send(client, "POST", f"/api/calls/{call_id}/record", operator, record)
        assert status == 201
    status, page = await _send(client, "GET", "/api/complaints", ops)
    ids = [c["complaint_id"] for c in reversed(page["complaints"])]
    for body in (
        {"summary": "态度差", "call_id": calls[2]},
        {"summary": "网点排队"},
        {"summary": "旧"},
    ):
        status, created = await _send(client, "POST", "/api/complaints", ops, body)
        assert status == 201, created
        ids.append(created["complaint_id"])
    a, b, c, d, old = ids
    await _move(client, ops, a, "assign", "resolve")  # resolved
    await _move(client, ops, b, "assign", "resolve", "confirm")  # confirmed
    await _move(client, ops, c, "assign", "resolve", "reopen")  # reopened: not resolved
    # D waited 4 days (overdue) and was escalated; the old one was registered yesterday.
    await _set(
        db, d, silent_since=datetime.now(UTC) - timedelta(days=4), escalated_at=datetime.now(UTC)
    )
    yesterday = datetime.now(UTC) - timedelta(days=1, hours=1)
    await _set(db, old, created_at=yesterday, silent_since=yesterday)

    # By hand: 8 answered calls; 4 complaints in the interval (A, B, C, D); resolved A and
    # B; overdue D; escalated D.
    window = {
        "from": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "to": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
    }
    query = "&".join(f"{k}={quote(v)}" for k, v in window.items())
    status, summary = await _send(client, "GET", f"/api/metrics/summary?{query}", ops)
    assert status == 200, summary
    f = summary["figures"]
    assert f["answered"]["value"] == 8
    assert f["complaints_registered"]["value"] == 4
    assert f["complaint_rate"] == {
        "value": 0.5,
        "formula": "complaints_registered / answered = 4 / 8 (target < 3 %, S7)",
    }
    assert f["complaints_resolved"]["value"] == 2
    assert f["complaint_resolution_rate"]["value"] == 0.5
    assert f["complaint_resolution_rate"]["formula"].endswith("= 2 / 4 (target 100 %, S7)")
    assert f["complaints_overdue"]["value"] == 1
    assert f["complaints_escalated"]["value"] == 1
    assert summary["settings"]["complaint_rate_target"] == 0.03
    # The daily statistics (S7): by department, by state, and the calls' records by type.
    statistics = summary["complaint_statistics"]
    assert statistics["by_department"] == [
        {"department_id": "billing", "count": 3},
        {"department_id": None, "count": 1},
    ]
    assert statistics["by_state"] == {
        "registered": 1,
        "assigned": 0,
        "resolved": 1,
        "confirmed": 1,
        "reopened": 1,
    }
    assert statistics["records_by_type"] == {
        "consultation": 0,
        "complaint": 2,
        "suggestion": 0,
        "business": 0,
    }

    # /metrics: the runner's gauges over the whole database (the old complaint included).
    await client.app[CHASER].round()
    async with client.get("/metrics", headers={"Authorization": f"Bearer {ops}"}) as response:
        assert response.status == 200
        scraped = await response.text()
    for line in (
        "ivr_agent_complaints_registered 5.0",
        "ivr_agent_complaints_resolved 2.0",
        "ivr_agent_complaints_open 3.0",  # C reopened, D and the old one registered
        "ivr_agent_complaints_overdue 1.0",
        "ivr_agent_complaints_open_escalated 1.0",
        "ivr_agent_complaint_rate_target 0.03",
    ):
        assert line in scraped.splitlines(), line
