"""Captured AMI streams: one JSON object per event, every raw field plus ``received_at``.

``ivr-agent run --capture FILE`` writes them; ``ivr-agent replay FILE`` and the unit tests
read them back (fixtures under ``tests/fixtures/captures/``, named after their scenario).
``received_at`` is this machine's receive time (ISO 8601, UTC) and is informational only:
the tracker takes every time from the event's own ``Timestamp``, so a replay is exact.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

RECEIVED_AT = "received_at"


class CaptureFormatError(ValueError):
    """A capture line is not a JSON object of AMI fields; the message names the line."""


def capture_line(fields: dict[str, Any], received_at: float) -> str:
    """One capture line for an event received at ``received_at`` (epoch seconds)."""
    stamped = {**fields, RECEIVED_AT: datetime.fromtimestamp(received_at, UTC).isoformat()}
    return json.dumps(stamped, ensure_ascii=False, separators=(",", ":")) + "\n"


class CaptureWriter:
    """Appends events to a capture file, flushing each line (a crash loses at most one)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("a", encoding="utf-8")
        self.path = path

    def write(self, fields: dict[str, Any], received_at: float) -> None:
        """Append one event."""
        self._file.write(capture_line(fields, received_at))
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def read_capture(path: Path) -> Iterator[dict[str, str]]:
    """The events of a capture, in order, without ``received_at``; lists joined by newlines.

    Raises :class:`CaptureFormatError` naming the file and line of anything unreadable.
    """
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CaptureFormatError(f"{path}:{number}: not JSON ({exc.msg})") from None
            if not isinstance(raw, dict):
                raise CaptureFormatError(f"{path}:{number}: not a JSON object")
            raw.pop(RECEIVED_AT, None)
            yield {
                str(key): "\n".join(map(str, value)) if isinstance(value, list) else str(value)
                for key, value in raw.items()
            }
