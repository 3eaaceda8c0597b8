"""A callback created through the API is dialled at once, not at the dialer's next poll.

A real dialer (its poll an hour away) runs against a real PostgreSQL and a fake ARI on
port 0; the API is the agent's own app with the dialer's ``wake`` in its ``WAKE_DIALER`` slot, as
the composition root sets it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ivr_agent.app import build_app
from ivr_agent.callbacks.dialer import running_dialer
from ivr_agent.callbacks.http import WAKE_DIALER
from ivr_agent.db.database import Database
from ivr_agent.db.tokens import create_token
from ivr_agent.pbx.ari import AriClient, AriTarget
from ivr_agent.pbx.session import Ivr
from ivr_agent.pbx.stasis import StasisRouter
from ivr_agent.settings import Settings, load_settings
from tests.support.ivr import FileCatalogue

pytestmark = pytest.mark.postgres

Client = TestClient[web.Request, web.Application]
ORIGINATED = web.AppKey("originated", asyncio.Queue[str])


async def _channels(request: web.Request) -> web.Response:
    return web.json_response([])


async def _originate(request: web.Request) -> web.Response:
    request.app[ORIGINATED].put_nowait(request.query["endpoint"])
    return web.json_response({"id": request.match_info["channel_id"], "state": "Down"})


@pytest.fixture
async def fake_ari() -> AsyncIterator[TestServer]:
    app = web.Application()
    app[ORIGINATED] = asyncio.Queue()
    app.router.add_get("/ari/channels", _channels)
    app.router.add_post("/ari/channels/{channel_id}", _originate)
    app.router.add_delete("/ari/channels/{channel_id}", _channels)
    async with TestServer(app, host="127.0.0.1") as server:
        yield server


@pytest.fixture
def settings() -> Settings:
    return load_settings(
        _env_file=None,
        timezone="Asia/Shanghai",
        # Always inside a calling window, and a poll that never comes during the test.
        callback_windows="00:00-12:00,12:00-00:00",
        callback_working_days="mon-sun",
        holidays="",
        callback_poll_seconds=3600,
    )


async def test_given_a_running_dialer_when_a_callback_is_created_then_it_is_dialled_at_once(
    db: Database,
    fake_ari: TestServer,
    settings: Settings,
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
) -> None:
    async with AriClient(AriTarget(str(fake_ari.make_url("")).rstrip("/"), "u", "p")) as ari:
        ivr = Ivr(ari, StasisRouter(ari, settings.ari_app), FileCatalogue(frozenset()), settings)
        async with running_dialer(ivr, db) as dialer:
            await asyncio.wait_for(dialer.reconciled.wait(), 5)
            app = build_app(settings, database=db)
            app[WAKE_DIALER].value = dialer.wake
            client = await aiohttp_client(app)
            ops = await create_token(db, "ops")
            body: dict[str, Any] = {"customer_number": "13800138000", "reason": "manual"}
            async with client.post(
                "/api/callbacks", json=body, headers={"Authorization": f"Bearer {ops}"}
            ) as response:
                assert response.status == 201
            endpoint = await asyncio.wait_for(fake_ari.app[ORIGINATED].get(), 5)
    assert endpoint == "PJSIP/13800138000@trunk"
    assert dialer.placed == 1
