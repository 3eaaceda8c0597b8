"""``GET /api/metrics/history`` against a real PostgreSQL: one point per local bucket (weeks
from Monday, months), the same values as the summary's groups, one operator's history, and
bad parameters refused with 400 naming them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from ivr_agent.app import build_app
from ivr_agent.calls.store import save_outcome
from ivr_agent.db.database import Database
from ivr_agent.db.tokens import create_token
from ivr_agent.settings import load_settings
from tests.support.outcomes import SHANGHAI, sample_outcome

pytestmark = pytest.mark.postgres

Client = TestClient[web.Request, web.Application]
AppClient = Callable[[web.Application], Awaitable[Client]]

#: Wednesday 2026-11-18 … Tuesday 2026-12-01, Shanghai: three calls a day on some days.
DAYS = (0, 1, 5, 6, 12)
FIRST = datetime(2026, 11, 18, 9, 30, tzinfo=SHANGHAI)


def _calls() -> list[Any]:
    outcomes = []
    for day in DAYS:
        for n, operator in enumerate(("007", "009", None)):
            start = FIRST + timedelta(days=day, hours=n)
            if operator is None:  # abandoned after 20 s
                wait = start + timedelta(seconds=1.5)
                outcome = sample_outcome(
                    f"{day}.{n}",
                    start=start,
                    operator_id=None,
                    answered_at=None,
                    ended_at=wait + timedelta(seconds=20),
                    ring_seconds=None,
                    rings=None,
                    answered_within_standard=None,
                    abandoned=True,
                    talk_seconds=None,
                    duration_seconds=21.5,
                )
            else:
                outcome = sample_outcome(f"{day}.{n}", start=start, operator_id=operator)
            outcomes.append(outcome)
    return outcomes


async def _client(db: Database, aiohttp_client: AppClient) -> tuple[Client, str]:
    for outcome in _calls():
        await save_outcome(db, outcome)
    client = await aiohttp_client(build_app(load_settings(), database=db))
    return client, await create_token(db, "ops")


async def _get(client: Client, path: str, token: str | None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with client.get(path, headers=headers) as response:
        return response.status, await response.json()


RANGE = "from=2026-11-18&to=2026-12-02"


async def test_given_two_weeks_by_day_then_every_day_is_a_point_with_the_summary_values(
    db: Database, aiohttp_client: AppClient
) -> None:
    client, token = await _client(db, aiohttp_client)
    status, body = await _get(client, f"/api/metrics/history?{RANGE}&group_by=day", token)
    assert status == 200, body
    points = body["points"]
    assert len(points) == 14
    assert points[0]["start"] == "2026-11-18T00:00:00+08:00"
    assert points[0]["end"] == "2026-11-19T00:00:00+08:00"
    offered = [p["figures"]["offered"] for p in points]
    assert offered == [3 if n in DAYS else 0 for n in range(14)]
    empty = points[2]["figures"]
    assert empty["service_level"] is None
    assert empty["asa_seconds"] is None
    # The same figures as the summary's groups of the same days.
    status, summary = await _get(client, f"/api/metrics/summary?{RANGE}&group_by=day", token)
    assert status == 200
    by_start = {p["start"]: p["figures"] for p in points}
    for group in summary["groups"]:
        for name, value in by_start[group["start"]].items():
            assert group["figures"][name]["value"] == value, (group["start"], name)
    assert set(body["figures"]) >= {"service_level", "answer_rate", "satisfaction_rate"}
    assert "= " not in body["figures"]["service_level"]["formula"].split(")")[-1]


async def test_given_weeks_and_months_then_weeks_start_on_monday_and_months_on_the_first(
    db: Database, aiohttp_client: AppClient
) -> None:
    client, token = await _client(db, aiohttp_client)
    status, weeks = await _get(client, f"/api/metrics/history?{RANGE}&group_by=week", token)
    assert status == 200, weeks
    assert [p["start"] for p in weeks["points"]] == [
        "2026-11-16T00:00:00+08:00",
        "2026-11-23T00:00:00+08:00",
        "2026-11-30T00:00:00+08:00",
    ]
    # Wed 18, Thu 19 | Mon 23, Tue 24 | Mon 30: three calls each day.
    assert [p["figures"]["offered"] for p in weeks["points"]] == [6, 6, 3]
    status, months = await _get(client, f"/api/metrics/history?{RANGE}&group_by=month", token)
    assert status == 200
    assert [(p["start"], p["end"]) for p in months["points"]] == [
        ("2026-11-01T00:00:00+08:00", "2026-12-01T00:00:00+08:00"),
        ("2026-12-01T00:00:00+08:00", "2027-01-01T00:00:00+08:00"),
    ]
    assert [p["figures"]["offered"] for p in months["points"]] == [15, 0]
    assert months["points"][0]["figures"]["answer_rate"] == pytest.approx(10 / 15, abs=1e-6)


async def test_given_an_operator_then_only_that_operators_calls_count(
    db: Database, aiohttp_client: AppClient
) -> None:
    client, token = await _client(db, aiohttp_client)
    status, body = await _get(
        client, f"/api/metrics/history?{RANGE}&group_by=week&operator=007", token
    )
    assert status == 200, body
    assert body["operator"] == "007"
    assert [p["figures"]["offered"] for p in body["points"]] == [2, 2, 1]
    assert {p["figures"]["answer_rate"] for p in body["points"]} == {1.0}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("group_by=operator", "group_by"),
        ("group_by=fortnight", "group_by"),
        ("operator=", "operator"),
        ("from=2026-11-20&to=2026-11-19", "to"),
        ("from=yesterday", "from"),
        ("from=2020-01-01&to=2026-01-01&group_by=hour", "to"),
    ],
)
async def test_given_a_bad_parameter_then_400_names_it(
    db: Database, aiohttp_client: AppClient, query: str, field: str
) -> None:
    client, token = await _client(db, aiohttp_client)
    status, body = await _get(client, f"/api/metrics/history?{query}", token)
    assert status == 400, body
    assert body["error"]["details"]["field"] == field


async def test_given_no_token_then_401(db: Database, aiohttp_client: AppClient) -> None:
    client, _ = await _client(db, aiohttp_client)
    status, _body = await _get(client, "/api/metrics/history", None)
    assert status == 401
