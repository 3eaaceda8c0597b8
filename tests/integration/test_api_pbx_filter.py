"""The PBX filter (issue 20): ``pbx_id`` on the summary, the history and the calls list and
export — repeated or a comma list; without it, every PBX's. Calls of two PBXs on one day."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from ivr_agent.app import build_app
from ivr_agent.callbacks.jobs import CallbackRequest, create_callback
from ivr_agent.calls.store import save_outcome
from ivr_agent.core.callbacks import CallbackConfig
from ivr_agent.core.outcome import call_id_for
from ivr_agent.db.database import Database
from ivr_agent.db.tokens import create_token
from ivr_agent.metrics.pbxs import seen_pbx_ids
from ivr_agent.settings import load_settings
from tests.support.outcomes import SHANGHAI, sample_outcome

pytestmark = pytest.mark.postgres

Client = TestClient[web.Request, web.Application]
DAY = "from=2026-11-23T00:00&to=2026-11-24T00:00"
#: Calls per PBX: three on A, one on B (offered 10:00, 10:20, …).
CALLS = {"pbx-a": 3, "pbx-b": 1}


@pytest.fixture
async def client(
    db: Database, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> Client:
    start = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
    n = 0
    for pbx_id, count in CALLS.items():
        for _ in range(count):
            linkedid = f"1.{n}"
            outcome = sample_outcome(
                linkedid, start=start + timedelta(minutes=20 * n), pbx_id=pbx_id,
                call_id=call_id_for(pbx_id, linkedid),
            )  # fmt: skip
            await save_outcome(db, outcome)
            n += 1
    due = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)
    for number, pbx_id in (("13800000001", "pbx-b"), ("13800000002", "pbx-b")):
        request = CallbackRequest(number, None, "manual", due, pbx_id=pbx_id)
        await create_callback(db, request, CallbackConfig(), due)
    settings = load_settings(_env_file=None, timezone="Asia/Shanghai")
    return await aiohttp_client(build_app(settings, database=db))


async def _get(client: Client, path: str, token: str) -> tuple[int, Any]:
    async with client.get(path, headers={"Authorization": f"Bearer {token}"}) as response:
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, (await response.read()).decode("utf-8-sig")


@pytest.mark.parametrize(
    ("query", "offered", "callbacks", "pbx_ids"),
    [
        ("", 4, 2, None),
        ("&pbx_id=pbx-a", 3, 0, ["pbx-a"]),
        ("&pbx_id=pbx-b", 1, 2, ["pbx-b"]),
        ("&pbx_id=pbx-a,pbx-b", 4, 2, ["pbx-a", "pbx-b"]),
        ("&pbx_id=pbx-b&pbx_id=pbx-a&pbx_id=pbx-b", 4, 2, ["pbx-b", "pbx-a"]),
        ("&pbx_id=pbx-none", 0, 0, ["pbx-none"]),
    ],
)
async def test_given_two_pbxs_then_the_summary_counts_those_asked_for(
    client: Client, db: Database, query: str, offered: int, callbacks: int, pbx_ids: Any
) -> None:
    token = await create_token(db, "ops")
    status, body = await _get(client, f"/api/metrics/summary?{DAY}{query}", token)
    assert status == 200, body
    assert body["pbx_ids"] == pbx_ids
    assert body["figures"]["offered"]["value"] == offered
    assert body["figures"]["callbacks_due"]["value"] == callbacks
    status, grouped = await _get(
        client, f"/api/metrics/summary?{DAY}{query}&group_by=operator", token
    )
    assert status == 200, grouped
    assert sum(g["figures"]["offered"]["value"] for g in grouped["groups"]) == offered
    status, history = await _get(client, f"/api/metrics/history?{DAY}{query}", token)
    assert status == 200, history
    assert history["pbx_ids"] == pbx_ids
    assert [p["figures"]["offered"] for p in history["points"]] == [offered]


async def test_given_a_pbx_filter_then_the_calls_list_and_export_hold_its_calls_only(
    client: Client, db: Database
) -> None:
    token = await create_token(db, "ops")
    status, page = await _get(client, "/api/calls?pbx_id=pbx-b", token)
    assert status == 200, page
    assert [c["pbx_id"] for c in page["calls"]] == ["pbx-b"]
    status, every = await _get(client, "/api/calls", token)
    assert sorted(c["pbx_id"] for c in every["calls"]) == ["pbx-a"] * 3 + ["pbx-b"]
    status, text = await _get(client, "/api/calls?format=csv&pbx_id=pbx-a", token)
    assert status == 200
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["pbx_id"] for row in rows] == ["pbx-a"] * 3


@pytest.mark.parametrize("bad", ["pbx%20a", "", "pbx-a,,pbx-b", "p" * 33, "pbx-a,b%2Fc"])
@pytest.mark.parametrize("path", ["/api/metrics/summary", "/api/metrics/history", "/api/calls"])
async def test_given_a_malformed_pbx_id_then_400_names_the_field(
    client: Client, db: Database, path: str, bad: str
) -> None:
    token = await create_token(db, "ops")
    status, body = await _get(client, f"{path}?pbx_id={bad}", token)
    assert status == 400, body
    assert body["error"]["details"]["field"] == "pbx_id"
    assert body["error"]["message"].startswith("pbx_id: ")


async def test_the_pbxs_seen_are_those_of_the_calls_and_callbacks(
    client: Client, db: Database
) -> None:
    assert await seen_pbx_ids(db) == ["pbx-a", "pbx-b"]
