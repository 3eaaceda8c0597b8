"""Helpers of the QA replay tests: a real WAV, a stored call with a stored recording, and
raw HTTP requests whose paths no client library normalises."""

from __future__ import annotations

import asyncio
import math
import struct
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from ivr_agent.calls.store import save_outcome
from ivr_agent.core.outcome import CallOutcome
from ivr_agent.db.database import Database
from ivr_agent.qa.records import save_call_recording
from ivr_agent.recordings.files import RecordingFile, RecordingStatus, store_recording
from tests.support.outcomes import sample_outcome


def make_wav(seconds: float, rate: int = 8000, tone_hz: float = 440.0) -> bytes:
    """A 16-bit mono PCM WAV of a tone (silence in its second half)."""
    count = int(seconds * rate)
    samples = [
        int(12000 * math.sin(2 * math.pi * tone_hz * i / rate)) if i < count // 2 else 0
        for i in range(count)
    ]
    data = struct.pack(f"<{count}h", *samples)
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data"
    body += struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


@dataclass(frozen=True)
class StoredCall:
    """A call saved in the store with one recording on disk."""

    outcome: CallOutcome
    file: RecordingFile
    wav: bytes

    @property
    def call_id(self) -> str:
        """The call's id."""
        return self.outcome.call_id

    @property
    def recording_id(self) -> str:
        """The recording's opaque id."""
        return self.file.recording_id


async def stored_call(
    db: Database,
    data_dir: Path,
    linkedid: str = "1700000000.1",
    *,
    seconds: float = 2.0,
    status: RecordingStatus = "ok",
    started_at: datetime | None = None,
    **changes: object,
) -> StoredCall:
    """Save a sample call and a recording of it (``status`` as given)."""
    outcome = sample_outcome(linkedid, **changes)
    await save_outcome(db, outcome)
    wav = make_wav(seconds)
    file = replace(
        store_recording(data_dir, wav), status=status, reason=None if status == "ok" else "test"
    )
    await save_call_recording(
        db,
        call_id=outcome.call_id,
        file=file,
        started_at=started_at or (outcome.answered_at or outcome.offered_at) + timedelta(0),
    )
    return StoredCall(outcome, file, wav)


@dataclass(frozen=True)
class RawResponse:
    """Status, headers (lower-case names) and body of a raw HTTP exchange."""

    status: int
    headers: dict[str, str]
    body: bytes


async def raw_get(host: str, port: int, target: str, headers: dict[str, str]) -> RawResponse:
    """``GET target`` exactly as written (no URL normalisation), HTTP/1.1, one request."""
    reader, writer = await asyncio.open_connection(host, port)
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    if parsed.get("transfer-encoding") == "chunked":
        body = _unchunk(body)
    return RawResponse(int(status_line.split()[1]), parsed, body)


def _unchunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return out
