"""The calls API against a real PostgreSQL: tokens, roles, paging and bad parameters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from ivr_agent.app import build_app
from ivr_agent.calls.store import save_outcome
from ivr_agent.core.outcome import CallOutcome
from ivr_agent.db.database import Database
from ivr_agent.db.tokens import create_token
from ivr_agent.settings import load_settings
from tests.support.outcomes import T0, sample_outcome

pytestmark = pytest.mark.postgres

Client = TestClient[web.Request, web.Application]


def _outcome(n: int) -> CallOutcome:
    return sample_outcome(f"1763863200.{n}", start=T0 + timedelta(minutes=n))


@pytest.fixture
async def client(
    db: Database, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> Client:
    for n in range(5):
        await save_outcome(db, _outcome(n))
    return await aiohttp_client(build_app(load_settings(), database=db))


async def _get(client: Client, path: str, token: str | None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with client.get(path, headers=headers) as response:
        return response.status, await response.json()


async def test_given_no_or_a_bad_token_then_401_with_the_error_shape(client: Client) -> None:
    status, body = await _get(client, "/api/calls", None)
    assert status == 401
    assert body["error"]["error_id"] == "unauthenticated"
    status, _ = await _get(client, "/api/calls", "ivra_not-a-real-token")
    assert status == 401


async def test_given_an_ops_token_then_calls_page_oldest_first(
    client: Client, db: Database
) -> None:
    token = await create_token(db, "ops")
    status, body = await _get(client, "/api/calls?limit=3", token)
    assert status == 200
    assert [c["linkedid"] for c in body["calls"]] == [f"1763863200.{n}" for n in range(3)]
    status, rest = await _get(client, f"/api/calls?limit=3&after={body['next_after']}", token)
    assert [c["linkedid"] for c in rest["calls"]] == ["1763863200.3", "1763863200.4"]
    assert rest["next_after"] is None
    status, one = await _get(client, f"/api/calls/{body['calls'][0]['call_id']}", token)
    assert status == 200
    assert one == _outcome(0).to_json()


async def test_given_bad_parameters_then_400_names_the_parameter(
    client: Client, db: Database
) -> None:
    token = await create_token(db, "qa")
    for query, field in [("since=yesterday", "since"), ("limit=0", "limit"), ("limit=x", "limit")]:
        status, body = await _get(client, f"/api/calls?{query}", token)
        assert status == 400, query
        assert body["error"]["details"]["field"] == field
    status, body = await _get(client, "/api/calls?after=not-a-call", token)
    assert (status, body["error"]["details"]["field"]) == (400, "after")
    status, body = await _get(client, "/api/calls/00000000-0000-0000-0000-000000000000", token)
    assert (status, body["error"]["error_id"]) == (404, "call_not_found")


async def test_given_since_then_only_later_calls(client: Client, db: Database) -> None:
    token = await create_token(db, "admin")
    since = replace(_outcome(3)).ended_at.isoformat()
    status, body = await _get(client, f"/api/calls?since={since.replace('+', '%2B')}", token)
    assert status == 200
    assert [c["linkedid"] for c in body["calls"]] == ["1763863200.3", "1763863200.4"]
