"""The complaint pages over HTTP against a real PostgreSQL: who may open them and who may
act, and the action form's guards (session cookie, form token, same origin) — a refused post
stores nothing; an action the state does not allow is a 409 page."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from ivr_agent.app import build_app
from ivr_agent.complaints.model import Actor
from ivr_agent.complaints.store import NewComplaint, register
from ivr_agent.db.database import Database
from ivr_agent.db.tokens import create_session, create_token
from ivr_agent.notify import Contacts, Department, Directory
from ivr_agent.platform.keys import DIRECTORY as COMPLAINT_DIRECTORY
from ivr_agent.settings import load_settings
from ivr_agent.web.auth import SESSION_COOKIE

pytestmark = pytest.mark.postgres

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(
    db: Database, tmp_path: Path, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> Client:
    settings = load_settings(_env_file=None, data_dir=tmp_path / "var")
    app = build_app(settings, database=db)
    app[COMPLAINT_DIRECTORY] = Directory(
        departments={"billing": Department("billing", "Billing", Contacts(), Contacts())}
    )
    return await aiohttp_client(app)


@pytest.fixture
async def complaint_id(db: Database) -> str:
    new = NewComplaint(summary="<b>扣费</b> 错误", customer_number="13900139000")
    complaint = await register(db, new, Actor("token:test", "ops"), now=datetime.now(UTC))
    return complaint.complaint_id


async def _sign_in(client: Client, db: Database, role: str, operator_id: str | None = None) -> None:
    token = await create_token(db, role, operator_id=operator_id)
    started = await create_session(db, token)
    assert started is not None
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: started[0]})


async def _events(db: Database) -> int:
    async with db.engine.connect() as conn:
        query = text("SELECT count(*) FROM complaint_events")
        return int((await conn.execute(query)).scalar_one())


async def _page(client: Client, complaint_id: str) -> str:
    async with client.get(f"/complaints/{complaint_id}") as response:
        assert response.status == 200
        return await response.text()


def _form_token(page: str) -> str:
    found = re.search(r'name="form_token" value="([0-9a-f]{64})"', page)
    assert found is not None
    return found[1]


async def test_given_no_session_then_the_pages_send_to_sign_in(
    client: Client, complaint_id: str
) -> None:
    for path in ("/complaints", f"/complaints/{complaint_id}"):
        async with client.get(path, allow_redirects=False) as response:
            assert response.status == 303
            assert response.headers["Location"].startswith("/login?next=")


async def test_given_an_operator_session_then_the_complaint_pages_are_forbidden(
    client: Client, db: Database, complaint_id: str
) -> None:
    await _sign_in(client, db, "operator", "007")
    for path in ("/complaints", f"/complaints/{complaint_id}"):
        async with client.get(path) as response:
            assert response.status == 403


async def test_given_a_qa_session_then_it_reads_but_may_not_act(
    client: Client, db: Database, complaint_id: str
) -> None:
    await _sign_in(client, db, "qa")
    page = await _page(client, complaint_id)
    assert "&lt;b&gt;扣费&lt;/b&gt; 错误" in page  # the summary is text, never markup
    assert 'id="action-form"' not in page
    async with client.post(
        f"/complaints/{complaint_id}", data={"transition": "assign"}, allow_redirects=False
    ) as response:
        assert response.status == 403
    async with client.get("/complaints/00000000-0000-4000-8000-000000000000") as response:
        assert response.status == 404


async def test_given_an_ops_session_then_the_form_acts_only_with_its_guards(
    client: Client, db: Database, complaint_id: str
) -> None:
    await _sign_in(client, db, "ops")
    token = _form_token(await _page(client, complaint_id))
    path = f"/complaints/{complaint_id}"
    form = {"transition": "assign", "department_id": "billing", "note": "转"}
    before = await _events(db)
    for data, headers in (
        (form, {}),
        ({**form, "form_token": "0" * 64}, {}),
        ({**form, "form_token": token}, {"Origin": "https://evil.example"}),
        ({**form, "form_token": token}, {"Sec-Fetch-Site": "cross-site"}),
    ):
        async with client.post(path, data=data, headers=headers, allow_redirects=False) as r:
            assert r.status == 403, (data, headers)
    # A department that does not exist: the page again, saying so, nothing stored.
    data = {**form, "department_id": "sales", "form_token": token}
    async with client.post(path, data=data) as response:
        assert response.status == 400
        assert 'id="action-error"' in await response.text()
    # An action the state does not allow (posted by hand: the page does not offer it): 409.
    data = {"transition": "resolve", "note": "", "form_token": token}
    async with client.post(path, data=data) as response:
        assert response.status == 409
        assert "该投诉当前为「已登记」" in await response.text()  # zh-CN by default
    assert await _events(db) == before
    async with client.post(
        path, data={**form, "form_token": token}, allow_redirects=False
    ) as response:
        assert response.status == 303
        assert response.headers["Location"] == f"/complaints/{complaint_id}#timeline"
    assert await _events(db) == before + 1
    async with client.get("/complaints?state=assigned&department=billing") as response:
        assert response.status == 200
        assert f'data-complaint-id="{complaint_id}"' in await response.text()
