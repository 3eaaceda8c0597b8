"""Waveform peaks of a verified 16-bit PCM WAV, for the QA player (computed on the server so
the browser draws the waveform without downloading and decoding the whole recording).

Pure: :func:`peaks` splits the audio into ``buckets`` equal slices and returns, per slice,
the largest absolute sample scaled to 0–1 (channels mixed by taking the loudest).
"""

from __future__ import annotations

import array
import struct
import sys

MAX_BUCKETS = 4000


class NotPcm16(ValueError):
    """The file is not a 16-bit PCM WAV this module can read."""


def _pcm16_data(data: bytes) -> tuple[memoryview, int]:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise NotPcm16("not a RIFF/WAVE file")
    offset, fmt, body = 12, None, None
    while offset + 8 <= len(data):
        chunk_id, size = struct.unpack_from("<4sI", data, offset)
        start = offset + 8
        if chunk_id == b"fmt " and size >= 16:
            fmt = struct.unpack_from("<HHIIHH", data, start)
        elif chunk_id == b"data":
            body = memoryview(data)[start : min(start + size, len(data))]
        offset = start + size + (size & 1)
    if fmt is None or body is None:
        raise NotPcm16("no fmt or data chunk")
    code, channels, _rate, _byte_rate, _align, bits = fmt
    if code != 1 or bits != 16 or channels < 1:
        raise NotPcm16(f"format {code} with {bits} bits is not 16-bit PCM")
    return body[: len(body) - len(body) % 2], channels


def peaks(data: bytes, buckets: int) -> list[float]:
    """``buckets`` peak levels (0–1) across the whole recording."""
    if not 1 <= buckets <= MAX_BUCKETS:
        raise ValueError(f"buckets must be 1-{MAX_BUCKETS}")
    body, _channels = _pcm16_data(data)
    samples = array.array("h")
    samples.frombytes(body.tobytes())
    if sys.byteorder == "big":
        samples.byteswap()
    count = len(samples)
    if count == 0:
        return [0.0] * buckets
    result = []
    for i in range(buckets):
        lo = i * count // buckets
        hi = max((i + 1) * count // buckets, lo + 1)
        chunk = samples[lo:hi]
        level = max(max(chunk), -min(chunk)) if chunk else 0
        result.append(round(min(level / 32768, 1.0), 4))
    return result
