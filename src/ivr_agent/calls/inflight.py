"""The in-flight journal: the AMI events of the calls not finished yet, kept on disk.

The tracker holds a call in memory from its first event to its last Hangup. An agent killed
in between (SIGKILL, OOM, a host reboot) used to lose every call in flight: the new process
started empty, and a call that ended while it was down never got an outcome. This journal
closes that gap. Each event the tracker keeps is appended as one JSON line; when a call
finishes, a ``finished`` marker follows. A restarted agent reads the file back
(:meth:`InflightJournal.recover`), feeds the events of the calls still open to a fresh
tracker (the core is a pure function of its events, so the calls are rebuilt exactly) and
reconciles them with the channels the PBX lists: a call whose channels are gone is finished
``complete: false`` with the reason, one still live is tracked on.

Durability is chosen for a process crash, not a power loss: lines are written without fsync
(the kernel's page cache outlives the process), once per burst of events rather than per
event. Old lines are dropped by rewriting the file with only the open calls' lines once it
has grown well past them, so the file stays near the size of the calls in flight. A write
that fails (disk full) is counted and logged; the lines stay in memory and the whole file is
rewritten from memory when the disk accepts it again. Nothing here raises into the ingest
path.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import IO

from ivr_agent.platform.logging import get_logger

log = get_logger(__name__)

#: Rewrite the file once it holds this much more than the open calls' lines.
COMPACT_SLACK_BYTES = 1 << 20
#: After a failed write, how long to wait before rewriting the file from memory.
RETRY_SECONDS = 5.0

# The line format: a kind letter, then fields separated by the ASCII unit separator, which
# AMI never sends. A join of the event's names and values costs a fifth of json.dumps, on a
# path that runs for every event (benchmarks/README.md, ingest).
_SEP = "\x1f"
_EVENT, _FINISHED, _JSON = "E", "F", "J"


@dataclass
class JournalStats:
    """Counters of the in-flight journal (exported as metrics)."""

    lines_written: int = 0
    write_failures: int = 0
    compactions: int = 0
    #: Calls found open in the journal at start-up and handed back to the tracker.
    calls_recovered: int = 0
    #: Journal lines that could not be read back (torn by a crash, or not ours).
    lines_unreadable: int = 0


@dataclass
class _OpenCall:
    # Two flat lists rather than (seq, line) tuples: no object per line for the collector
    # to track, on a path that runs for every event.
    seqs: list[int] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    size: int = 0


#: Runs a callback soon, once the current burst of work is done (``loop.call_soon``).
Defer = Callable[[Callable[[], None]], object]


class InflightJournal:
    """Append-only journal of the events of the calls in flight on one PBX."""

    def __init__(self, path: Path, *, defer: Defer | None = None) -> None:
        """``defer``: how to write once per burst (the live agent passes its loop's
        ``call_soon``: every event of one AMI read is written by one ``write(2)``); without
        it each line is written at once."""
        self.path = path
        self._defer = defer
        self.stats = JournalStats()
        self._open: dict[str, _OpenCall] = {}
        self._seq = 0
        self._live_bytes = 0
        self._file_bytes = 0
        self._pending: list[str] = []
        self._flush_scheduled = False
        self._file: IO[str] | None = None
        #: Set after a failed write: the file no longer holds every open line.
        self._damaged_since: float | None = None

    # --- start-up -------------------------------------------------------------------------

    def recover(self) -> list[dict[str, str]]:
        """Read the journal left by the previous run; the events of its open calls, in order.

        Also opens the journal for this run (rewritten with just those events). Unreadable
        lines (a line torn by the crash) are counted and skipped.
        """
        if self.path.exists():
            self._read_back()
        self.stats.calls_recovered = len(self._open)
        self._rewrite()
        events: list[dict[str, str]] = []
        for _seq, line in self._ordered_lines():
            parsed = _parse(line)
            # Only whole event lines are kept.
            assert parsed is not None
            assert parsed[1] is not None
            events.append(parsed[1])
        return events

    def _read_back(self) -> None:
        # newline="\n": only our line ends end a line (a "\r" in a value is not one).
        with self.path.open(encoding="utf-8", errors="replace", newline="\n") as lines:
            for line in lines:
                entry = _parse(line)
                if entry is None:
                    self.stats.lines_unreadable += 1
                elif entry[1] is None:
                    self._drop(entry[0])
                else:
                    self._keep(entry[0], line)

    # --- the ingest path ------------------------------------------------------------------

    def record(self, linkedid: str, raw: Mapping[str, str]) -> None:
        """Keep one event of the call ``linkedid`` (a call the tracker is tracking)."""
        line = _event_line(linkedid, raw)
        self._keep(linkedid, line)
        self._append(line)

    def forget(self, linkedid: str) -> None:
        """The call ``linkedid`` finished: its events are no longer needed."""
        if self._drop(linkedid):
            self._append(f"{_FINISHED}{_SEP}{linkedid}\n")

    def maintain(self) -> None:
        """Compact the file, or repair it after a failed write (called from the tick)."""
        if self._damaged_since is not None:
            if time.monotonic() - self._damaged_since >= RETRY_SECONDS:
                self._rewrite()
        elif self._file_bytes > 2 * self._live_bytes + COMPACT_SLACK_BYTES:
            self._rewrite()

    def flush(self) -> None:
        """Write the lines recorded since the last flush (normally scheduled on its own)."""
        self._flush_scheduled = False
        if not self._pending or self._file is None:
            self._pending.clear()
            return
        chunk = "".join(self._pending)
        count = len(self._pending)
        self._pending.clear()
        if self._damaged_since is not None:
            return  # the next rewrite writes every open line from memory
        try:
            self._file.write(chunk)
            self._file.flush()
        except OSError as exc:
            self._failed("append", exc)
            return
        self._file_bytes += len(chunk)
        self.stats.lines_written += count

    def close(self) -> None:
        """Write what is pending and close the file (it is read back at the next start)."""
        self.flush()
        if self._file is not None:
            try:
                self._file.close()
            except OSError as exc:
                self._failed("close", exc)
            self._file = None

    # --- internal -------------------------------------------------------------------------

    def _keep(self, linkedid: str, line: str) -> None:
        call = self._open.get(linkedid)
        if call is None:
            call = self._open[linkedid] = _OpenCall()
        self._seq += 1
        call.seqs.append(self._seq)
        call.lines.append(line)
        size = len(line)  # characters: all ASCII but a rare caller name, close enough
        call.size += size
        self._live_bytes += size

    def _drop(self, linkedid: str) -> bool:
        call = self._open.pop(linkedid, None)
        if call is None:
            return False
        self._live_bytes -= call.size
        return True

    def _append(self, line: str) -> None:
        self._pending.append(line)
        if self._defer is None:
            self.flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self._defer(self.flush)

    def _ordered_lines(self) -> list[tuple[int, str]]:
        calls = self._open.values()
        return list(heapq.merge(*(zip(call.seqs, call.lines, strict=True) for call in calls)))

    def _rewrite(self) -> None:
        """Replace the file with the open calls' lines (atomically: a crash leaves the old
        file or the new one) and append to the new one from now on."""
        self._pending.clear()  # every line they hold is in memory and rewritten here
        partial = self.path.with_suffix(".partial")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
            lines = [line for _seq, line in self._ordered_lines()]
            with partial.open("w", encoding="utf-8", errors="replace", newline="\n") as out:
                out.writelines(lines)
            os.replace(partial, self.path)
            reopened = self.path.open("a", encoding="utf-8", errors="replace", newline="\n")
        except OSError as exc:
            self._failed("rewrite", exc)
            return
        if self._file is not None:
            with contextlib.suppress(OSError):  # its lines are all in the new file
                self._file.close()
        self._file = reopened
        self._file_bytes = sum(map(len, lines))
        self.stats.compactions += 1
        if self._damaged_since is not None:
            log.info("in-flight journal written again", path=str(self.path))
        self._damaged_since = None

    def _failed(self, what: str, exc: OSError) -> None:
        self.stats.write_failures += 1
        if self._damaged_since is None:
            log.warning(
                "in-flight journal not written: calls in flight would be lost if the agent "
                "died now; retrying",
                path=str(self.path),
                step=what,
                error=str(exc),
            )
        self._damaged_since = time.monotonic()


def _event_line(linkedid: str, raw: Mapping[str, str]) -> str:
    """One event's line: ``E␟linkedid␟name␟value…``, or ``J{json}`` when a field holds a
    separator or a line end (never seen from Asterisk; JSON escapes them)."""
    body = _SEP.join(chain.from_iterable(raw.items()))
    fields = len(raw) * 2
    if body.count(_SEP) == fields - 1 and _SEP not in linkedid and "\n" not in body + linkedid:
        return f"{_EVENT}{_SEP}{linkedid}{_SEP}{body}\n"
    return _JSON + json.dumps({"linkedid": linkedid, "event": raw}) + "\n"


def _parse(line: str) -> tuple[str, dict[str, str] | None] | None:
    """``(linkedid, event)`` of an event line, ``(linkedid, None)`` of a ``finished`` line,
    None when the line is not a whole line of ours (torn by a crash)."""
    if not line.endswith("\n"):
        return None
    kind, line = line[:1], line[1:-1]
    if kind == _JSON:
        return _parse_json(line)
    parts = line.split(_SEP)
    if kind == _FINISHED and len(parts) == 2 and not parts[0]:
        return parts[1], None
    if kind != _EVENT or len(parts) % 2 or parts[0]:
        return None
    return parts[1], dict(zip(parts[2::2], parts[3::2], strict=True))


def _parse_json(text: str) -> tuple[str, dict[str, str]] | None:
    try:
        entry = json.loads(text)
    except ValueError:
        return None
    if not isinstance(entry, dict):
        return None
    event, linkedid = entry.get("event"), entry.get("linkedid")
    if not isinstance(linkedid, str) or not isinstance(event, dict):
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in event.items()):
        return None
    return linkedid, event
