"""Waveform peaks are computed block by block (issue 14, finding 10): a 30-minute recording
is never read into memory, and the levels are those of the whole-file computation."""

from __future__ import annotations

import array
import random
import struct
import sys
import tracemalloc
from pathlib import Path

import pytest

from ivr_agent.recordings import waveform
from ivr_agent.recordings.waveform import NotPcm16, peaks, peaks_of_file


def wav_header(
    data_bytes: int, channels: int = 1, rate: int = 8000, claimed: int | None = None
) -> bytes:
    size = data_bytes if claimed is None else claimed
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * 2 * channels, 2 * channels, 16)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + size)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"LIST"
        + struct.pack("<I", 5)
        + b"info\x00\x00"  # an odd-sized chunk and its pad byte before the data
        + b"data"
        + struct.pack("<I", size)
    )


def whole_file_peaks(samples: list[int], buckets: int) -> list[float]:
    """The former computation, over every sample at once (the reference)."""
    count = len(samples)
    if count == 0:
        return [0.0] * buckets
    result = []
    for i in range(buckets):
        lo = i * count // buckets
        hi = max((i + 1) * count // buckets, lo + 1)
        chunk = samples[lo:hi]
        result.append(round(min(max(max(chunk), -min(chunk)) / 32768, 1.0), 4))
    return result


def pcm(samples: list[int]) -> bytes:
    data = array.array("h", samples)
    if sys.byteorder == "big":
        data.byteswap()
    return data.tobytes()


@pytest.mark.parametrize(
    ("count", "buckets"),
    [(0, 4), (3, 10), (999, 1000), (1000, 7), (70_001, 600), (200_000, 4000), (150_000, 1)],
)
def test_block_by_block_peaks_equal_the_whole_file_computation(
    count: int, buckets: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(waveform, "BLOCK_BYTES", 4096)  # many blocks, buckets across them
    rng = random.Random(count * 31 + buckets)
    samples = [rng.randint(-32768, 32767) >> rng.randint(0, 14) for _ in range(count)]
    assert peaks(wav_header(2 * count) + pcm(samples), buckets) == whole_file_peaks(
        samples, buckets
    )


def test_a_truncated_data_chunk_is_read_as_far_as_the_file_goes() -> None:
    samples = [1000, -20000, 300, 32767, -5]
    data = wav_header(2 * len(samples), claimed=1_000_000) + pcm(samples) + b"\x01"
    assert peaks(data, 2) == whole_file_peaks(samples, 2)


def test_not_pcm16_is_refused() -> None:
    with pytest.raises(NotPcm16):
        peaks(b"RIFF\x00\x00\x00\x00WAVE", 4)
    with pytest.raises(NotPcm16):
        peaks(b"not a wav at all", 4)


def test_peaks_of_a_30_minute_recording_stay_far_below_its_size_in_memory(tmp_path: Path) -> None:
    seconds, rate = 30 * 60, 8000
    count = seconds * rate
    path = tmp_path / "long.wav"
    second = pcm([(i * 37) % 20000 - 10000 for i in range(rate)])
    with path.open("wb") as out:
        out.write(wav_header(2 * count))
        for s in range(seconds):
            out.write(second if s != 900 else pcm([32767] + [0] * (rate - 1)))
    size = path.stat().st_size
    assert size > 28_000_000

    tracemalloc.start()
    try:
        levels = peaks_of_file(path, 600)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 2_000_000, f"peak {peak} bytes for a {size}-byte file"
    assert len(levels) == 600
    assert levels[300] == 1.0  # the loud sample at 15:00 lands in the middle bucket
    assert levels[0] == round(10000 / 32768, 4)
