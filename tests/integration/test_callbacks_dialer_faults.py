"""The dialer against a real PostgreSQL and a fake ARI: calling windows and outages.

Issue 14: the dialer claimed without the calling windows (an overdue callback was dialled at
any hour), and gave up writing a finished attempt after about 70 s of database outage (the
attempt stayed ``dialling`` until a restart). These drive the dialer itself —
:meth:`Dialer.poll`, :meth:`Dialer.finish` — not the store functions under it. The outage
is real: the engine reaches PostgreSQL through a relay that is shut (connections cut, then
refused) and opened again; the dialer's pauses between writes are shortened instead of
sleeping for minutes.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select, text
from sqlalchemy.engine import URL

from ivr_agent.callbacks.attempts import AttemptResult, claim_due
from ivr_agent.callbacks.dialer import FINISH_RETRY_SECONDS, Dialer
from ivr_agent.callbacks.dialing import channel_id_for
from ivr_agent.callbacks.jobs import CallbackRequest, create_callback
from ivr_agent.callbacks.journal import Journal
from ivr_agent.callbacks.queries import get_callback
from ivr_agent.callbacks.reconcile import reconcile
from ivr_agent.core.callbacks import CallbackConfig
from ivr_agent.db.database import Database, connect
from ivr_agent.db.models import CallbackAttemptRow
from ivr_agent.pbx.ari import AriClient, AriTarget
from ivr_agent.pbx.session import Ivr
from ivr_agent.pbx.stasis import StasisRouter
from ivr_agent.settings import Settings, load_settings
from tests.support.ivr import FileCatalogue
from tests.support.pg_outage import database_behind_door

pytestmark = pytest.mark.postgres

ORIGINATED = web.AppKey("originated", asyncio.Queue[str])
# Monday 2026-11-23, Shanghai: the callback is made due inside the 10:30-11:30 window.
MONDAY = datetime(2026, 11, 23, 10, 40, tzinfo=CallbackConfig().zone)
NIGHT = MONDAY.replace(hour=23, minute=0)
TUESDAY_MORNING = MONDAY.replace(day=24, hour=10, minute=45)
#: Writes the dialer made before it gave up, before the fix (one per pause, and a last).
OLD_GIVE_UP_WRITES = len((0.5, 1, 2, 5, 10, 20, 30)) + 1


async def _empty_list(request: web.Request) -> web.Response:
    return web.json_response([])


async def _originate(request: web.Request) -> web.Response:
    request.app[ORIGINATED].put_nowait(request.query["endpoint"])
    return web.json_response({"id": request.match_info["channel_id"], "state": "Down"})


@pytest.fixture
async def fake_ari() -> AsyncIterator[TestServer]:
    """A PBX with no channels that records every originate (anything else: 404)."""
    app = web.Application()
    app[ORIGINATED] = asyncio.Queue()
    app.router.add_get("/ari/channels", _empty_list)
    app.router.add_post("/ari/channels/{channel_id}", _originate)
    async with TestServer(app, host="127.0.0.1") as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The default windows (10:30-11:30, 15:00-17:30) on working days, in Shanghai.
    return load_settings(
        _env_file=None,
        timezone="Asia/Shanghai",
        data_dir=tmp_path / "var",
        callback_poll_seconds=3600,
    )


@pytest.fixture
async def ari(fake_ari: TestServer) -> AsyncIterator[AriClient]:
    async with AriClient(AriTarget(str(fake_ari.make_url("")).rstrip("/"), "u", "p")) as client:
        yield client


def _ivr(ari: AriClient, settings: Settings) -> Ivr:
    return Ivr(ari, StasisRouter(ari, settings.ari_app), FileCatalogue(frozenset()), settings)


def _ticking(start: datetime) -> Iterator[datetime]:
    """A clock that moves a second each time it is read."""
    return (start + timedelta(seconds=n) for n in itertools.count())


async def _callback(db: Database, settings: Settings) -> str:
    config = CallbackConfig.from_settings(settings)
    request = CallbackRequest("13800138000", "张三", "manual", MONDAY)
    created = await create_callback(db, request, config, MONDAY)
    assert created.due_at == MONDAY
    return created.callback_id


# --- finding 1: the calling windows ---------------------------------------------------------


async def test_given_an_overdue_callback_at_23h_then_the_dialer_dials_nothing_until_its_window(
    db: Database, fake_ari: TestServer, ari: AriClient, settings: Settings
) -> None:
    callback_id = await _callback(db, settings)
    originated = fake_ari.app[ORIGINATED]

    # The agent was down all day: at 23:00 call-centre time the callback is overdue.
    night = Dialer(_ivr(ari, settings), db, clock=lambda: NIGHT)
    try:
        assert await night.poll() == []
        await asyncio.sleep(0.2)
        assert originated.empty(), "a customer was phoned at 23:00"
        assert night.active == {}
    finally:
        await night.close()
    stored = await get_callback(db, callback_id, CallbackConfig().zone)
    assert stored is not None
    assert stored["status"] == "pending"
    assert stored["attempts_made"] == 0
    # Moved to the next window, the next working day's 10:30.
    assert stored["next_attempt_at"] == MONDAY.replace(day=24, hour=10, minute=30).isoformat()

    # At 10:45 the next morning, inside the window, it is dialled.
    morning = Dialer(_ivr(ari, settings), db, clock=lambda: TUESDAY_MORNING)
    try:
        [attempt] = await morning.poll()
        assert attempt.callback_id == callback_id
        assert await asyncio.wait_for(originated.get(), 5) == "PJSIP/13800138000@trunk"
    finally:
        await morning.close()


async def test_given_a_backlog_past_the_window_then_none_is_dialled_at_night(
    db: Database, fake_ari: TestServer, ari: AriClient, settings: Settings
) -> None:
    """More due callbacks than the concurrency: polls after the window closed dial none."""
    for _ in range(settings.callback_concurrency * 3):
        await _callback(db, settings)
    dialer = Dialer(_ivr(ari, settings), db, clock=lambda: NIGHT)
    try:
        for _ in range(4):
            assert await dialer.poll() == []
        assert fake_ari.app[ORIGINATED].empty()
    finally:
        await dialer.close()


async def test_given_no_clock_then_claims_use_the_databases_now(db: Database) -> None:
    """What is due is decided by PostgreSQL's now(), whatever this host's clock says."""
    config = CallbackConfig()
    due = await create_callback(
        db, CallbackRequest("13800138000", None, "manual", MONDAY), config, MONDAY
    )
    later = await create_callback(
        db, CallbackRequest("13800138001", None, "manual", MONDAY), config, MONDAY
    )
    async with db.transaction() as session:
        await session.execute(
            text(
                "UPDATE callbacks SET next_attempt_at = now() - interval '1 second' "
                "WHERE callback_id = :id"
            ),
            {"id": due.callback_id},
        )
        await session.execute(
            text(
                "UPDATE callbacks SET next_attempt_at = now() + interval '1 hour' "
                "WHERE callback_id = :id"
            ),
            {"id": later.callback_id},
        )
    [attempt] = await claim_due(db, limit=10, pbx_id="pbx1", channel_id_for=channel_id_for)
    assert attempt.callback_id == due.callback_id
    async with db.transaction() as session:
        database_now = await session.scalar(text("SELECT now()"))
    assert isinstance(database_now, datetime)
    assert attempt.started_at.tzinfo is not None
    assert timedelta(0) <= database_now - attempt.started_at < timedelta(seconds=30)


# --- finding 5: a database outage longer than the old give-up -------------------------------


async def _attempt_row(db: Database, attempt_id: str) -> CallbackAttemptRow:
    async with db.transaction() as session:
        row = await session.scalar(
            select(CallbackAttemptRow).where(CallbackAttemptRow.attempt_id == attempt_id)
        )
        assert row is not None
        return row


async def _wait_for(condition: object, what: str, within: float = 20.0) -> None:
    assert callable(condition)
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_given_the_database_down_past_the_old_give_up_then_the_finish_is_written_on_return(
    db: Database,
    migrated_database_url: URL,
    ari: AriClient,
    settings: Settings,
    tmp_path: Path,
) -> None:
    assert len(FINISH_RETRY_SECONDS) + 1 <= OLD_GIVE_UP_WRITES
    callback_id = await _callback(db, settings)
    [attempt] = await claim_due(
        db, MONDAY, limit=1, pbx_id=settings.pbx_id, channel_id_for=channel_id_for
    )
    journal = Journal(tmp_path / "journal")
    async with database_behind_door(migrated_database_url) as (behind, door):
        ticks = _ticking(MONDAY + timedelta(seconds=40))
        dialer = Dialer(_ivr(ari, settings), behind, journal=journal, clock=lambda: next(ticks))
        dialer.finish_retry_seconds = (0.01, 0.02)
        dialer.finish_retry_cap_seconds = 0.05
        await door.shut()
        result = AttemptResult("no_answer", detail="hang-up cause 19")
        finishing = asyncio.create_task(dialer.finish(attempt, result))
        # Far more failed writes than the old dialer made before it gave up for good.
        await _wait_for(lambda: dialer.finish_retries > 3 * OLD_GIVE_UP_WRITES, "retries")
        assert not finishing.done(), "the dialer gave up while the database was down"
        assert dialer.finish_waiting == {attempt.attempt_id}
        # Meanwhile the journal holds the result, for a restart to reconcile with.
        entry = journal.read(attempt.attempt_id)
        assert entry is not None
        assert entry.outcome == "no_answer"
        assert (await _attempt_row(db, attempt.attempt_id)).state == "dialling"

        await door.open()
        await asyncio.wait_for(finishing, 10)
    row = await _attempt_row(db, attempt.attempt_id)
    assert (row.state, row.outcome) == ("finished", "no_answer")
    # The end is when the call ended (the clock's first reading), not when the write got in.
    assert row.ended_at == MONDAY + timedelta(seconds=40)
    assert journal.read(attempt.attempt_id) is None
    assert dialer.finish_waiting == set()
    stored = await get_callback(db, callback_id, CallbackConfig().zone)
    assert stored is not None
    assert stored["status"] == "pending"
    assert datetime.fromisoformat(stored["next_attempt_at"]) >= row.ended_at + timedelta(
        minutes=settings.callback_retry_minutes
    )


async def test_given_a_restart_during_the_outage_then_the_attempt_is_reconciled_with_its_outcome(
    db: Database,
    migrated_database_url: URL,
    ari: AriClient,
    settings: Settings,
    tmp_path: Path,
) -> None:
    await _callback(db, settings)
    [attempt] = await claim_due(
        db, MONDAY, limit=1, pbx_id=settings.pbx_id, channel_id_for=channel_id_for
    )
    journal = Journal(tmp_path / "journal")
    async with database_behind_door(migrated_database_url) as (behind, door):
        dialer = Dialer(_ivr(ari, settings), behind, journal=journal, clock=lambda: MONDAY)
        dialer.finish_retry_seconds = (0.01,)
        dialer.finish_retry_cap_seconds = 0.02
        await door.shut()
        dialer.start(attempt, dialer.finish(attempt, AttemptResult("busy", detail="cause 17")))
        await _wait_for(lambda: dialer.finish_retries > 2, "retries")
        await dialer.close()  # the agent stops while the database is still down
    # The next start, with the database back: the outcome is the real one, not "failed".
    async with connect(migrated_database_url) as again:
        restarted = Dialer(_ivr(ari, settings), again, journal=journal, clock=lambda: MONDAY)
        report = await reconcile(restarted)
    assert report.actions[attempt.attempt_id].startswith("finished busy")
    row = await _attempt_row(db, attempt.attempt_id)
    assert (row.state, row.outcome) == ("finished", "busy")
    assert journal.read(attempt.attempt_id) is None
