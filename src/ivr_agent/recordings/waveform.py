"""Waveform peaks of a verified 16-bit PCM WAV, for the QA player (computed on the server so
the browser draws the waveform without downloading and decoding the whole recording).

:func:`peaks_of_file` reads the file in blocks of :data:`BLOCK_BYTES` (a 30-minute recording
is never in memory at once); :func:`peaks` does the same over bytes already in hand. Both
split the audio into ``buckets`` equal slices and return, per slice, the largest absolute
sample scaled to 0–1 (channels mixed by taking the loudest). A ``data`` chunk that claims
more than the file holds (a truncated recording) is read as far as the file goes.
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np

MAX_BUCKETS = 4000
#: Bytes of audio read at a time (an even number: whole 16-bit samples).
BLOCK_BYTES = 256 * 1024


class NotPcm16(ValueError):
    """The file is not a 16-bit PCM WAV this module can read."""


def _read_exactly(handle: BinaryIO, offset: int, size: int) -> bytes:
    handle.seek(offset)
    return handle.read(size)


def _pcm16_span(handle: BinaryIO, total: int) -> tuple[int, int]:
    """``(offset, bytes)`` of the audio in a RIFF/WAVE file of ``total`` bytes."""
    head = _read_exactly(handle, 0, 12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise NotPcm16("not a RIFF/WAVE file")
    offset, fmt, body = 12, None, None
    while offset + 8 <= total:
        chunk_id, size = struct.unpack("<4sI", _read_exactly(handle, offset, 8))
        start = offset + 8
        if chunk_id == b"fmt " and size >= 16:
            raw = _read_exactly(handle, start, 16)
            if len(raw) == 16:
                fmt = struct.unpack("<HHIIHH", raw)
        elif chunk_id == b"data":
            body = (start, max(0, min(start + size, total) - start))
        offset = start + size + (size & 1)
    if fmt is None or body is None:
        raise NotPcm16("no fmt or data chunk")
    code, channels, _rate, _byte_rate, _align, bits = fmt
    if code != 1 or bits != 16 or channels < 1:
        raise NotPcm16(f"format {code} with {bits} bits is not 16-bit PCM")
    start, length = body
    return start, length - length % 2


def _check_buckets(buckets: int) -> None:
    if not 1 <= buckets <= MAX_BUCKETS:
        raise ValueError(f"buckets must be 1-{MAX_BUCKETS}")


def peaks_of_stream(handle: BinaryIO, buckets: int) -> list[float]:
    """``buckets`` peak levels (0–1) of the WAV open in ``handle`` (seekable, binary)."""
    _check_buckets(buckets)
    total = handle.seek(0, os.SEEK_END)
    start, length = _pcm16_span(handle, total)
    count = length // 2
    if count == 0:
        return [0.0] * buckets
    bounds = [
        (i * count // buckets, max((i + 1) * count // buckets, i * count // buckets + 1))
        for i in range(buckets)
    ]
    levels = [0] * buckets
    handle.seek(start)
    first = 0  # the first bucket not yet read to its end
    position = 0  # index of the first sample of the block
    remaining = length
    while remaining > 0 and first < buckets:
        data = handle.read(min(BLOCK_BYTES, remaining))
        data = data[: len(data) - len(data) % 2]
        if not data:
            break
        remaining -= len(data)
        block = np.frombuffer(data, dtype="<i2")
        end = position + len(block)
        i = first
        while i < buckets and bounds[i][0] < end:
            lo, hi = bounds[i]
            a, b = max(lo, position), min(hi, end)
            if a < b:
                part = block[a - position : b - position]
                levels[i] = max(levels[i], int(part.max()), -int(part.min()))
            i += 1
        while first < buckets and bounds[first][1] <= end:
            first += 1
        position = end
    return [round(min(level / 32768, 1.0), 4) for level in levels]


def peaks_of_file(path: Path, buckets: int) -> list[float]:
    """``buckets`` peak levels (0–1) of the WAV at ``path``, read block by block (blocking:
    call it from a thread when on the event loop)."""
    with path.open("rb") as handle:
        return peaks_of_stream(handle, buckets)


def peaks(data: bytes, buckets: int) -> list[float]:
    """``buckets`` peak levels (0–1) across the whole recording in ``data``."""
    return peaks_of_stream(io.BytesIO(data), buckets)
