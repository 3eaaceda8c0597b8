"""A return call handed over before an agent restart (S8): reconciled, never hung up.

Against a real PostgreSQL and a fake ARI whose only channel is the customer's, up in the
admin's queue (not in our Stasis app) — where a handed-over return call is. Before return
calls, an answered channel outside the app was hung up ("should not happen"): that would cut
off a customer talking to an operator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ivr_agent.callbacks.attempts import claim_due
from ivr_agent.callbacks.dialer import Dialer
from ivr_agent.callbacks.dialing import channel_id_for
from ivr_agent.callbacks.jobs import CallbackRequest, create_callback
from ivr_agent.callbacks.journal import Journal, JournalEntry
from ivr_agent.callbacks.queries import get_callback
from ivr_agent.callbacks.reconcile import reconcile
from ivr_agent.core.callbacks import CallbackConfig
from ivr_agent.db.database import Database
from ivr_agent.pbx.ari import AriClient, AriTarget
from ivr_agent.pbx.session import Ivr
from ivr_agent.pbx.stasis import StasisRouter
from ivr_agent.recordings import RecordingFile
from ivr_agent.settings import Settings, load_settings
from tests.support.ivr import FileCatalogue

pytestmark = pytest.mark.postgres

# Monday 2026-11-23, Shanghai, inside the 10:30-11:30 window.
MONDAY = datetime(2026, 11, 23, 10, 40, tzinfo=CallbackConfig().zone)
CHANNEL = web.AppKey("channel", dict)
HUNG_UP = web.AppKey("hung_up", list)


async def _channels(request: web.Request) -> web.Response:
    return web.json_response([request.app[CHANNEL]])


async def _hang_up(request: web.Request) -> web.Response:
    request.app[HUNG_UP].append(request.match_info["channel_id"])
    return web.Response(status=204)


@pytest.fixture
async def pbx() -> AsyncIterator[TestServer]:
    """A PBX listing one channel (set by the test) that records every hang-up request."""
    app = web.Application()
    app[CHANNEL] = {}
    app[HUNG_UP] = []
    app.router.add_get("/ari/channels", _channels)
    app.router.add_delete("/ari/channels/{channel_id}", _hang_up)
    async with TestServer(app, host="127.0.0.1") as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        _env_file=None, timezone="Asia/Shanghai", data_dir=tmp_path / "var", pbx_id="pbx-rc"
    )


async def test_a_handed_over_return_call_is_finished_connected_and_the_customer_left_alone(
    db: Database, pbx: TestServer, settings: Settings, tmp_path: Path
) -> None:
    config = CallbackConfig.from_settings(settings)
    request = CallbackRequest("13800138000", None, "abandoned_call", MONDAY, pbx_id=settings.pbx_id)
    created = await create_callback(db, request, config, MONDAY)
    [attempt] = await claim_due(
        db, MONDAY, limit=1, pbx_id=settings.pbx_id, channel_id_for=channel_id_for
    )
    # The customer is in the hotline queue, outside our app.
    pbx.app[CHANNEL].update(
        id=attempt.channel_id,
        state="Up",
        dialplan={"context": "return-call", "exten": "s", "priority": 3, "app_name": "Queue"},
    )
    # What the previous run wrote before it stopped: answered, greeted, handed over.
    greeting = RecordingFile(
        recording_id="a" * 32,
        path=f"recordings/aa/{'a' * 32}.wav",
        sha256="0" * 64,
        bytes=160_044,
        seconds=10.0,
        status="ok",
        reason=None,
    )
    journal = Journal(tmp_path / "journal")
    answered = MONDAY.timestamp() + 5
    journal.write(
        JournalEntry(
            attempt.attempt_id,
            answered_at=answered,
            recording_started_at=answered + 0.2,
            outcome="connected",
            ended_at=answered + 10.2,
            stored=greeting,
        )
    )
    target = AriTarget(str(pbx.make_url("")).rstrip("/"), "u", "p")
    async with AriClient(target) as ari:
        ivr = Ivr(ari, StasisRouter(ari, settings.ari_app), FileCatalogue(frozenset()), settings)
        restarted = Dialer(ivr, db, journal=journal, clock=lambda: MONDAY)
        report = await reconcile(restarted)

    assert pbx.app[HUNG_UP] == []  # the customer talking to an operator is never cut off
    assert report.actions[attempt.attempt_id] == "finished connected with recording"
    stored = await get_callback(db, created.callback_id, config.zone)
    assert stored is not None
    assert (stored["status"], stored["outcome"]) == ("completed", "connected")
    assert stored["recording"]["recording_id"] == greeting.recording_id
