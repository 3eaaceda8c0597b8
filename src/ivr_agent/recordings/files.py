"""Recordings: verify the WAV the PBX produced, and keep it under the data dir.

Theory of operation: a recording is only evidence if it is whole. :func:`verify_wav` reads
the RIFF structure itself (never trusting one size field): the ``RIFF`` size must match the
file, the chunks must tile the file exactly, the ``fmt`` chunk must describe PCM-like audio
Asterisk writes, and the ``data`` chunk must be present, non-empty and exactly as long as it
says. Asterisk writes the sizes when the file is closed, so a recording that was never
finished declares 0 data bytes while audio follows — that is caught here. The duration is
``data bytes / byte rate`` and must lie within ``tolerance`` seconds of the recorded part of
the call when the caller says how long that was — or, shorter, within
:data:`LOST_AUDIO_FRACTION` of it: audio the PBX never received or could not write in time
leaves no gap in the file (see there).

:func:`store_recording` writes the bytes under ``DATA_DIR/recordings`` under a random opaque
id it chooses itself (never a name or path from outside), fsyncs them, and returns the
:class:`RecordingFile` — relative path, SHA-256, size, duration and status — that the
callback journal, the callback store and the ``recordings`` row all carry as it is.
:func:`keep_verified` does both: verify, then store whatever the verdict.
:func:`resolve_stored` turns such a stored relative path back into a file path, refusing
anything that would leave the recordings directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import re
import secrets
import struct
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

#: Subdirectory of the data dir that holds recordings.
RECORDINGS_DIR = "recordings"

#: How much shorter than the call a whole recording may be. Asterisk's recorders write the
#: frames they get and fill no gaps: RTP lost on the way, or a PBX at its CPU limit whose
#: recording threads wake late, shortens the file by the audio missed. Measured: 2-4 % on
#: 30-45 s calls at 200 calls up (benchmarks/load.py), 11 % on a 10 s callback in a CI run
#: with every core busy. Calling such a recording corrupt would make the callback fail and
#: ring the customer again for a survey they had answered. A recording that stopped early
#: misses far more than this; one that was cut or never finished fails the structure checks.
LOST_AUDIO_FRACTION = 0.15

#: WAVE format codes whose duration is data bytes / byte rate (PCM, float, A-law, µ-law).
_FIXED_RATE_FORMATS = {1: "pcm", 3: "float", 6: "alaw", 7: "ulaw", 0xFFFE: "extensible"}
_ID = re.compile(r"^[0-9a-f]{32}$")
_RELATIVE = re.compile(rf"^{RECORDINGS_DIR}/[0-9a-f]{{2}}/[0-9a-f]{{32}}\.wav$")


@dataclass(frozen=True)
class WavCheck:
    """What :func:`verify_wav` found. ``ok`` is False with a ``reason`` when the file is bad.

    The audio fields are filled as far as the file could be read (None when it could not).
    """

    ok: bool
    reason: str | None
    seconds: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    bits_per_sample: int | None = None
    data_bytes: int | None = None

    @property
    def status(self) -> Literal["ok", "corrupt"]:
        """The ``recordings.status`` this check calls for."""
        return "ok" if self.ok else "corrupt"


#: A WAV to check: in memory, or a downloaded file's memory map (only its headers are read).
WavBytes = bytes | mmap.mmap

#: What became of a recording's file (the ``recordings.status`` column).
RecordingStatus = Literal["ok", "corrupt", "missing", "purged"]


@dataclass(frozen=True)
class RecordingFile:
    """One recording's file, as stored: the one type for it from the PBX to the database.

    ``path`` is relative to the data dir. ``status``: ``ok``; ``corrupt`` (kept, but it
    failed :func:`verify_wav`: ``reason`` says how); ``missing`` (the PBX had no file:
    ``path`` is a placeholder and the file fields are None); ``purged`` (retention deleted
    the file). The field names are those of the ``recordings`` columns and of the callback
    journal's JSON, so neither needs a translation.
    """

    recording_id: str
    path: str
    sha256: str | None
    bytes: int | None
    seconds: float | None
    status: RecordingStatus = "ok"
    reason: str | None = None

    @classmethod
    def missing(cls, reason: str) -> RecordingFile:
        """A recording the PBX never delivered, under a new opaque id; ``reason`` says why."""
        recording_id = new_recording_id()
        return cls(recording_id, f"missing/{recording_id}", None, None, None, "missing", reason)


@dataclass(frozen=True)
class _Format:
    code: int
    channels: int
    sample_rate: int
    byte_rate: int
    block_align: int
    bits_per_sample: int


class _Bad(Exception):
    """A structural fault; the message is the ``reason`` stored with the recording."""


def _chunks(data: WavBytes) -> list[tuple[bytes, int, int]]:
    """(id, offset of the body, declared size) of every chunk after the WAVE header."""
    if len(data) < 12:
        raise _Bad(f"file is {len(data)} bytes, shorter than a RIFF header (12)")
    riff, riff_size, wave = struct.unpack_from("<4sI4s", data, 0)
    if riff != b"RIFF" or wave != b"WAVE":
        raise _Bad("not a RIFF/WAVE file (header is not RIFF....WAVE)")
    if riff_size != len(data) - 8:
        raise _Bad(
            f"RIFF size {riff_size} does not match the file ({len(data) - 8} bytes after it)"
        )
    chunks = []
    offset = 12
    while offset < len(data):
        if len(data) - offset < 8:
            raise _Bad(f"{len(data) - offset} stray bytes at offset {offset} (not a chunk)")
        chunk_id, size = struct.unpack_from("<4sI", data, offset)
        body = offset + 8
        end = body + size + (size & 1)  # chunks are padded to an even length
        if body + size > len(data):
            name = chunk_id.decode("latin-1")
            raise _Bad(
                f"{name!r} chunk declares {size} bytes but only {len(data) - body} remain "
                "(file truncated)"
            )
        chunks.append((chunk_id, body, size))
        offset = min(end, len(data))
    return chunks


def _format(data: WavBytes, body: int, size: int) -> _Format:
    if size < 16:
        raise _Bad(f"fmt chunk is {size} bytes, shorter than 16")
    code, channels, rate, byte_rate, align, bits = struct.unpack_from("<HHIIHH", data, body)
    if code not in _FIXED_RATE_FORMATS:
        raise _Bad(f"unsupported WAVE format code {code:#06x}")
    if channels < 1 or rate < 1 or byte_rate < 1 or align < 1:
        raise _Bad(
            f"fmt chunk has a zero field (channels={channels}, rate={rate}, "
            f"byte rate={byte_rate}, block align={align})"
        )
    if code != 0xFFFE and align != channels * ((bits + 7) // 8):
        raise _Bad(f"block align {align} is not {channels} channel(s) × {bits} bits")
    if byte_rate != rate * align:
        raise _Bad(f"byte rate {byte_rate} is not sample rate {rate} × block align {align}")
    return _Format(code, channels, rate, byte_rate, align, bits)


def verify_wav(data: WavBytes, expected_seconds: float | None, tolerance: float = 1.0) -> WavCheck:
    """Check ``data`` is a whole RIFF/WAVE recording, ``expected_seconds`` ± ``tolerance`` long
    (or shorter by up to :data:`LOST_AUDIO_FRACTION` of ``expected_seconds``, if that is more).

    Never raises on bad input: every fault comes back as ``ok=False`` with a reason that
    names it (truncated, zero data chunk, size mismatch, wrong duration, not a WAV at all).
    """
    if tolerance < 0:
        raise ValueError("tolerance must not be negative")
    try:
        chunks = _chunks(data)
        fmt_chunks = [(body, size) for cid, body, size in chunks if cid == b"fmt "]
        data_chunks = [(body, size) for cid, body, size in chunks if cid == b"data"]
        if len(fmt_chunks) != 1:
            raise _Bad(f"expected one fmt chunk, found {len(fmt_chunks)}")
        if len(data_chunks) != 1:
            raise _Bad(f"expected one data chunk, found {len(data_chunks)}")
        fmt = _format(data, *fmt_chunks[0])
    except _Bad as exc:
        return WavCheck(ok=False, reason=str(exc))
    data_bytes = data_chunks[0][1]
    seconds = round(data_bytes / fmt.byte_rate, 3)
    found = WavCheck(
        ok=True,
        reason=None,
        seconds=seconds,
        sample_rate=fmt.sample_rate,
        channels=fmt.channels,
        bits_per_sample=fmt.bits_per_sample,
        data_bytes=data_bytes,
    )

    def bad(reason: str) -> WavCheck:
        return WavCheck(
            ok=False,
            reason=reason,
            seconds=found.seconds,
            sample_rate=found.sample_rate,
            channels=found.channels,
            bits_per_sample=found.bits_per_sample,
            data_bytes=found.data_bytes,
        )

    if data_bytes == 0:
        return bad("data chunk is empty (0 bytes of audio; recording never finished?)")
    if data_bytes % fmt.block_align:
        return bad(f"data chunk of {data_bytes} bytes is not whole frames of {fmt.block_align}")
    if expected_seconds is not None:
        limit = tolerance
        if seconds < expected_seconds:
            limit = max(tolerance, LOST_AUDIO_FRACTION * expected_seconds)
        if abs(seconds - expected_seconds) > limit:
            return bad(
                f"duration {seconds:.3f} s differs from the recorded part of the call "
                f"({expected_seconds:.3f} s) by more than {limit:.3g} s"
            )
    return found


def wav_seconds(data: bytes) -> float | None:
    """The duration of a structurally whole WAV, or None if it cannot be read."""
    check = verify_wav(data, None)
    return check.seconds if check.ok else None


def new_recording_id() -> str:
    """A random opaque recording id (32 hex digits): nothing about the call can be read from it."""
    return secrets.token_hex(16)


def _relative_path(recording_id: str) -> str:
    return f"{RECORDINGS_DIR}/{recording_id[:2]}/{recording_id}.wav"


def store_recording(data_dir: Path, data: bytes, *, seconds: float | None = None) -> RecordingFile:
    """Write ``data`` under ``data_dir/recordings`` with a new opaque id; fsync'd when it returns.

    ``seconds``: the verified duration, if the caller has it; otherwise read from the file
    (None when it is not a readable WAV — a corrupt recording is kept all the same).
    """
    recording_id = new_recording_id()
    relative = _relative_path(recording_id)
    target = data_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    partial = target.with_suffix(".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)  # the rename survives a crash too
    return RecordingFile(
        recording_id=recording_id,
        path=relative,
        sha256=hashlib.sha256(data).hexdigest(),
        bytes=len(data),
        seconds=seconds if seconds is not None else wav_seconds(data),
    )


def keep_verified(data_dir: Path, data: bytes, expected_seconds: float | None) -> RecordingFile:
    """Verify ``data`` (:func:`verify_wav`) and store it whatever the verdict.

    A recording that fails verification is still evidence: it is kept, with status
    ``corrupt`` and the reason. Blocking (fsync): run it in a thread from async code.
    """
    check = verify_wav(data, expected_seconds)
    stored = store_recording(data_dir, data, seconds=check.seconds)
    return replace(stored, status=check.status, reason=check.reason)


#: Where recordings fetched from the PBX are written while they arrive (same file system as
#: the stored ones, so keeping one is a rename).
INCOMING_DIR = f"{RECORDINGS_DIR}/incoming"


def download_path(data_dir: Path) -> Path:
    """A new, not yet existing file under ``data_dir`` to fetch a recording into; the
    directory is made if need be. Blocking: run it in a thread from async code."""
    incoming = data_dir / INCOMING_DIR
    incoming.mkdir(parents=True, exist_ok=True, mode=0o750)
    return incoming / f"{new_recording_id()}.partial"


#: A download untouched this long is a dead run's (a live one writes every chunk it gets).
STALE_DOWNLOAD_SECONDS = 3600.0


def discard_incoming(data_dir: Path, *, now: float | None = None) -> int:
    """Remove the downloads a previous run left unfinished (killed mid-fetch); how many.

    Only files untouched for :data:`STALE_DOWNLOAD_SECONDS`, so a fetch in flight is never
    pulled from under its writer. The PBX still has each of those recordings: the callback
    journal or the parked recordings fetch them again. Blocking: run it in a thread.
    """
    incoming = data_dir / INCOMING_DIR
    if not incoming.is_dir():
        return 0
    cutoff = (time.time() if now is None else now) - STALE_DOWNLOAD_SECONDS
    removed = 0
    for part in incoming.glob("*.partial"):
        with contextlib.suppress(FileNotFoundError):
            if part.stat().st_mtime < cutoff:
                part.unlink()
                removed += 1
    return removed


def keep_verified_file(
    data_dir: Path, downloaded: Path, expected_seconds: float | None
) -> RecordingFile:
    """:func:`keep_verified` for a recording already written to ``downloaded`` (from
    :func:`download_path`): made durable, verified and moved into place, never read whole
    into memory (the check reads the WAV's headers through a memory map; the digest reads
    the file in blocks). Blocking (fsync): run it in a thread from async code.
    """
    recording_id = new_recording_id()
    relative = _relative_path(recording_id)
    target = data_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    with downloaded.open("rb") as file:
        os.fsync(file.fileno())
        size = os.fstat(file.fileno()).st_size
        if size == 0:
            check = verify_wav(b"", expected_seconds)
        else:
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                check = verify_wav(mapped, expected_seconds)
        file.seek(0)
        digest = hashlib.file_digest(file, "sha256").hexdigest()
    os.replace(downloaded, target)
    _fsync_directory(target.parent)
    return RecordingFile(
        recording_id=recording_id,
        path=relative,
        sha256=digest,
        bytes=size,
        seconds=check.seconds,
        status=check.status,
        reason=check.reason,
    )


def _fsync_directory(directory: Path) -> None:
    """Make a rename into ``directory`` survive a crash."""
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def resolve_stored(data_dir: Path, relative: str) -> Path:
    """The file of a stored recording path (as :func:`store_recording` made it).

    Raises ValueError for anything else — ``..``, absolute paths, other names — and for a
    file that is a symlink or resolves outside the recordings directory.
    """
    if not _RELATIVE.fullmatch(relative):
        raise ValueError(f"not a stored recording path: {relative!r}")
    base = (data_dir / RECORDINGS_DIR).resolve()
    path = data_dir / relative
    if path.is_symlink() or not path.resolve().is_relative_to(base):
        raise ValueError(f"stored recording path leaves the recordings directory: {relative!r}")
    return path


def is_recording_id(value: str) -> bool:
    """Whether ``value`` has the shape of an id :func:`new_recording_id` makes."""
    return bool(_ID.fullmatch(value))
