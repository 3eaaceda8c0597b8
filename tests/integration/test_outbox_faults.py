"""The outbox under disk faults and crashes: no outcome lost, the writer never dies silently.

Real faults where the machine can make them: a directory where the outbox writes a file
(the open fails with an OSError), a full disk (a small tmpfs, root only), a line torn by a
crash (written by hand). Mocks only for a crash at an exact step of compaction and to watch
which thread calls ``os.fsync``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ivr_agent.calls.outbox import Outbox
from ivr_agent.core.outcome import CallOutcome
from ivr_agent.core.timeline import TimelineEvent
from ivr_agent.db.database import Database, connect
from ivr_agent.db.errors import StoreError
from ivr_agent.db.models import CallRow
from tests.support.outcomes import T0, sample_outcome
from tests.support.waiting import until

pytestmark = pytest.mark.postgres
UNREACHABLE = "postgresql+asyncpg://nobody:x@127.0.0.1:1/none"
Disk = tuple[Path, Callable[[], None], Callable[[], None]]


class Crash(BaseException):
    """The agent dies here (nothing after this step runs)."""


def _call(n: int) -> tuple[CallOutcome, list[TimelineEvent]]:
    start = T0 + timedelta(seconds=10 * n)
    outcome = sample_outcome(f"1763863300.{n}", start=start)
    return outcome, [TimelineEvent(start, "offered", "PJSIP/100-1", {"caller": "张三"})]


def _ids(*ns: int) -> set[str]:
    return {f"1763863300.{n}" for n in ns}


async def _stored(db: Database) -> set[str]:
    async with db.sessions() as session:
        return set(await session.scalars(select(CallRow.linkedid)))


async def _count(db: Database) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(CallRow)) or 0)


async def _stored_all(db: Database, ids: set[str], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not ids <= await _stored(db):
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def _writer(outbox: Outbox, db: Database) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(outbox.run(db))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# -- finding 2: a disk error does not end the writer ------------------------------------------


async def test_given_the_offset_commit_fails_once_then_the_writer_keeps_draining(
    tmp_path: Path, db: Database
) -> None:
    outbox = Outbox(tmp_path / "spool", backoff_initial=0.01, backoff_cap=0.05)
    blocker = outbox.offset_file.with_suffix(".tmp")
    blocker.mkdir()  # the offset commit's open() fails: a real OSError (IsADirectoryError)
    async with _writer(outbox, db) as writer:
        outbox.put(*_call(1))
        await until(lambda: outbox.stats.disk_failures >= 2)  # several attempts fail meanwhile
        assert not writer.done()
        assert not outbox.healthy
        assert "spool" in (outbox.problem or "")
        blocker.rmdir()  # the disk is back
        outbox.put(*_call(2))
        await _stored_all(db, _ids(1, 2))
        await until(lambda: outbox.healthy and outbox.stats.pending == 0)
        assert not writer.done()
    assert await _count(db) == 2
    outbox.close()


async def test_given_quarantine_fails_then_the_writer_survives_and_sets_the_line_aside_later(
    tmp_path: Path, db: Database
) -> None:
    outbox = Outbox(tmp_path / "spool", backoff_initial=0.01, backoff_cap=0.05)
    outbox.put(*_call(1))
    with outbox.spool.open("ab") as spool:
        spool.write(b"not json\n")
    rejected = tmp_path / "spool" / "outbox.rejected"
    rejected.mkdir()  # setting the bad line aside fails
    async with _writer(outbox, db) as writer:
        await until(lambda: outbox.stats.disk_failures >= 2)  # several attempts fail meanwhile
        assert not writer.done()
        rejected.rmdir()
        outbox.put(*_call(2))
        await _stored_all(db, _ids(1, 2))
        await until(lambda: outbox.stats.pending == 0)
    assert rejected.read_bytes() == b"not json\n"
    outbox.close()


async def test_given_a_spooled_time_without_a_zone_then_it_is_set_aside_not_fatal(
    tmp_path: Path, db: Database
) -> None:
    outbox = Outbox(tmp_path / "spool")
    outbox.put(*_call(1))
    naive = outbox.spool.read_bytes().replace(b"+08:00", b"")
    with outbox.spool.open("ab") as spool:
        spool.write(naive)  # the same call, every time without its zone
    outbox.put(*_call(2))
    assert await outbox.drain(db) == 3
    assert await _stored(db) == _ids(1, 2)
    assert (tmp_path / "spool" / "outbox.rejected").read_bytes() == naive
    outbox.close()


# -- finding 3: crash windows of the spool ----------------------------------------------------


@pytest.mark.parametrize("step", ["offset reset", "truncation"])
async def test_given_a_crash_in_compaction_then_no_later_outcome_is_skipped(
    tmp_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    outbox = Outbox(tmp_path / "spool")
    for n in range(3):
        outbox.put(*_call(n))
    real_commit, real_truncate = Outbox._commit_offset, os.ftruncate

    def commit(self: Outbox, offset: int) -> None:
        if offset == 0 and step == "offset reset":
            raise Crash
        real_commit(self, offset)

    def truncate(fd: int, length: int) -> None:
        if length == 0 and step == "truncation":
            raise Crash
        real_truncate(fd, length)

    monkeypatch.setattr(Outbox, "_commit_offset", commit)
    monkeypatch.setattr(os, "ftruncate", truncate)
    with pytest.raises(Crash):
        await outbox.drain(db)  # writes calls 0-2, then dies while emptying the spool
    monkeypatch.undo()
    outbox.close()

    # The agent restarts on the same spool; three more calls finish (same line lengths).
    restarted = Outbox(tmp_path / "spool")
    for n in range(3, 6):
        restarted.put(*_call(n))
    await restarted.drain(db)
    assert await _stored(db) == _ids(*range(6))
    assert await _count(db) == 6
    assert restarted.stats.pending == 0
    assert not (tmp_path / "spool" / "outbox.rejected").exists()
    restarted.close()


async def test_given_a_line_torn_by_a_crash_then_it_is_trimmed_and_the_next_call_is_stored(
    tmp_path: Path, db: Database
) -> None:
    outbox = Outbox(tmp_path / "spool")
    outbox.put(*_call(1))
    outbox.close()
    with (tmp_path / "spool" / "outbox.jsonl").open("ab") as spool:
        spool.write(b'{"outcome": {"call_id"')  # the agent died in the middle of a write

    restarted = Outbox(tmp_path / "spool")
    assert restarted.stats.pending == 1
    restarted.put(*_call(2))
    assert await restarted.drain(db) == 2
    assert await _stored(db) == _ids(1, 2)
    assert not (tmp_path / "spool" / "outbox.rejected").exists()
    restarted.close()


# -- findings 2 and 8: a full disk; the spool's limit; fsync off the event loop ---------------


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Disk]:
    """A 256 KiB tmpfs: (directory, fill it up, free it again). Root only."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], check=True)
    filler = mount / "filler"

    def fill() -> None:
        with filler.open("ab", buffering=0) as out:
            for size in (4096, 1):
                with contextlib.suppress(OSError):
                    while True:
                        out.write(b"x" * size)

    try:
        yield mount, fill, filler.unlink
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_given_a_full_disk_then_put_keeps_the_outcome_until_the_disk_is_back(
    full_disk: Disk, db: Database
) -> None:
    mount, fill, free = full_disk
    outbox = Outbox(mount / "spool")
    outbox.put(*_call(1))
    fill()  # the spool's last page still has room for about one line: then a torn write
    for n in range(2, 6):
        outbox.put(*_call(n))  # does not raise into the AMI reader / timer tick
    spooled = outbox.spool.read_bytes()
    assert spooled.endswith(b"\n")  # a partly written line was cut off again
    assert outbox.held >= 2
    assert spooled.count(b"\n") + outbox.held == 5
    assert outbox.stats.pending == 5
    assert outbox.stats.disk_failures >= 1
    async with connect(UNREACHABLE) as down:
        with pytest.raises(StoreError):
            await outbox.drain(down)  # PostgreSQL down too: still held, not lost
        assert outbox.held >= 2
        free()
        with pytest.raises(StoreError):
            await outbox.drain(down)  # the disk is back: held outcomes reach the spool
    assert outbox.held == 0
    assert outbox.spool.read_bytes().count(b"\n") == 5
    assert await outbox.drain(db) == 5
    assert await _stored(db) == _ids(1, 2, 3, 4, 5)
    outbox.close()


async def test_given_a_full_disk_and_the_database_up_then_held_outcomes_go_straight_to_it(
    full_disk: Disk, db: Database
) -> None:
    mount, fill, _ = full_disk
    outbox = Outbox(mount / "spool", backoff_initial=0.01, backoff_cap=0.05)
    async with _writer(outbox, db):
        fill()
        for n in range(3):
            outbox.put(*_call(n))
        await _stored_all(db, _ids(0, 1, 2))
        await until(lambda: outbox.stats.pending == 0)
        assert outbox.held == 0
        assert not outbox.healthy  # the spool still cannot take a line: say so
    outbox.close()


async def test_given_the_spool_limit_then_outcomes_are_held_and_still_stored(
    tmp_path: Path, db: Database
) -> None:
    outbox = Outbox(tmp_path / "spool", spool_limit=4096)
    for n in range(4):
        outbox.put(*_call(n))
    assert outbox.spool.stat().st_size <= 4096
    assert outbox.held >= 1
    await outbox.drain(db)
    assert await _stored(db) == _ids(0, 1, 2, 3)
    assert outbox.held == 0
    outbox.close()


async def test_given_puts_and_drains_then_no_fsync_runs_on_the_event_loop(
    tmp_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_thread = threading.get_ident()
    on_loop: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if threading.get_ident() == loop_thread:
            on_loop.append(fd)
        real_fsync(fd)

    outbox = Outbox(tmp_path / "spool")
    monkeypatch.setattr(os, "fsync", fsync)
    async with _writer(outbox, db):
        for n in range(20):
            outbox.put(*_call(n))
        await _stored_all(db, _ids(*range(20)))
        await until(lambda: outbox.stats.pending == 0 and outbox.spool.stat().st_size == 0)
    assert on_loop == []
    assert outbox.stats.written == 20
    monkeypatch.undo()
    outbox.close()
