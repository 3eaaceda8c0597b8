"""A small fsync'd file per live callback attempt: what the call has reached so far.

Why: the outcome of a callback is written to PostgreSQL only once, at the end, together
with its verified recording (S5). If the agent dies mid-call, the keys the customer already
pressed and the recording's whereabouts would be lost with the process; the journal keeps
them under ``DATA_DIR/callbacks/`` so that reconciliation at start-up
(``callbacks/reconcile.py``) can resume the call or finish its outcome instead of guessing.
Each write replaces the file atomically (write, fsync, rename, fsync the directory); the
file is removed once the attempt is finished in the database.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ivr_agent.platform.durable import write_json_durably
from ivr_agent.platform.logging import get_logger
from ivr_agent.recordings import RecordingFile

log = get_logger(__name__)

_ATTEMPT_ID = re.compile(r"^[0-9A-Za-z\-]{1,64}$")


@dataclass(frozen=True)
class JournalEntry:
    """Progress of one attempt's call. Times are Unix seconds (wall clock of the PBX events)."""

    attempt_id: str
    answered_at: float | None = None
    recording_name: str | None = None
    recording_started_at: float | None = None
    consented: bool = False
    #: The "problem solved?" question was dealt with, and its answer (None: unknown).
    solved_asked: bool = False
    problem_solved: bool | None = None
    asked: int = 0
    scores: dict[str, int] = field(default_factory=dict)
    #: The playback running on the bridge (a restarted agent stops it before going on).
    playback_id: str | None = None
    #: Set once the script has ended (the call's outcome is known).
    outcome: str | None = None
    ended_at: float | None = None
    #: The call's recording, once kept under the data dir.
    stored: RecordingFile | None = None
    #: A specialist call-back (S8): when the customer answered (the moment S8 judges).
    reached_at: float | None = None

    def with_(self, **changes: Any) -> JournalEntry:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)


class Journal:
    """The journal files of one data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.directory = data_dir / "callbacks"
        #: Entries the disk refused (see :meth:`write`).
        self.write_failures = 0

    def _path(self, attempt_id: str) -> Path:
        if not _ATTEMPT_ID.fullmatch(attempt_id):
            raise ValueError(f"attempt id {attempt_id!r} is not a plain id")
        return self.directory / f"{attempt_id}.json"

    def write(self, entry: JournalEntry) -> bool:
        """Replace the attempt's file with ``entry``; durable when this returns True.

        False when the disk refused it (full, I/O error): logged, never raised, so the call
        goes on and ends properly; only its crash safety is lost until a write works again.
        """
        try:
            write_json_durably(self._path(entry.attempt_id), asdict(entry))
        except OSError as exc:
            self.write_failures += 1
            log.warning("callback_journal_not_written", attempt_id=entry.attempt_id, error=str(exc))
            return False
        return True

    def read(self, attempt_id: str) -> JournalEntry | None:
        """The attempt's last entry, or None (no file, or one that cannot be read)."""
        try:
            raw = json.loads(self._path(attempt_id).read_text(encoding="utf-8"))
            stored = raw.pop("stored", None)
            entry = JournalEntry(**raw)
            return entry.with_(stored=RecordingFile(**stored)) if stored else entry
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            log.warning("callback_journal_unreadable", attempt_id=attempt_id, error=str(exc))
            return None

    def remove(self, attempt_id: str) -> None:
        """Forget the attempt (its outcome is in the database)."""
        self._path(attempt_id).unlink(missing_ok=True)

    def instance_id(self) -> str:
        """The id of the dialer keeping this journal (made once, kept in its directory).

        One per data dir: a restarted agent is the same dialer (its journal is here), so its
        attempts stay its own; another agent, even with the same ``pbx_id``, is another.
        """
        path = self.directory / "instance-id"
        try:
            found = path.read_text(encoding="ascii").strip()
            if _ATTEMPT_ID.fullmatch(found):
                return found
        except (OSError, ValueError):
            pass
        made = uuid.uuid4().hex
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o750)
        partial = path.with_suffix(".partial")
        partial.write_text(made, encoding="ascii")
        os.replace(partial, path)
        return made

    def attempt_ids(self) -> list[str]:
        """Attempts that have a journal file."""
        if not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob("*.json"))
