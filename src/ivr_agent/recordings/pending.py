"""Inbound recordings kept on disk whose row is not written yet (or whose PBX copy is not
deleted yet): a small fsync'd file each under ``DATA_DIR/recordings-pending/``.

Why: a recording's row needs the call's row, which the outbox writes — possibly much later
if PostgreSQL is down. Before, the recorder waited 300 s and then gave up: the file stayed
under the data dir with no row (never listed, never purged) and the PBX's copy was never
deleted. Now each recording is parked here *before* its row is tried, and leaves only when
the row is written and the PBX's copy deleted; :meth:`RecordingSettler.run_pending
<ivr_agent.recordings.settle.RecordingSettler.run_pending>` retries the parked ones
periodically (and at start-up, so a restart loses nothing either). Memory stays bounded:
the list lives on disk and a round reads at most ``MAX_PER_ROUND`` entries.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ivr_agent.platform.durable import write_json_durably
from ivr_agent.platform.logging import get_logger
from ivr_agent.recordings.files import RecordingFile, is_recording_id

log = get_logger(__name__)

#: Most parked recordings one retry round reads.
MAX_PER_ROUND = 500


@dataclass(frozen=True)
class PendingRecording:
    """A recording waiting for its row (and then for its PBX copy to be deleted)."""

    call_id: str
    file: RecordingFile
    #: When the recording started (Unix seconds, the PBX's event time), if it did.
    started_at: float | None
    #: The PBX's stored recording to delete once the row is written (None: nothing to delete).
    pbx_name: str | None
    #: When it was parked (Unix seconds).
    since: float
    row_written: bool = False
    #: ``call`` (the whole call) or ``suggestion`` (a caller's spoken suggestion).
    kind: str = "call"

    def with_(self, **changes: Any) -> PendingRecording:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)


class PendingRecordings:
    """The parked recordings of one data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.directory = data_dir / "recordings-pending"

    def _path(self, recording_id: str) -> Path:
        if not is_recording_id(recording_id):
            raise ValueError(f"recording id {recording_id!r} is not an opaque id")
        return self.directory / f"{recording_id}.json"

    def put(self, entry: PendingRecording) -> None:
        """Park (or update) ``entry``; durable when this returns."""
        write_json_durably(self._path(entry.file.recording_id), asdict(entry))

    def remove(self, recording_id: str) -> None:
        """Forget a recording whose row is written and PBX copy deleted."""
        self._path(recording_id).unlink(missing_ok=True)

    def entries(self, limit: int = MAX_PER_ROUND) -> list[PendingRecording]:
        """Up to ``limit`` parked recordings, oldest file first (unreadable ones skipped)."""
        if not self.directory.is_dir():
            return []
        paths = sorted(self.directory.glob("*.json"), key=_mtime)[:limit]
        found = []
        for path in paths:
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
                raw["file"] = RecordingFile(**raw["file"])
                found.append(PendingRecording(**raw))
            except FileNotFoundError:
                continue
            except (OSError, ValueError, TypeError, KeyError) as exc:
                log.warning("inbound_recording_pending_unreadable", path=path.name, error=str(exc))
        return found

    def count(self) -> int:
        """How many recordings are parked."""
        return len(list(self.directory.glob("*.json"))) if self.directory.is_dir() else 0


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
