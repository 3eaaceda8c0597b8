"""The outbox: finished calls are spooled to disk first, then written to PostgreSQL.

:meth:`Outbox.put` appends a call's outcome line to ``DATA_DIR/spool/outbox.jsonl`` with
one ``write`` (no fsync: it runs on the event loop, inside the AMI reader or the timer
tick); from then on the outcome survives the agent being killed. The background writer
(:meth:`Outbox.run`) makes the spool durable (fsync, in a worker thread, one for all lines
spooled since the last: a group commit), then saves the durable lines in order
(``save_outcome`` is idempotent, keyed on PBX id + linkedid), reading the spool from the
committed position in chunks and in a worker thread, and commits the position
(``outbox.offset``) after each chunk. When everything is written the spool is emptied:
the position is reset durably first, then the file truncated, so a crash at any step
replays written lines (harmlessly) but never skips one. Replaying the spool twice changes
nothing.

Nothing is lost to a disk fault: when the spool cannot take a line (disk full, I/O error,
or the spool has reached :data:`SPOOL_LIMIT_BYTES`) the outcome is held in memory (at most
:data:`MEMORY_LIMIT` of them) and ``put`` returns normally; the writer retries the spool,
and while the spool stays unwritable it saves held outcomes straight to PostgreSQL. A
failed attempt of any kind is logged and counted, and the writer backs off and retries:
it only stops when cancelled. :attr:`Outbox.healthy` / :attr:`Outbox.problem` say when it
is not doing its job (for ``/readyz``). A line torn by a crash is trimmed when the spool is
opened.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import threading
import time
import typing
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ivr_agent.calls.spool_format import decode_line, encode_line
from ivr_agent.calls.writes import save_outcome, save_outcomes
from ivr_agent.core.callbacks import CallbackConfig
from ivr_agent.core.config import StandardsConfig
from ivr_agent.core.outcome import CallOutcome
from ivr_agent.core.timeline import TimelineEvent
from ivr_agent.db.database import Database
from ivr_agent.db.errors import StoreError
from ivr_agent.platform.backoff import Backoff
from ivr_agent.platform.health import Component, State
from ivr_agent.platform.logging import get_logger

log = get_logger(__name__)
_R = typing.TypeVar("_R")

SPOOL_LIMIT_BYTES = 256 * 2**20
#: Outcomes held in memory while the spool cannot take them (about 25 MiB at most); beyond
#: it an outcome is lost, logged and counted (``stats.lost``).
MEMORY_LIMIT = 10_000
#: How much of the spool one read takes (in a worker thread); the offset is committed once
#: per chunk (a few hundred outcomes).
READ_CHUNK_BYTES = 2**20
#: Outcomes saved in one transaction: under load a commit per call (and its round trips,
#: each waiting for a CPU the PBX keeps busy) was what the writer spent its time on.
SAVE_BATCH = 25
#: Outcomes pending with none written for this long: the writer counts as stuck.
STALL_SECONDS = 120.0


@dataclass
class OutboxStats:
    """What the outbox has done (exported as metrics)."""

    #: Outcomes accepted by :meth:`Outbox.put` (spooled, or held in memory).
    spooled: int = 0
    written: int = 0
    #: Failed attempts to write to PostgreSQL.
    write_failures: int = 0
    #: Outcomes accepted and not yet written (in the spool or held in memory).
    pending: int = 0
    #: Failed spool operations (write, fsync, read, offset commit, quarantine, compaction).
    disk_failures: int = 0
    #: Unreadable spool lines set aside in ``outbox.rejected``.
    rejected: int = 0
    #: Outcomes lost: memory limit reached, or not encodable (each logged as an error).
    lost: int = 0


class SpoolLimitError(OSError):
    """The spool has reached its size limit."""


class Outbox:
    """Durable hand-over of finished calls from the tracker to PostgreSQL."""

    def __init__(
        self,
        spool_dir: Path,
        *,
        backoff_initial: float = 0.5,
        backoff_cap: float = 30.0,
        callbacks: CallbackConfig | None = None,
        queue_callbacks: CallbackConfig | None = None,
        standards: StandardsConfig | None = None,
        spool_limit: int = SPOOL_LIMIT_BYTES,
        memory_limit: int = MEMORY_LIMIT,
    ) -> None:
        # Set: abandoned inbound calls get their callback when saved (callbacks/jobs.py).
        self.callbacks = callbacks
        # Set: callers who pressed 1 in the queue get their request when saved (S8).
        self.queue_callbacks = queue_callbacks
        # Set: a return call an operator answered answers its request's original call (S1).
        self.standards = standards
        spool_dir.mkdir(parents=True, exist_ok=True)
        self.spool = spool_dir / "outbox.jsonl"
        self.offset_file = spool_dir / "outbox.offset"
        self.rejected_file = spool_dir / "outbox.rejected"
        self.spool_limit = spool_limit
        self.memory_limit = memory_limit
        self.backoff = Backoff(base=backoff_initial, cap=backoff_cap)
        self.stats = OutboxStats()
        #: The writer's last failed attempt; None once an attempt works.
        self.last_error: str | None = None
        self._wake = asyncio.Event()
        # Outcome lines the spool could not take yet, oldest first.
        self._held: deque[bytes] = deque()
        # Why the spool cannot take lines now (None: it can).
        self._disk_error: str | None = None
        # Held by whoever appends to or truncates the spool: put() (without waiting: it
        # holds its line when a worker thread has the spool), the writer's worker threads
        # (held lines, compaction) and close().
        self._lock = threading.Lock()
        # Where a partly written line starts, when trimming it failed (trimmed before the
        # next append).
        self._trim_to: int | None = None
        self._running = False
        self._last_progress = time.monotonic()
        # The writer's file work (fsync, reads, offset commits) runs in a thread of its own,
        # not in the loop's shared default executor: there, under load, it queued behind the
        # inbound recordings' fsyncs and copies, and calls reached PostgreSQL 20 s after
        # their hang-up at 10 calls/s (benchmarks/load.py). One thread: the writer is
        # sequential anyway.
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ivr-agent-outbox")
        # At startup, before any connection exists: blocking here holds up nobody.
        self._fd = os.open(self.spool, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._size = self._trim_torn_line()
        self._committed = self._checked_offset()
        self.stats.pending = self._count_lines(self._committed, self._size)

    async def _in_thread(self, work: Callable[..., _R], *args: typing.Any) -> _R:
        """``work(*args)`` in the writer's own thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._io, functools.partial(work, *args))

    # -- opening ---------------------------------------------------------------------------

    def _trim_torn_line(self) -> int:
        """Cut a last line left without its newline by a crash; return the spool's size."""
        size = os.fstat(self._fd).st_size
        end = size
        while end > 0:
            start = max(0, end - 65536)
            block = os.pread(self._fd, end - start, start)
            newline = block.rfind(b"\n")
            if newline >= 0:
                end = start + newline + 1
                break
            end = start
        if end < size:
            os.ftruncate(self._fd, end)
            os.fsync(self._fd)
            log.warning("torn last outbox line trimmed", offset=end, bytes=size - end)
        return end

    def _checked_offset(self) -> int:
        """The committed position, or 0 (replay all: harmless) if it is not a line end."""
        try:
            offset = int(self.offset_file.read_text() or 0)
        except (FileNotFoundError, ValueError):
            return 0
        if offset == 0 or (offset <= self._size and os.pread(self._fd, 1, offset - 1) == b"\n"):
            return offset
        log.warning("outbox offset is not a line end; replaying the spool", offset=offset)
        self._commit_offset(0)
        return 0

    def _count_lines(self, start: int, end: int) -> int:
        count = 0
        while start < end:
            block = os.pread(self._fd, min(READ_CHUNK_BYTES, end - start), start)
            if not block:
                break
            count += block.count(b"\n")
            start += len(block)
        return count

    # -- put: on the event loop -------------------------------------------------------------

    def put(self, outcome: CallOutcome, timeline: typing.Sequence[TimelineEvent]) -> None:
        """Spool one finished call and wake the writer. Never raises, never blocks on fsync.

        The line is appended with one ``write`` (it survives the agent being killed; the
        writer fsyncs it). When the spool cannot take it, the outcome is held in memory.
        """
        try:
            line = encode_line(outcome, timeline)
        except Exception:
            self.stats.lost += 1
            log.exception("outcome could not be encoded; lost", call_id=outcome.call_id)
            return
        if self._held or self._fd < 0 or not self._lock.acquire(blocking=False):
            self._hold(line)
            return
        try:
            self._append(line)
        except OSError as exc:
            self._disk_failed(exc)
            self._hold(line)
            return
        finally:
            self._lock.release()
        self._disk_ok()
        self.stats.spooled += 1
        self.stats.pending += 1
        self._wake.set()

    def _hold(self, line: bytes) -> None:
        if len(self._held) >= self.memory_limit:
            self.stats.lost += 1
            log.error(
                "outbox memory full: outcome lost",
                held=len(self._held),
                spool_error=self._disk_error,
                line=line[:200].decode(errors="replace"),
            )
            return
        self._held.append(line)
        self.stats.spooled += 1
        self.stats.pending += 1
        self._wake.set()

    @property
    def held(self) -> int:
        """Outcomes held in memory because the spool could not take them (not durable)."""
        return len(self._held)

    # -- disk steps: small, synchronous; run in a worker thread by the writer ---------------

    def _append(self, line: bytes) -> None:
        """Append one whole line, or nothing: a partial write is cut off again."""
        if self._size + len(line) > self.spool_limit:
            raise SpoolLimitError(
                errno.EFBIG, f"spool limit of {self.spool_limit // 2**20} MiB reached"
            )
        if self._trim_to is not None:
            os.ftruncate(self._fd, self._trim_to)
            self._size, self._trim_to = self._trim_to, None
        start = os.lseek(self._fd, 0, os.SEEK_END)
        done = 0
        try:
            while done < len(line):
                done += os.write(self._fd, line[done:])
        except OSError:
            if done:
                try:
                    os.ftruncate(self._fd, start)
                except OSError:
                    self._trim_to = start
            raise
        self._size = start + len(line)

    def _append_held(self) -> None:
        with self._lock:  # put() holds its lines meanwhile: they join the queue here
            while self._held:
                self._append(self._held[0])
                self._held.popleft()

    def _sync(self) -> int:
        """fsync the spool; return the size made durable."""
        size = os.fstat(self._fd).st_size
        os.fsync(self._fd)
        return size

    def _read(self, offset: int, end: int) -> list[tuple[int, bytes]]:
        """Complete lines from ``offset`` up to ``end`` (at most about one chunk)."""
        want = min(READ_CHUNK_BYTES, end - offset)
        while True:
            data = os.pread(self._fd, want, offset)
            last = data.rfind(b"\n")
            if last >= 0 or want >= end - offset:
                break
            want = min(want * 2, end - offset)  # a line longer than a chunk
        lines, position = [], offset
        for raw in data[: last + 1].splitlines(keepends=True):
            position += len(raw)
            lines.append((position, raw))
        return lines

    def _commit_offset(self, offset: int) -> None:
        temporary = self.offset_file.with_suffix(".tmp")
        with temporary.open("w") as out:
            out.write(str(offset))
            out.flush()
            os.fsync(out.fileno())
        temporary.replace(self.offset_file)
        self._fsync_dir()

    def _fsync_dir(self) -> None:
        # The rename is durable only once the directory is: without this a crash could
        # keep the old offset over a truncated spool.
        directory = os.open(self.spool.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def _set_aside(self, rejected: list[bytes], offset: int) -> None:
        """Quarantine unreadable lines (durably), then commit the position after them."""
        if rejected:
            with self.rejected_file.open("ab") as out:
                out.write(b"".join(rejected))
                out.flush()
                os.fsync(out.fileno())
        self._commit_offset(offset)

    def _compact(self, expected: int) -> bool:
        """Empty the spool if it still ends at ``expected`` (everything written).

        The position is reset durably before the spool is truncated: a crash in between
        replays written lines (idempotent), never skips a line spooled after.
        """
        with self._lock:
            if os.fstat(self._fd).st_size != expected or self._trim_to is not None:
                return False
            self._commit_offset(0)
            self._committed = 0
            os.ftruncate(self._fd, 0)
            self._size = 0
            return True

    # -- the writer ------------------------------------------------------------------------

    def _disk_failed(self, exc: OSError) -> None:
        self.stats.disk_failures += 1
        if self._disk_error is None:
            log.error(
                "outbox spool not writable; outcomes held in memory",
                error=str(exc),
                held=len(self._held) + 1,
            )
        self._disk_error = str(exc) or type(exc).__name__

    def _disk_ok(self) -> None:
        if self._disk_error is not None:
            log.info("outbox spool writable again", held=len(self._held))
            self._disk_error = None

    async def _persist(self) -> int:
        """Held lines into the spool, then fsync (group commit); return the durable size.

        A spool that cannot take the held lines is recorded, not raised (they stay held);
        a failed fsync raises OSError.
        """
        if self._held and self._fd >= 0:
            try:
                await self._in_thread(self._append_held)
            except OSError as exc:
                self._disk_failed(exc)
            else:
                self._disk_ok()
        return await self._in_thread(self._sync)

    async def drain(self, db: Database) -> int:
        """Write every spooled call not yet written; return how many lines were handled.

        Raises :class:`StoreError` (database) or OSError (spool); what was written before
        stays written. Outcomes held in memory go straight to the database while the spool
        cannot take them.
        """
        end = await self._persist()
        handled = 0
        while self._committed < end:
            lines = await self._in_thread(self._read, self._committed, end)
            if not lines:
                break  # only a line still being written: not yet ours
            handled += await self._write_lines(db, lines)
        if self._held and self._disk_error is not None:
            handled += await self._write_held(db)
        if not self._held and self._committed == end and end > 0:
            await self._in_thread(self._compact, end)
        self._last_progress = time.monotonic()
        return handled

    async def _write_lines(self, db: Database, lines: list[tuple[int, bytes]]) -> int:
        rejected: list[bytes] = []
        position, handled = self._committed, 0
        try:
            for first in range(0, len(lines), SAVE_BATCH):
                batch = lines[first : first + SAVE_BATCH]
                readable: list[tuple[CallOutcome, tuple[TimelineEvent, ...]]] = []
                unreadable: list[bytes] = []
                for _end, raw in batch:
                    try:
                        readable.append(decode_line(raw))
                    except (ValueError, KeyError, TypeError) as exc:
                        # A corrupt line must not block every later call: keep it aside.
                        log.error("unreadable outbox record set aside", error=str(exc))
                        unreadable.append(raw)
                if readable:
                    await self._save_batch(db, readable)
                    self.stats.written += len(readable)
                    self._last_progress = time.monotonic()
                rejected += unreadable
                position, handled = batch[-1][0], handled + len(batch)
        finally:
            if handled:
                await self._commit(rejected, position, handled)
        return handled

    async def _save_batch(
        self, db: Database, outcomes: list[tuple[CallOutcome, tuple[TimelineEvent, ...]]]
    ) -> None:
        """Save outcomes in one transaction: all or none (each save is idempotent, so a
        failed batch is simply tried again)."""
        async with db.transaction("save outcomes") as session:
            await save_outcomes(
                session,
                outcomes,
                callbacks=self.callbacks,
                queue_callbacks=self.queue_callbacks,
                standards=self.standards,
            )

    async def _commit(self, rejected: list[bytes], position: int, handled: int) -> None:
        await self._in_thread(self._set_aside, rejected, position)
        self._committed = position
        self.stats.rejected += len(rejected)
        self.stats.pending = max(0, self.stats.pending - handled)

    async def _write_held(self, db: Database) -> int:
        handled = 0
        while self._held and self._disk_error is not None:
            line = self._held[0]
            try:
                outcome, timeline = decode_line(line)
            except (ValueError, KeyError, TypeError) as exc:  # encoded by put(): a bug
                self.stats.lost += 1
                log.error("unreadable held outcome dropped", error=str(exc), line=line[:200])
            else:
                await save_outcome(
                    db,
                    outcome,
                    timeline,
                    callbacks=self.callbacks,
                    queue_callbacks=self.queue_callbacks,
                    standards=self.standards,
                )
                self.stats.written += 1
            self._held.popleft()
            self.stats.pending = max(0, self.stats.pending - 1)
            self._last_progress = time.monotonic()
            handled += 1
        return handled

    async def run(self, db: Database) -> None:
        """Write spooled calls as they come, until cancelled.

        Every failure (database down, disk full or failing, a bug) is logged and counted,
        then retried after a capped backoff; meanwhile newly spooled lines are still made
        durable. Only cancellation ends it.
        """
        self._running = True
        try:
            while True:
                self._wake.clear()
                try:
                    await self.drain(db)
                except StoreError as exc:
                    self.stats.write_failures += 1
                    self._failed(f"database: {exc}", exc)
                except OSError as exc:
                    self.stats.disk_failures += 1
                    self._failed(f"spool: {exc}", exc)
                except Exception as exc:
                    self._failed(f"unexpected: {type(exc).__name__}: {exc}", exc)
                    log.exception("outbox writer failed unexpectedly")
                else:
                    self.last_error = None
                    self.backoff.reset()
                    await self._wake.wait()
                    continue
                await self._pause(self.backoff.next_delay())
        finally:
            self._running = False

    def _failed(self, what: str, exc: Exception) -> None:
        self.last_error = what
        log.warning("outbox write failed; will retry", error=what, kind=type(exc).__name__)

    async def _pause(self, delay: float) -> None:
        """Sleep ``delay`` before a retry, still making newly spooled lines durable."""
        deadline = time.monotonic() + delay
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                async with asyncio.timeout(remaining):
                    await self._wake.wait()
            except TimeoutError:
                return
            self._wake.clear()
            try:
                await self._persist()
            except OSError as exc:
                self.stats.disk_failures += 1
                self._failed(f"spool: {exc}", exc)

    # -- health ----------------------------------------------------------------------------

    @property
    def problem(self) -> str | None:
        """Why the outbox is not doing its job now (safe to show), or None."""
        if not self._running:
            return "writer not running"
        if self._disk_error is not None:
            return f"spool: {self._disk_error}; {len(self._held)} outcome(s) held in memory"
        if self.last_error is not None:
            return self.last_error
        idle = time.monotonic() - self._last_progress
        if self.stats.pending and idle > STALL_SECONDS:
            return f"{self.stats.pending} outcome(s) pending, none written for {idle:.0f} s"
        return None

    @property
    def healthy(self) -> bool:
        """True while the writer runs, the spool takes lines and the database takes them."""
        return self.problem is None

    def readiness_probe(self, component: Component) -> Callable[[], Awaitable[None]]:
        """A ``/readyz`` probe that sets ``component`` from :attr:`problem`."""

        async def probe() -> None:
            problem = self.problem
            component.set(State.UP if problem is None else State.DOWN, problem or "")

        return probe

    def close(self) -> None:
        """Spool what is held in memory, fsync and close (spooled calls stay for the next
        start). Called at shutdown, so it may block."""
        if self._fd < 0:
            return
        # A worker thread of a cancelled drain may still have the spool: let it finish.
        locked = self._lock.acquire(timeout=5)
        try:
            while self._held:
                self._append(self._held[0])
                self._held.popleft()
            os.fsync(self._fd)
        except OSError as exc:
            self.stats.lost += len(self._held)
            log.error("outbox not fully saved at shutdown", error=str(exc), lost=len(self._held))
        finally:
            os.close(self._fd)
            self._fd = -1
            if locked:
                self._lock.release()
            # Its work left is a cancelled drain's, which finds the spool closed.
            self._io.shutdown(wait=False, cancel_futures=True)
