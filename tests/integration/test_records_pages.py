"""The wrap-up pages over HTTP against a real PostgreSQL: who may open them, and the form's
guards (session cookie, form token, same origin) — a refused post stores nothing."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from ivr_agent.app import build_app
from ivr_agent.calls.store import save_outcome
from ivr_agent.db.database import Database
from ivr_agent.db.tokens import create_session, create_token
from ivr_agent.settings import load_settings
from ivr_agent.web.auth import SESSION_COOKIE
from tests.support.outcomes import sample_outcome

pytestmark = pytest.mark.postgres

Client = TestClient[web.Request, web.Application]
FORM = {"type": "suggestion", "status": "open", "summary": "建议延长服务时间"}


@pytest.fixture
async def client(
    db: Database, tmp_path: Path, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> Client:
    settings = load_settings(_env_file=None, data_dir=tmp_path / "var")
    return await aiohttp_client(build_app(settings, database=db))


@pytest.fixture
async def call_id(db: Database) -> str:
    start = datetime.now(UTC) - timedelta(minutes=4)
    return await save_outcome(db, sample_outcome("5.1", start=start))


async def _sign_in(client: Client, db: Database, role: str, operator_id: str | None) -> None:
    token = await create_token(db, role, operator_id=operator_id)
    started = await create_session(db, token)
    assert started is not None
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: started[0]})


async def _stored(db: Database) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM call_records"))).scalar_one())


async def _form_token(client: Client, call_id: str) -> str:
    async with client.get(f"/calls/{call_id}/wrap-up") as response:
        assert response.status == 200
        page = await response.text()
    found = re.search(r'name="form_token" value="([0-9a-f]{64})"', page)
    assert found is not None
    return found[1]


async def test_given_no_session_then_the_pages_send_to_sign_in(
    client: Client, call_id: str
) -> None:
    for path in ("/wrap-up", f"/calls/{call_id}/wrap-up"):
        async with client.get(path, allow_redirects=False) as response:
            assert response.status == 303
            assert response.headers["Location"].startswith("/login?next=")


async def test_given_an_ops_session_then_the_wrap_up_pages_are_forbidden(
    client: Client, db: Database, call_id: str
) -> None:
    await _sign_in(client, db, "ops", None)
    async with client.get(f"/calls/{call_id}/wrap-up") as response:
        assert response.status == 403


async def test_given_an_operator_session_then_the_form_stores_only_with_its_guards(
    client: Client, db: Database, call_id: str
) -> None:
    await _sign_in(client, db, "operator", "007")
    token = await _form_token(client, call_id)
    path = f"/calls/{call_id}/wrap-up"
    # No form token, a wrong one, another site's origin: refused, nothing stored.
    for data, headers in (
        (FORM, {}),
        ({**FORM, "form_token": "0" * 64}, {}),
        ({**FORM, "form_token": token}, {"Origin": "https://evil.example"}),
        ({**FORM, "form_token": token}, {"Sec-Fetch-Site": "cross-site"}),
    ):
        async with client.post(path, data=data, headers=headers, allow_redirects=False) as r:
            assert r.status == 403, (data, headers)
    assert await _stored(db) == 0
    # A bad field: the form again, saying what is wrong, status 400.
    async with client.post(path, data={**FORM, "summary": " ", "form_token": token}) as r:
        assert r.status == 400
        assert 'id="record-error"' in await r.text()
    assert await _stored(db) == 0
    data = {**FORM, "form_token": token, "expected_completion": "2026-12-05T09:00"}
    async with client.post(path, data=data, allow_redirects=False) as r:
        assert r.status == 303
        assert r.headers["Location"] == f"/calls/{call_id}/wrap-up#saved"
    assert await _stored(db) == 1
    # The form token is the session's and the call's: another call's form cannot reuse it.
    other = await save_outcome(db, sample_outcome("5.2", start=datetime.now(UTC)))
    async with client.post(
        f"/calls/{other}/wrap-up", data={**FORM, "form_token": token}, allow_redirects=False
    ) as r:
        assert r.status == 403
    assert await _stored(db) == 1


async def test_given_another_operators_call_then_its_page_is_not_found(
    client: Client, db: Database, call_id: str
) -> None:
    await _sign_in(client, db, "operator", "008")
    async with client.get(f"/calls/{call_id}/wrap-up") as response:
        assert response.status == 404
    async with client.get("/wrap-up") as response:
        assert response.status == 200
        assert call_id not in await response.text()
