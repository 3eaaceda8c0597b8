"""An inbound recording whose call row comes late, or whose database is down, is never
orphaned (issue 14, finding 5).

Before: the recorder waited 300 s for the call's row, then gave up — the file stayed under
the data dir with no row and the PBX's copy was never deleted. Here a real PostgreSQL is
made unreachable (a relay in front of it is shut) for longer than the recorder's own wait
(shortened from 300 s), with a fake ARI serving the recording; the recording is parked and
settled later — after the database returns and the call's row is written, and across a
restart of the recorder. And a recording that ended while no agent ran (its file left in
the PBX's spool) is found and kept by the next agent, its start counted back from the
call's end.
"""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select
from sqlalchemy.engine import URL

from ivr_agent.calls.store import save_outcome
from ivr_agent.core.commands import StartRecording
from ivr_agent.db.database import Database
from ivr_agent.db.models import RecordingRow
from ivr_agent.pbx.ari import AriClient, AriTarget
from ivr_agent.pbx.session import Ivr
from ivr_agent.pbx.stasis import StasisRouter
from ivr_agent.recordings import takeover as takeover_module
from ivr_agent.recordings.inbound import InboundRecorder, LiveRecording
from ivr_agent.recordings.takeover import RecordingTakeover
from ivr_agent.settings import Settings, load_settings
from tests.support.ivr import FileCatalogue
from tests.support.outcomes import sample_outcome
from tests.support.pg_outage import database_behind_door

pytestmark = pytest.mark.postgres

LINKEDID = "1700000000.1"
NAME = f"ivr-agent-in-{LINKEDID}"
DELETED = web.AppKey("deleted", list[str])
DELETE_FAILS = web.AppKey("delete_fails", list[bool])
#: The spool's listing (``GET /recordings/stored``) and the recordings being written.
SPOOL = web.AppKey("spool", list[str])
RECORDING_NOW = web.AppKey("recording_now", set[str])


def _wav(seconds: float = 2.0) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * int(8000 * seconds))
    return out.getvalue()


async def _file(request: web.Request) -> web.Response:
    return web.Response(body=_wav(), content_type="audio/wav")


async def _stored(request: web.Request) -> web.Response:
    return web.json_response([{"name": n, "format": "wav"} for n in request.app[SPOOL]])


async def _stored_one(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name in request.app[SPOOL]:
        return web.json_response({"name": name, "format": "wav"})
    return web.json_response({"message": "Recording not found"}, status=404)


async def _live_recording(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name in request.app[RECORDING_NOW]:
        return web.json_response({"name": name, "state": "recording"})
    return web.json_response({"message": "Recording not found"}, status=404)


async def _delete(request: web.Request) -> web.Response:
    if request.app[DELETE_FAILS] and request.app[DELETE_FAILS].pop(0):
        return web.json_response({"message": "busy"}, status=500)
    request.app[DELETED].append(request.match_info["name"])
    return web.Response(status=204)


@pytest.fixture
async def fake_ari() -> AsyncIterator[TestServer]:
    """A PBX spool holding the call's recording; deletions are noted."""
    app = web.Application()
    app[DELETED] = []
    app[DELETE_FAILS] = []
    app[SPOOL] = []
    app[RECORDING_NOW] = set()
    app.router.add_get("/ari/recordings/stored", _stored)
    app.router.add_get("/ari/recordings/stored/{name}", _stored_one)
    app.router.add_get("/ari/recordings/live/{name}", _live_recording)
    app.router.add_get("/ari/recordings/stored/{name}/file", _file)
    app.router.add_delete("/ari/recordings/stored/{name}", _delete)
    async with TestServer(app, host="127.0.0.1") as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(_env_file=None, data_dir=tmp_path / "var")


@pytest.fixture
async def ari(fake_ari: TestServer) -> AsyncIterator[AriClient]:
    async with AriClient(AriTarget(str(fake_ari.make_url("")).rstrip("/"), "u", "p")) as client:
        yield client


def _recorder(ari: AriClient, db: Database, settings: Settings) -> InboundRecorder:
    ivr = Ivr(ari, StasisRouter(ari, settings.ari_app), FileCatalogue(frozenset()), settings)
    recorder = InboundRecorder(ivr, db)
    # 300 s and 60 s in the agent; the same logic, compressed.
    recorder.settler.call_row_wait_seconds = 0.3
    recorder.settler.call_row_retry_seconds = 0.02
    recorder.settler.pending_retry_seconds = 0.05
    return recorder


def _live() -> LiveRecording:
    call_id = sample_outcome(LINKEDID).call_id
    return LiveRecording(call_id=call_id, linkedid=LINKEDID, name=NAME, snoop_id="snoop-1")


async def _rows(db: Database) -> list[RecordingRow]:
    async with db.transaction() as session:
        return list((await session.scalars(select(RecordingRow))).all())


async def _until(condition: object, within: float = 10.0) -> None:
    assert callable(condition)
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_given_the_database_down_past_the_wait_then_the_recording_is_parked_and_settled_later(
    db: Database,
    migrated_database_url: URL,
    fake_ari: TestServer,
    ari: AriClient,
    settings: Settings,
) -> None:
    async with database_behind_door(migrated_database_url) as (behind, door):
        recorder = _recorder(ari, behind, settings)
        await door.shut()
        # The call ended and its recording finished while PostgreSQL is down.
        assert await recorder._keep(_live(), 1000.0, 1002.0) is None
        [parked] = recorder.settler.pending.entries()
        assert parked.call_id == _live().call_id
        assert parked.pbx_name == NAME
        assert not parked.row_written
        stored_file = settings.data_dir / parked.file.path
        assert stored_file.is_file()
        assert parked.file.status == "ok"
        assert fake_ari.app[DELETED] == [], "the PBX copy is the only other copy: kept"

        # The database is back, but the outbox has not written the call yet.
        await door.open()
        assert await recorder.settler.retry_pending() == 0
        assert recorder.settler.pending.count() == 1
        assert await _rows(db) == []

        # The call's row arrives: the next round writes the recording and cleans the PBX.
        await save_outcome(db, sample_outcome(LINKEDID))
        assert await recorder.settler.retry_pending() == 1
    [row] = await _rows(db)
    assert (row.recording_id, row.call_id, row.status) == (
        parked.file.recording_id,
        _live().call_id,
        "ok",
    )
    assert stored_file.is_file()
    assert fake_ari.app[DELETED] == [NAME]
    assert recorder.settler.pending.count() == 0
    assert recorder.stats["ok"] == 1


async def test_given_a_restart_while_parked_then_the_next_run_settles_it_and_retries_the_pbx(
    db: Database,
    migrated_database_url: URL,
    fake_ari: TestServer,
    ari: AriClient,
    settings: Settings,
) -> None:
    async with database_behind_door(migrated_database_url) as (behind, door):
        first = _recorder(ari, behind, settings)
        await door.shut()
        await first._keep(_live(), 1000.0, 1002.0)
        await first.close()  # the agent stops with the recording parked
    assert first.settler.pending.count() == 1

    await save_outcome(db, sample_outcome(LINKEDID))
    fake_ari.app[DELETE_FAILS].extend([True, True])  # the PBX refuses the delete twice
    second = _recorder(ari, db, settings)
    runner = asyncio.create_task(second.settler.run_pending())
    try:
        await _until(lambda: second.settler.pending.count() == 0)
    finally:
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
    [row] = await _rows(db)
    assert row.status == "ok"
    assert fake_ari.app[DELETED] == [NAME]
    assert second.stats["unparked"] == 1


async def test_given_the_pbx_refusing_the_delete_then_only_the_delete_is_retried(
    db: Database, fake_ari: TestServer, ari: AriClient, settings: Settings
) -> None:
    await save_outcome(db, sample_outcome(LINKEDID))
    fake_ari.app[DELETE_FAILS].append(True)  # the PBX refuses the first delete
    recorder = _recorder(ari, db, settings)
    recorder.settler.call_row_wait_seconds = 0.0  # no second try within _keep: parked at once

    await recorder._keep(_live(), 1000.0, 1002.0)

    [parked] = recorder.settler.pending.entries()
    assert parked.row_written, "the row is written: the next round must not need the database"
    assert (await _rows(db))[0].status == "ok"
    assert fake_ari.app[DELETED] == []
    assert await recorder.settler.retry_pending() == 1
    assert fake_ari.app[DELETED] == [NAME]
    assert recorder.settler.pending.count() == 0
    assert recorder.stats["ok"] == 1, "the row was written once"


class _InFlight:
    """The tracker's calls in flight, as the take-over reads them."""

    def __init__(self, linkedids: set[str]) -> None:
        self.linkedids = linkedids

    def recordings_due(self) -> tuple[StartRecording, ...]:
        return ()

    def __contains__(self, linkedid: object) -> bool:
        return linkedid in self.linkedids


async def test_given_a_recording_left_in_the_spool_then_the_next_agent_keeps_it_and_only_it(
    db: Database, fake_ari: TestServer, ari: AriClient, settings: Settings
) -> None:
    # The caller hung up while no agent ran: the snoop's recording finished on the PBX and
    # nobody fetched it. Beside it: a call still in flight (its file is being written, or
    # its end is not known yet), a stored call whose recording is live (an agent this one
    # knows nothing of writes it), a file of a call this database does not hold, and a
    # file that is not ours.
    outcome = sample_outcome(LINKEDID)
    await save_outcome(db, outcome)
    await save_outcome(db, sample_outcome("1700000000.8"))
    fake_ari.app[SPOOL].extend(
        [
            NAME,
            "ivr-agent-in-1700000000.7",
            "ivr-agent-in-1700000000.8",
            "ivr-agent-in-1700000000.9",
            "voicemail-greeting",
        ]
    )
    fake_ari.app[RECORDING_NOW].add("ivr-agent-in-1700000000.8")
    recorder = _recorder(ari, db, settings)
    takeover = RecordingTakeover(recorder, _InFlight({"1700000000.7"}), catch_up=True)
    try:
        assert await takeover.sweep_spool() == 1
        await _until(lambda: fake_ari.app[DELETED] == [NAME])
        # Looked through again (the next sweep): nothing twice.
        assert await takeover.sweep_spool() == 0
    finally:
        await recorder.close()
    [row] = await _rows(db)
    assert (row.call_id, row.status, row.seconds) == (outcome.call_id, "ok", 2.0)
    # Placed where the recorder starts one: at the operator's answer.
    assert row.started_at == outcome.answered_at
    assert recorder.stats["left_over"] == 1
    assert recorder.settler.pending.count() == 0


async def test_given_a_call_finished_here_whose_recording_was_left_then_it_is_kept_for_its_row(
    db: Database,
    fake_ari: TestServer,
    ari: AriClient,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A restarted agent finishes, at the AMI resync, a call that ended while no agent ran:
    # the call asked for a recording this agent never made. Its row is the outbox's to
    # write (not there yet); the recording left in the spool is kept and waits for it.
    monkeypatch.setattr(takeover_module, "FINISH_GRACE_SECONDS", 0.0)
    fake_ari.app[SPOOL].append(NAME)
    recorder = _recorder(ari, db, settings)
    recorder.settler.call_row_wait_seconds = 30.0  # the keeping task waits for the row
    RecordingTakeover(recorder, _InFlight(set()), catch_up=True)
    try:
        assert recorder.on_unrecorded_end is not None
        recorder.call_finished(LINKEDID, _live().call_id, 1002.0, asked=True)
        await _until(lambda: recorder.settler.pending.count() == 1)
        outcome = sample_outcome(LINKEDID)
        await save_outcome(db, outcome)
        await _until(lambda: fake_ari.app[DELETED] == [NAME])
    finally:
        await recorder.close()
    [row] = await _rows(db)
    assert (row.call_id, row.status, row.started_at) == (outcome.call_id, "ok", outcome.answered_at)
    assert recorder.stats["left_over"] == 1
