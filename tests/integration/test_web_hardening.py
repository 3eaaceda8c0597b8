"""Issue 14 over HTTP against a real PostgreSQL: sign-in never redirects off our origin
(finding 4); every numeric query parameter answers a 400 naming it, the calls API names the
stored recording, and anonymous ``/readyz`` is answered from a short cache (finding 10)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from yarl import URL

from ivr_agent.app import build_app
from ivr_agent.calls.store import save_outcome
from ivr_agent.db.database import Database
from ivr_agent.db.tokens import create_session, create_token
from ivr_agent.platform.health import READINESS, State
from ivr_agent.qa.records import save_call_recording
from ivr_agent.recordings.files import store_recording
from ivr_agent.settings import load_settings
from ivr_agent.web.auth import SESSION_COOKIE
from tests.integration.qa_support import make_wav, stored_call
from tests.support.outcomes import sample_outcome
from tests.unit.test_web_redirects import HOSTILE as HOSTILE_NEXT

pytestmark = pytest.mark.postgres

Client = TestClient[web.Request, web.Application]
AppClient = Callable[[web.Application], Awaitable[Client]]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
async def client(db: Database, data_dir: Path, aiohttp_client: AppClient) -> Client:
    settings = load_settings(_env_file=None, data_dir=data_dir)
    return await aiohttp_client(build_app(settings, database=db))


def _bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _assert_on_our_origin(location: str) -> None:
    url = URL(location)
    assert not url.is_absolute(), location
    assert url.host is None, location
    assert location.startswith("/"), location
    assert not location.startswith(("//", "/\\")), location


# ------------------------------------------------------------------ finding 4 --


async def test_given_a_hostile_next_then_sign_in_stays_on_our_origin(
    client: Client, db: Database
) -> None:
    token = await create_token(db, "ops")
    for evil in HOSTILE_NEXT:
        async with client.get("/login", params={"next": evil or ""}) as response:
            assert response.status == 200
            form = await response.text()
        assert '<input type="hidden" name="next" value="/">' in form, evil
        async with client.post(
            "/login", data={"token": token, "next": evil or ""}, allow_redirects=False
        ) as response:
            assert response.status == 303
            location = response.headers["Location"]
        _assert_on_our_origin(location)
        assert location == "/", evil


async def test_given_a_path_of_ours_then_sign_in_goes_there(client: Client, db: Database) -> None:
    token = await create_token(db, "ops")
    async with client.post(
        "/login", data={"token": token, "next": "/dashboard/panels"}, allow_redirects=False
    ) as response:
        assert (response.status, response.headers["Location"]) == (303, "/dashboard/panels")


@pytest.mark.parametrize(
    ("target", "next_path"),
    [
        (
            "/calls/00000000-0000-0000-0000-000000000000",
            "/calls/00000000-0000-0000-0000-000000000000",
        ),
        # A "next" smuggled into the page's path stays one query value (and here is refused).
        ("/calls/x%26next=%2F%2Fevil.example", "/"),
        ("/calls/a%26b", "/calls/a%26b"),
    ],
)
async def test_given_no_session_then_the_login_link_carries_the_page_encoded(
    client: Client, target: str, next_path: str
) -> None:
    async with client.get(URL(target, encoded=True), allow_redirects=False) as response:
        assert response.status == 303
        location = URL(response.headers["Location"])
    assert location.path == "/login"
    assert location.query.getall("next") == [next_path]


# ----------------------------------------------------------------- finding 10 --

LONG = "9" * 5000  # over CPython's 4,300-digit limit of int(str)
#: Values of a numeric query parameter that must all be a 400 naming it.
BAD_NUMBERS = ["²", "٣", "１", LONG, "-1", "+1", " 1", "1.5", "0x1", ""]
RECORDING = "0" * 32

#: (path, parameter) of every route with a numeric query parameter.
NUMERIC_PARAMETERS = [
    ("/api/calls", "limit"),
    ("/api/metrics/breaches", "limit"),
    (f"/api/recordings/{RECORDING}/peaks", "buckets"),
    ("/api/callbacks", "limit"),
    ("/api/callbacks", "offset"),
]


async def _assert_bad_numbers(
    client: Client, token: str, path: str, name: str, values: list[str]
) -> None:
    for value in values:
        async with client.get(path, params={name: value}, headers=_bearer(token)) as response:
            body = await response.json()
            assert response.status == 400, (value, body)
        assert body["error"]["error_id"] == "invalid_parameter"
        assert body["error"]["details"] == {"field": name}
        assert body["error"]["message"].startswith(f"{name}: must be an integer from ")


@pytest.mark.parametrize(("path", "name"), NUMERIC_PARAMETERS)
async def test_given_a_bad_number_then_400_names_the_parameter(
    client: Client, db: Database, path: str, name: str
) -> None:
    token = await create_token(db, "admin")
    values = [v for v in BAD_NUMBERS if v != LONG or not path.startswith("/api/callbacks")]
    await _assert_bad_numbers(client, token, path, name, values)


async def test_given_too_many_digits_then_the_callbacks_list_answers_400(
    client: Client, db: Database
) -> None:
    token = await create_token(db, "admin")
    await _assert_bad_numbers(client, token, "/api/callbacks", "offset", [LONG])


async def _qa_list_refuses(client: Client, db: Database, values: list[str]) -> None:
    started = await create_session(db, await create_token(db, "qa"))
    assert started is not None
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: started[0]})
    for value in values:
        async with client.get("/qa", params={"page": value}) as response:
            assert response.status == 400, value
            assert "page" in await response.text()


async def test_given_a_bad_page_then_the_qa_list_answers_400_naming_it(
    client: Client, db: Database
) -> None:
    await _qa_list_refuses(client, db, [v for v in BAD_NUMBERS if v.isascii() and v != LONG])


async def test_given_a_non_ascii_or_huge_page_then_the_qa_list_answers_400(
    client: Client, db: Database
) -> None:
    await _qa_list_refuses(client, db, ["²", "٣", "１", LONG])


async def test_given_a_stored_recording_then_the_calls_api_names_it(
    client: Client, db: Database, data_dir: Path
) -> None:
    call = await stored_call(db, data_dir)
    # A second, newer recording of the same call is the one the QA replay plays.
    newer = store_recording(data_dir, make_wav(1.0))
    await save_call_recording(db, call_id=call.call_id, file=newer, started_at=None)
    without = sample_outcome("1700000000.2", recording_id=None)
    await save_outcome(db, without)
    token = await create_token(db, "ops")
    async with client.get("/api/calls", headers=_bearer(token)) as response:
        listed = {c["call_id"]: c["recording_id"] for c in (await response.json())["calls"]}
    assert listed == {call.call_id: newer.recording_id, without.call_id: None}
    async with client.get(f"/api/calls/{call.call_id}", headers=_bearer(token)) as response:
        assert (await response.json())["recording_id"] == newer.recording_id
    qa = await create_token(db, "qa")
    async with client.get(f"/api/calls/{call.call_id}/qa", headers=_bearer(qa)) as response:
        assert (await response.json())["recording"]["recording_id"] == newer.recording_id
    # ... and API users reach it with that id.
    path = f"/api/recordings/{newer.recording_id}"
    async with client.get(path, headers=_bearer(qa)) as response:
        assert (response.status, (await response.json())["status"]) == (200, "ok")


async def test_given_anonymous_callers_then_readyz_probes_at_most_once_per_period(
    client: Client, db: Database
) -> None:
    readiness = client.app[READINESS]
    runs: list[int] = []

    async def counting_probe() -> None:
        runs.append(1)

    readiness.add_probe("counter", counting_probe)

    async def readyz(token: str | None = None) -> tuple[int, Any]:
        async with client.get("/readyz", headers=_bearer(token)) as response:
            return response.status, await response.json()

    first = await readyz()
    assert first[0] == 200
    answers = await asyncio.gather(*(readyz() for _ in range(20)))
    answers += [await readyz("ivra_not-a-token") for _ in range(5)]
    assert len(runs) == 1
    assert set(map(str, answers)) == {str(first)}

    # A token holder sees what they saw before: a probe on every request.
    token = await create_token(db, "ops")
    for _ in range(3):
        assert await readyz(token) == first
    assert len(runs) == 4
    readiness.component("ami").set(State.DOWN, "test")
    fresh = await readyz(token)
    assert fresh[0] == 503
    assert fresh[1]["components"]["ami"] == {"state": "down", "detail": "test"}
    # Their fresh answer is what anonymous callers get next, without another probe.
    assert await readyz() == fresh
    assert len(runs) == 5
