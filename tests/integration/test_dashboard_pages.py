"""The dashboard's pages, sign-in and live feed over HTTP against a real PostgreSQL (the
browser test in tests/browser/ drives the same pages in Chromium)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from ivr_agent.app import build_app
from ivr_agent.calls.store import save_outcome
from ivr_agent.core.outcome import call_id_for
from ivr_agent.core.timeline import TimelineEvent
from ivr_agent.dashboard.live import LIVE, CallsNow
from ivr_agent.db.database import Database
from ivr_agent.db.tokens import create_session, create_token
from ivr_agent.settings import load_settings
from ivr_agent.web.auth import SESSION_COOKIE
from tests.support.outcomes import SHANGHAI, sample_outcome

pytestmark = pytest.mark.postgres

Client = TestClient[web.Request, web.Application]
AppClient = Callable[[web.Application], Awaitable[Client]]


async def _client(db: Database, aiohttp_client: AppClient) -> Client:
    return await aiohttp_client(build_app(load_settings(), database=db))


async def _login(client: Client, token: str) -> None:
    async with client.post(
        "/login", data={"token": token, "next": "/"}, allow_redirects=False
    ) as response:
        assert response.status == 303
        assert response.headers["Location"] == "/"
        cookie = response.headers["Set-Cookie"]
        assert f"{SESSION_COOKIE}=" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie


async def test_given_no_session_then_pages_redirect_to_login_and_the_api_says_401(
    db: Database, aiohttp_client: AppClient
) -> None:
    client = await _client(db, aiohttp_client)
    for path in ("/", "/dashboard/panels", "/calls/00000000-0000-0000-0000-000000000000"):
        async with client.get(path, allow_redirects=False) as response:
            assert response.status == 303, path
            assert response.headers["Location"].startswith("/login?next=/")
    async with client.get("/api/live") as response:
        assert response.status == 401
        assert (await response.json())["error"]["error_id"] == "unauthenticated"
    async with client.get("/login") as response:
        assert response.status == 200
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]


async def test_given_a_bad_token_then_login_refuses_and_sets_no_cookie(
    db: Database, aiohttp_client: AppClient
) -> None:
    client = await _client(db, aiohttp_client)
    async with client.post("/login", data={"token": "ivra_wrong"}) as response:
        assert response.status == 401
        assert "Set-Cookie" not in response.headers
        assert "令牌无效、已吊销或已过期" in await response.text()  # zh-CN, the default


async def test_given_an_offsite_next_then_login_goes_home(
    db: Database, aiohttp_client: AppClient
) -> None:
    client = await _client(db, aiohttp_client)
    token = await create_token(db, "ops")
    for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        async with client.post(
            "/login", data={"token": token, "next": evil}, allow_redirects=False
        ) as response:
            assert response.headers["Location"] == "/", evil


async def test_given_a_session_then_the_dashboard_shows_todays_figures_and_breaches(
    db: Database, aiohttp_client: AppClient
) -> None:
    now = datetime.now(SHANGHAI)
    start = max(now - timedelta(minutes=5), now.replace(hour=0, minute=0, second=1))
    late = sample_outcome("9.1", start=start)
    await save_outcome(db, late)
    client = await _client(db, aiohttp_client)
    await _login(client, await create_token(db, "ops"))
    async with client.get("/") as response:
        assert response.status == 200
        page = await response.text()
    async with client.get("/api/metrics/summary") as response:
        assert response.status == 200  # the session cookie also serves API reads
        figures = (await response.json())["figures"]
    assert figures["offered"]["value"] == 1
    assert 'data-figure="offered" data-value="1"' in page
    assert f'data-figure="service_level" data-value="{figures["service_level"]["value"]}"' in page
    assert 'data-operator="007"' in page
    # S7: today's complaints (none yet: the rate is 0 of 1 answered call, under target).
    assert 'data-figure="complaint_rate" data-value="0.0"' in page
    assert 'data-figure="complaints_registered" data-value="0"' in page
    assert f'href="/calls/{late.call_id}"' in page  # a long hold is a breach
    async with client.get(f"/calls/{late.call_id}") as response:
        assert response.status == 200
        assert "<h2>时间线</h2>" in await response.text()
    async with client.get("/static/dashboard.js") as response:
        assert response.status == 200
        assert response.content_type == "text/javascript"
    async with client.get("/static/..%2Fdashboard.py") as response:
        assert response.status == 404


async def test_given_two_pbxs_then_the_dashboard_selects_one_or_all(
    db: Database, aiohttp_client: AppClient
) -> None:
    now = datetime.now(SHANGHAI)
    start = max(now - timedelta(minutes=5), now.replace(hour=0, minute=0, second=1))
    for n, pbx_id in enumerate(("pbx-a", "pbx-a", "pbx-b")):
        linkedid = f"9.{n}"
        await save_outcome(
            db,
            sample_outcome(
                linkedid, start=start, pbx_id=pbx_id, call_id=call_id_for(pbx_id, linkedid)
            ),
        )
    client = await _client(db, aiohttp_client)
    await _login(client, await create_token(db, "ops"))
    pages = {}
    for query in ("", "?pbx_id=", "?pbx_id=pbx-b", "?pbx_id=pbx-a,pbx-b"):
        async with client.get("/" + query) as response:
            assert response.status == 200, query
            pages[query] = await response.text()
    # The selector lists the PBXs seen, "all PBXs" (全部交换机) first and chosen by default.
    assert '<option value="" selected>全部交换机</option>' in pages[""]
    assert '<option value="pbx-a">pbx-a</option>' in pages[""]
    assert '<option value="pbx-b" selected>pbx-b</option>' in pages["?pbx_id=pbx-b"]
    for query, offered in (("", 3), ("?pbx_id=", 3), ("?pbx_id=pbx-b", 1)):
        assert f'data-figure="offered" data-value="{offered}"' in pages[query], query
    assert 'data-figure="offered" data-value="3"' in pages["?pbx_id=pbx-a,pbx-b"]
    # The panels dashboard.js fetches follow the page's filter.
    async with client.get("/dashboard/panels?pbx_id=pbx-a") as response:
        assert 'data-figure="offered" data-value="2"' in await response.text()
    async with client.get("/?pbx_id=not%20a%20pbx") as response:
        assert response.status == 400
        assert "pbx_id: " in await response.text()
    # The history page takes the same filter, and the pages link to each other with it.
    assert 'href="/history?pbx_id=pbx-b"' in pages["?pbx_id=pbx-b"]
    today = now.date().isoformat()
    async with client.get(f"/history?from={today}&to={today}&pbx_id=pbx-b") as response:
        assert response.status == 200
        history = await response.text()
    assert '<option value="pbx-b" selected>pbx-b</option>' in history
    assert 'href="/?pbx_id=pbx-b"' in history
    async with client.get("/history?pbx_id=pbx%20b") as response:
        assert response.status == 400


async def test_given_a_session_cookie_then_it_never_authorises_a_write(
    db: Database, aiohttp_client: AppClient
) -> None:
    client = await _client(db, aiohttp_client)
    token = await create_token(db, "admin")
    started = await create_session(db, token)
    assert started is not None
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: started[0]})
    async with client.get("/api/metrics/summary") as response:
        assert response.status == 200
    async with client.post("/api/metrics/summary") as response:
        assert response.status in {401, 405}


async def test_given_a_live_stream_then_changes_arrive_as_server_sent_events(
    db: Database, aiohttp_client: AppClient
) -> None:
    client = await _client(db, aiohttp_client)
    token = await create_token(db, "qa")
    hub = client.app[LIVE]
    async with client.get("/api/live", headers={"Authorization": f"Bearer {token}"}) as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        first = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 5)
        assert first.startswith(b"retry:")
        snapshot = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 5)
        assert snapshot.startswith(b"event: calls\n")
        while hub.subscribers == 0:
            await asyncio.sleep(0.01)
        hub.update(CallsNow(waiting=2, talking=1, on_hold=1), stored=hub.stored + 1)
        calls = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 5)
        stored = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 5)
    assert calls == (
        b'event: calls\ndata: {"waiting":2,"talking":1,"on_hold":1,"in_progress":3}\n\n'
    )
    assert stored.startswith(b"event: stored\n")


async def test_given_markup_in_a_caller_number_and_an_operator_then_pages_show_it_as_text(
    db: Database, aiohttp_client: AppClient
) -> None:
    now = datetime.now(SHANGHAI)
    start = max(now - timedelta(minutes=5), now.replace(hour=0, minute=0, second=1))
    evil = sample_outcome(
        "9.2",
        start=start,
        caller_number="<script>alert(1)</script>",
        operator_id='<b id="op">',
    )
    timeline = [
        TimelineEvent(evil.offered_at, "offered", "PJSIP/<i>-1", {"note": "<img src=x>"}),
    ]
    await save_outcome(db, evil, timeline)
    client = await _client(db, aiohttp_client)
    await _login(client, await create_token(db, "ops"))
    pages = {}
    for path in ("/", "/dashboard/panels", f"/calls/{evil.call_id}"):
        async with client.get(path) as response:
            assert response.status == 200, path
            pages[path] = await response.text()
    for path, page in pages.items():
        assert "<script>alert" not in page, path
        assert '<b id="op">' not in page, path
        assert "&lt;b id=&#34;op&#34;&gt;" in page, path
    # The dashboard masks the number (its last four characters stay), the call page does not.
    assert "ipt&gt;</span>" in pages["/"]
    call = pages[f"/calls/{evil.call_id}"]
    assert "<dd>&lt;script&gt;alert(1)&lt;/script&gt;</dd>" in call
    assert "PJSIP/&lt;i&gt;-1" in call
    assert "note: &lt;img src=x&gt;" in call
    async with client.get("/login", params={"next": '/"><script>x</script>'}) as response:
        page = await response.text()
    assert "<script>x" not in page
    assert 'name="next" value="/&#34;&gt;&lt;script&gt;x&lt;/script&gt;"' in page


async def test_given_a_browser_language_then_pages_speak_it_among_the_offered_ones(
    db: Database, aiohttp_client: AppClient
) -> None:
    now = datetime.now(SHANGHAI)
    start = max(now - timedelta(minutes=5), now.replace(hour=0, minute=0, second=1))
    late = sample_outcome("9.3", start=start)
    await save_outcome(db, late)
    client = await _client(db, aiohttp_client)
    await _login(client, await create_token(db, "ops"))
    english = {"Accept-Language": "en-GB,en;q=0.9"}
    chinese = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
    async with client.get("/", headers=english) as response:
        assert response.headers["Content-Language"] == "en-US"
        assert "Accept-Language" in response.headers["Vary"]
        page = await response.text()
    assert '<html lang="en-US">' in page
    assert "<h2>Service level per hour</h2>" in page
    assert 'data-text-reconnecting="reconnecting"' in page
    assert '<span class="tag long_hold">long hold</span>' in page
    async with client.get("/", headers=chinese) as response:
        assert response.headers["Content-Language"] == "zh-CN"
        page = await response.text()
    assert '<html lang="zh-CN">' in page
    assert "<h2>每小时服务水平</h2>" in page
    assert '<div class="label">服务水平</div>' in page
    assert 'data-text-reconnecting="正在重连"' in page
    assert '<span class="tag long_hold">保持超时</span>' in page  # core/breaches.py's label
    async with client.get("/dashboard/panels", headers=chinese) as response:
        assert "<h2>最新违规</h2>" in await response.text()
    async with client.get(f"/calls/{late.call_id}", headers=english) as response:
        page = await response.text()
    assert "<dt>Ring time</dt>" in page
    assert "<h2>Timeline</h2>" in page


async def test_given_one_language_in_the_settings_then_every_browser_gets_it(
    db: Database, aiohttp_client: AppClient
) -> None:
    client = await aiohttp_client(build_app(load_settings(ui_languages="en-US"), database=db))
    async with client.get("/login", headers={"Accept-Language": "zh-CN"}) as response:
        page = await response.text()
    assert '<html lang="en-US">' in page
    assert "<h1>Sign in</h1>" in page
