"""Retention of recordings against a real PostgreSQL and real files: old files are deleted,
rows marked purged with an audit row, calls keep their metadata, young recordings stay."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from ivr_agent.callbacks.attempts import AttemptResult, claim_due, finish_attempt
from ivr_agent.callbacks.jobs import CallbackRequest, create_callback
from ivr_agent.calls.store import get_call
from ivr_agent.core.callbacks import CallbackConfig, Window
from ivr_agent.db.database import Database
from ivr_agent.recordings.files import RecordingFile, store_recording
from ivr_agent.recordings.retention import RETENTION_ACTOR, purge_recordings, run_retention
from tests.integration.qa_support import make_wav, stored_call

pytestmark = pytest.mark.postgres

#: A callback due at once: every day, all day.
CONFIG = CallbackConfig(
    windows=(Window(time(0, 0), time(23, 59)),), working_days=frozenset(range(7))
)
MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class StoredRecording:
    """A recording on disk and its bytes."""

    file: RecordingFile
    wav: bytes


async def _age(db: Database, recording_id: str, days: float) -> None:
    async with db.transaction() as session:
        await session.execute(
            text(
                "UPDATE recordings SET created_at = now() - make_interval(secs => :s) "
                "WHERE recording_id = :id"
            ),
            {"s": days * 86400, "id": recording_id},
        )


async def _row(db: Database, recording_id: str) -> dict[str, object]:
    async with db.engine.connect() as conn:
        row = await conn.execute(
            text("SELECT status, purged_at FROM recordings WHERE recording_id = :id"),
            {"id": recording_id},
        )
        return dict(row.one()._mapping)


async def test_given_recordings_older_than_retention_then_files_go_and_metadata_stays(
    db: Database, tmp_path: Path
) -> None:
    old = await stored_call(db, tmp_path, "1700000000.1")
    young = await stored_call(db, tmp_path, "1700000000.2")
    corrupt_old = await stored_call(db, tmp_path, "1700000000.3", status="corrupt")
    await _age(db, old.recording_id, 181)
    await _age(db, corrupt_old.recording_id, 400)
    await _age(db, young.recording_id, 179)

    report = await purge_recordings(db, tmp_path, 180)

    assert sorted(report.purged) == sorted([old.recording_id, corrupt_old.recording_id])
    for gone in (old, corrupt_old):
        assert not (tmp_path / gone.file.path).exists()
        row = await _row(db, gone.recording_id)
        assert row["status"] == "purged"
        assert row["purged_at"] is not None
        call = await get_call(db, gone.call_id)
        assert call is not None
        assert call["holds"]  # the call's facts are kept
    assert (tmp_path / young.file.path).read_bytes() == young.wav
    assert (await _row(db, young.recording_id))["status"] == "ok"
    async with db.engine.connect() as conn:
        audits = (
            await conn.execute(
                text(
                    "SELECT actor, object, details FROM audit_log "
                    "WHERE action = 'recording.purge' ORDER BY object"
                )
            )
        ).all()
    assert sorted(a.object for a in audits) == sorted(report.purged)
    assert {a.actor for a in audits} == {RETENTION_ACTOR}
    assert {a.details["retention_days"] for a in audits} == {180}
    # A second run finds nothing more to do.
    assert (await purge_recordings(db, tmp_path, 180)).purged == []


async def test_given_a_file_already_gone_or_a_symlink_then_purged_or_refused_safely(
    db: Database, tmp_path: Path
) -> None:
    gone = await stored_call(db, tmp_path, "1700000000.4")
    linked = await stored_call(db, tmp_path, "1700000000.5")
    keep = tmp_path / "keep.txt"
    keep.write_text("not a recording")
    (tmp_path / gone.file.path).unlink()
    (tmp_path / linked.file.path).unlink()
    os.symlink(keep, tmp_path / linked.file.path)
    await _age(db, gone.recording_id, 365)
    await _age(db, linked.recording_id, 365)

    report = await purge_recordings(db, tmp_path, 180)

    assert report.purged == [gone.recording_id]
    assert report.refused == [linked.recording_id]
    assert keep.read_text() == "not a recording"  # never followed out of the directory
    assert (await _row(db, linked.recording_id))["status"] == "ok"


async def test_given_the_scheduled_task_then_it_purges_at_start_and_keeps_running(
    db: Database, tmp_path: Path
) -> None:
    old = await stored_call(db, tmp_path, "1700000000.6")
    await _age(db, old.recording_id, 10)
    clock = (datetime.now(UTC) + timedelta(days=200)).timestamp()
    task = asyncio.create_task(
        run_retention(db, tmp_path, 180, every_seconds=0.05, clock=lambda: clock)
    )
    try:
        for _ in range(100):
            if (await _row(db, old.recording_id))["status"] == "purged":
                break
            await asyncio.sleep(0.05)
        assert not task.done()
    finally:
        task.cancel()
    assert (await _row(db, old.recording_id))["status"] == "purged"
    assert not (tmp_path / old.file.path).exists()


async def _callback_recording(db: Database, data_dir: Path) -> StoredRecording:
    """A declined callback (an answered outcome) whose recording is on disk, as kept."""
    await create_callback(
        db, CallbackRequest("13800138000", None, "manual", MONDAY), CONFIG, MONDAY
    )
    (attempt,) = await claim_due(
        db, MONDAY, limit=1, pbx_id="pbx1", channel_id_for=lambda a: f"ivr-agent-cb-{a}"
    )
    wav = make_wav(1.0)
    file = store_recording(data_dir, wav)
    result = AttemptResult("declined", MONDAY + timedelta(seconds=2), {}, file)
    await finish_attempt(
        db, attempt.attempt_id, result, MONDAY + timedelta(seconds=20), config=CONFIG
    )
    return StoredRecording(file, wav)


async def test_given_old_callback_recordings_then_they_are_kept_unless_their_own_retention_says(
    db: Database, tmp_path: Path
) -> None:
    # S5: 回访通话必须保有录音. The inbound retention never reaches a callback's recording.
    kept = await _callback_recording(db, tmp_path)
    inbound = await stored_call(db, tmp_path, "1700000000.9")
    await _age(db, kept.file.recording_id, 4000)
    await _age(db, inbound.recording_id, 4000)

    report = await purge_recordings(db, tmp_path, 180)
    assert report.purged == [inbound.recording_id]
    assert (tmp_path / kept.file.path).read_bytes() == kept.wav
    assert (await _row(db, kept.file.recording_id))["status"] == "ok"

    # Their own setting purges them like the others, audited with that retention.
    report = await purge_recordings(db, tmp_path, 180, callback_retention_days=3650)
    assert report.purged == [kept.file.recording_id]
    assert not (tmp_path / kept.file.path).exists()
    async with db.engine.connect() as conn:
        details = (
            await conn.execute(
                text("SELECT details FROM audit_log WHERE object = :id"),
                {"id": kept.file.recording_id},
            )
        ).scalar_one()
    assert details["retention_days"] == 3650
    assert details["attempt_id"] is not None
