"""The outbox: finished calls are spooled to disk first, then written to PostgreSQL.

A call's outcome is appended to ``DATA_DIR/spool/outbox.jsonl`` and fsync'd before
:meth:`Outbox.put` returns, so an outcome survives PostgreSQL being down and the agent
being killed. A background writer saves spooled outcomes in order (``save_outcome`` is
idempotent, keyed on PBX id + linkedid), retrying with capped backoff while the database is
unreachable; the committed position is kept in ``outbox.offset``. When everything is
written the spool is truncated. Replaying the spool twice changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import typing
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from ivr_agent.calls.store import save_outcome
from ivr_agent.core.callbacks import CallbackConfig
from ivr_agent.core.outcome import CallOutcome, HoldInterval, PromptPlayed
from ivr_agent.core.timeline import TimelineEvent
from ivr_agent.db.database import Database
from ivr_agent.db.errors import StoreError
from ivr_agent.platform.backoff import Backoff
from ivr_agent.platform.logging import get_logger

log = get_logger(__name__)

_DATETIME_FIELDS = frozenset(
    f.name
    for f in fields(CallOutcome)
    if "datetime" in str(typing.get_type_hints(CallOutcome).get(f.name))
)


def _when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def outcome_from_json(data: dict[str, Any]) -> CallOutcome:
    """The inverse of ``CallOutcome.to_json()`` (times parsed, holds and prompts rebuilt)."""
    known = {f.name for f in fields(CallOutcome)}  # "extra" included when the caller gives it
    values: dict[str, Any] = {k: v for k, v in data.items() if k in known}
    for name in _DATETIME_FIELDS & values.keys():
        values[name] = _when(values[name])
    values["holds"] = tuple(
        HoldInterval(
            started_at=datetime.fromisoformat(h["started_at"]),
            ended_at=_when(h["ended_at"]),
            seconds=h["seconds"],
            reminders_played=h["reminders_played"],
        )
        for h in data.get("holds", ())
    )
    values["prompts_played"] = tuple(
        PromptPlayed(**{**p, "at": datetime.fromisoformat(p["at"])})
        for p in data.get("prompts_played", ())
    )
    return CallOutcome(**values)


def timeline_from_json(data: list[dict[str, Any]]) -> tuple[TimelineEvent, ...]:
    """The inverse of ``TimelineEvent.to_json()`` for a whole timeline."""
    return tuple(
        TimelineEvent(
            at=datetime.fromisoformat(e["at"]),
            kind=e["kind"],
            channel=e["channel"],
            details=e["details"],
        )
        for e in data
    )


@dataclass
class OutboxStats:
    """What the outbox has done (exported as metrics)."""

    spooled: int = 0
    written: int = 0
    write_failures: int = 0
    pending: int = 0


class Outbox:
    """Durable hand-over of finished calls from the tracker to PostgreSQL."""

    def __init__(
        self,
        spool_dir: Path,
        *,
        backoff_initial: float = 0.5,
        backoff_cap: float = 30.0,
        callbacks: CallbackConfig | None = None,
    ) -> None:
        # Set: abandoned inbound calls get their callback when saved (callbacks/jobs.py).
        self.callbacks = callbacks
        spool_dir.mkdir(parents=True, exist_ok=True)
        self.spool = spool_dir / "outbox.jsonl"
        self.offset_file = spool_dir / "outbox.offset"
        self.backoff = Backoff(base=backoff_initial, cap=backoff_cap)
        self.stats = OutboxStats()
        self._wake = asyncio.Event()
        self._spool_file = self.spool.open("ab")
        self.stats.pending = len(self._unwritten()[0])

    def put(self, outcome: CallOutcome, timeline: typing.Sequence[TimelineEvent]) -> None:
        """Spool one finished call durably (fsync) and wake the writer."""
        record = {
            "outcome": outcome.to_json(),
            "extra": outcome.extra,
            "timeline": [e.to_json() for e in timeline],
        }
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        self._spool_file.write(line.encode())
        self._spool_file.flush()
        os.fsync(self._spool_file.fileno())
        self.stats.spooled += 1
        self.stats.pending += 1
        self._wake.set()

    def _offset(self) -> int:
        try:
            return int(self.offset_file.read_text() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def _commit_offset(self, offset: int) -> None:
        temporary = self.offset_file.with_suffix(".tmp")
        with temporary.open("w") as out:
            out.write(str(offset))
            out.flush()
            os.fsync(out.fileno())
        temporary.replace(self.offset_file)

    def _unwritten(self) -> tuple[list[tuple[int, bytes]], int]:
        """Complete spooled lines after the committed offset, each with its end offset."""
        offset = self._offset()
        with self.spool.open("rb") as spool:
            spool.seek(offset)
            data = spool.read()
        lines, position = [], offset
        for raw in data.splitlines(keepends=True):
            if not raw.endswith(b"\n"):
                break  # a line still being written (or torn by a crash): not yet ours
            position += len(raw)
            lines.append((position, raw))
        return lines, offset

    async def drain(self, db: Database) -> int:
        """Write every spooled call not yet written; return how many. Raises StoreError."""
        lines, _ = self._unwritten()
        for end, raw in lines:
            try:
                record = json.loads(raw)
                outcome = outcome_from_json({**record["outcome"], "extra": record.get("extra", {})})
                timeline = timeline_from_json(record["timeline"])
            except (ValueError, KeyError, TypeError) as exc:
                # A corrupt line must not block every later call: keep it aside, go on.
                self._quarantine(raw, exc)
            else:
                await save_outcome(db, outcome, timeline, callbacks=self.callbacks)
                self.stats.written += 1
            self._commit_offset(end)
            self.stats.pending = max(0, self.stats.pending - 1)
        self._compact()
        return len(lines)

    def _quarantine(self, raw: bytes, exc: Exception) -> None:
        with (self.spool.parent / "outbox.rejected").open("ab") as rejected:
            rejected.write(raw)
        log.error("unreadable outbox record set aside", error=str(exc))

    def _compact(self) -> None:
        # Everything written: start the spool afresh so it never grows without bound.
        if self._offset() == self.spool.stat().st_size and self._offset() > 0:
            self._spool_file.truncate(0)
            self._spool_file.seek(0)
            self._commit_offset(0)

    async def run(self, db: Database) -> None:
        """Write spooled calls as they come, until cancelled; back off while the DB is down."""
        while True:
            try:
                await self.drain(db)
                self.backoff.reset()
            except StoreError as exc:
                self.stats.write_failures += 1
                delay = self.backoff.next_delay()
                log.warning("outbox write failed; will retry", error=str(exc), retry_in=delay)
                await asyncio.sleep(delay)
                continue
            self._wake.clear()
            if not self._unwritten()[0]:
                await self._wake.wait()

    def close(self) -> None:
        """Close the spool file (spooled calls stay for the next start)."""
        self._spool_file.close()
