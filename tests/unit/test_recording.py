"""Recording verification and storage on real WAV bytes (written by the stdlib ``wave`` module,
the same 44-byte PCM layout Asterisk's format_wav writes), whole, truncated and corrupted."""

from __future__ import annotations

import hashlib
import io
import math
import os
import struct
import wave
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr_agent.recordings.files import (
    STALE_DOWNLOAD_SECONDS,
    RecordingFile,
    discard_incoming,
    download_path,
    is_recording_id,
    keep_verified,
    keep_verified_file,
    resolve_stored,
    store_recording,
    verify_wav,
    wav_seconds,
)


def make_wav(seconds: float, rate: int = 8000, channels: int = 1, width: int = 2) -> bytes:
    """A real PCM WAV file: a 440 Hz tone, as a phone recording would be laid out."""
    frames = int(seconds * rate)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        peak = 2 ** (8 * width - 1) - 1
        sample = [int(peak * 0.3 * math.sin(2 * math.pi * 440 * n / rate)) for n in range(frames)]
        fmt = {1: "b", 2: "h", 4: "i"}[width]
        out.writeframes(b"".join(struct.pack(f"<{fmt}", s) * channels for s in sample))
    return buffer.getvalue()


THREE_SECONDS = make_wav(3.0)


def test_given_a_whole_wav_then_it_is_ok_with_its_duration() -> None:
    check = verify_wav(THREE_SECONDS, expected_seconds=3.4)
    assert check.ok, check.reason
    assert check.status == "ok"
    assert check.seconds == 3.0
    assert (check.sample_rate, check.channels, check.bits_per_sample) == (8000, 1, 16)
    assert check.data_bytes == 48_000
    assert len(THREE_SECONDS) == 44 + 48_000  # the layout Asterisk writes


def test_given_no_expected_duration_then_only_the_structure_is_checked() -> None:
    assert verify_wav(make_wav(0.5, rate=16000, channels=2), None).ok


@pytest.mark.parametrize("expected", [1.9, 4.1, 30.0])
def test_given_a_duration_off_by_more_than_the_tolerance_then_corrupt(expected: float) -> None:
    check = verify_wav(THREE_SECONDS, expected_seconds=expected)
    assert not check.ok
    assert check.status == "corrupt"
    assert "duration 3.000 s differs" in (check.reason or "")
    assert check.seconds == 3.0  # what the file holds is still reported


def test_given_a_recording_short_by_audio_the_pbx_lost_then_it_is_whole() -> None:
    # The CI case: 9.08 s of audio for 10.173 s of call (frames a busy PBX never wrote).
    check = verify_wav(make_wav(9.08), 10.173)
    assert check.ok, check.reason
    assert check.seconds == 9.08


def test_given_a_recording_short_by_more_than_the_lost_fraction_then_corrupt() -> None:
    # 20 % of a 10 s call missing is more than frames lost: the recording stopped early.
    check = verify_wav(make_wav(8.0), 10.0)
    assert not check.ok
    assert "by more than 1.5 s" in (check.reason or "")
    # Longer than the call: only the tolerance, whatever the length.
    assert not verify_wav(make_wav(11.2), 10.0).ok
    assert verify_wav(make_wav(10.9), 10.0).ok


def test_given_a_custom_tolerance_then_it_is_used() -> None:
    assert verify_wav(THREE_SECONDS, 5.0, tolerance=2.5).ok
    assert not verify_wav(THREE_SECONDS, 2.8, tolerance=0.1).ok


def test_given_a_negative_tolerance_then_value_error() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        verify_wav(THREE_SECONDS, 3.0, tolerance=-1)


def test_given_a_truncated_file_then_corrupt_naming_truncation() -> None:
    check = verify_wav(THREE_SECONDS[:-1000], 3.0)
    assert not check.ok
    assert "RIFF size" in (check.reason or "")


def test_given_a_truncated_file_with_its_riff_size_patched_then_the_data_chunk_is_short() -> None:
    cut = bytearray(THREE_SECONDS[:-1000])
    struct.pack_into("<I", cut, 4, len(cut) - 8)
    check = verify_wav(bytes(cut), 3.0)
    assert not check.ok
    assert "'data' chunk declares 48000 bytes but only 47000 remain" in (check.reason or "")


def test_given_a_zero_data_chunk_then_corrupt() -> None:
    empty = make_wav(0.0)
    assert len(empty) == 44
    check = verify_wav(empty, None)
    assert not check.ok
    assert "data chunk is empty" in (check.reason or "")


def test_given_a_recording_never_finished_then_sizes_say_zero_while_audio_follows() -> None:
    # Asterisk writes the sizes when it closes the file: a recording still open (or whose
    # writer died) has the 0-size header of the start, followed by audio.
    unfinished = bytearray(THREE_SECONDS)
    struct.pack_into("<I", unfinished, 4, 36)
    struct.pack_into("<I", unfinished, 40, 0)
    check = verify_wav(bytes(unfinished), None)
    assert not check.ok
    assert "RIFF size 36 does not match" in (check.reason or "")


def test_given_data_size_smaller_than_the_bytes_that_follow_then_stray_bytes() -> None:
    shrunk = bytearray(THREE_SECONDS)
    struct.pack_into("<I", shrunk, 40, 48_000 - 100)
    check = verify_wav(bytes(shrunk), None)
    assert not check.ok
    assert "not a chunk" in (check.reason or "") or "chunk declares" in (check.reason or "")


@pytest.mark.parametrize(
    ("blob", "reason"),
    [
        (b"", "shorter than a RIFF header"),
        (b"RIFF", "shorter than a RIFF header"),
        (b"<html>not found</html>", "not a RIFF/WAVE file"),
        (b"RIFX" + THREE_SECONDS[4:], "not a RIFF/WAVE file"),
        (THREE_SECONDS[:8] + b"AVI " + THREE_SECONDS[12:], "not a RIFF/WAVE file"),
    ],
)
def test_given_bytes_that_are_no_wav_then_corrupt_with_a_reason(blob: bytes, reason: str) -> None:
    check = verify_wav(blob, 3.0)
    assert not check.ok
    assert reason in (check.reason or "")
    assert check.seconds is None


def test_given_a_wav_without_fmt_chunk_then_corrupt() -> None:
    body = bytearray(THREE_SECONDS)
    body[12:16] = b"junk"
    check = verify_wav(bytes(body), None)
    assert check.reason == "expected one fmt chunk, found 0"


def test_given_a_fmt_chunk_with_zero_rate_then_corrupt() -> None:
    body = bytearray(THREE_SECONDS)
    struct.pack_into("<I", body, 24, 0)
    assert "zero field" in (verify_wav(bytes(body), None).reason or "")


def test_given_a_compressed_format_then_refused() -> None:
    body = bytearray(THREE_SECONDS)
    struct.pack_into("<H", body, 20, 0x31)  # GSM 6.10 (Asterisk's wav49)
    assert "unsupported WAVE format code 0x0031" in (verify_wav(bytes(body), None).reason or "")


def test_given_a_partial_frame_then_corrupt() -> None:
    odd = bytearray(make_wav(1.0))
    odd += b"\x00\x00"  # one padded byte of audio beyond the declared frames
    struct.pack_into("<I", odd, 4, len(odd) - 8)
    struct.pack_into("<I", odd, 40, 16_001)
    assert "not whole frames" in (verify_wav(bytes(odd), None).reason or "")


def test_given_an_extra_chunk_after_the_data_then_still_whole() -> None:
    extra = bytearray(THREE_SECONDS) + b"LIST" + struct.pack("<I", 4) + b"INFO"
    struct.pack_into("<I", extra, 4, len(extra) - 8)
    assert verify_wav(bytes(extra), 3.0).ok


@given(cut=st.integers(min_value=1, max_value=len(THREE_SECONDS) - 1))
def test_given_any_truncation_then_never_ok(cut: int) -> None:
    assert not verify_wav(THREE_SECONDS[:cut], None).ok


@given(blob=st.binary(max_size=200))
def test_given_random_bytes_then_verify_never_raises(blob: bytes) -> None:
    check = verify_wav(blob, 1.0)
    assert check.ok is (check.reason is None)


@given(
    position=st.integers(min_value=0, max_value=43),
    value=st.integers(min_value=0, max_value=255),
)
def test_given_a_damaged_header_byte_then_never_a_crash(position: int, value: int) -> None:
    damaged = bytearray(THREE_SECONDS)
    damaged[position] = value
    check = verify_wav(bytes(damaged), 3.0)
    if damaged != bytearray(THREE_SECONDS) and check.ok:
        # Only fields that do not decide the structure may change and still pass: the
        # fmt code among the fixed-rate ones, or bits per sample within the same byte width.
        assert position in {20, 21, 34}


def test_wav_seconds_reads_only_whole_files() -> None:
    assert wav_seconds(THREE_SECONDS) == 3.0
    assert wav_seconds(THREE_SECONDS[:100]) is None


def test_given_bytes_then_stored_under_an_opaque_id_with_their_sha256(tmp_path: Path) -> None:
    stored = store_recording(tmp_path, THREE_SECONDS)
    assert is_recording_id(stored.recording_id)
    assert stored.path == f"recordings/{stored.recording_id[:2]}/{stored.recording_id}.wav"
    assert (tmp_path / stored.path).read_bytes() == THREE_SECONDS
    assert stored.sha256 == hashlib.sha256(THREE_SECONDS).hexdigest()
    assert stored.bytes == len(THREE_SECONDS)
    assert stored.seconds == 3.0
    assert oct((tmp_path / stored.path).stat().st_mode & 0o777) == "0o640"
    assert not list((tmp_path / "recordings").rglob("*.partial"))


def test_given_corrupt_bytes_then_kept_all_the_same_without_a_duration(tmp_path: Path) -> None:
    stored = store_recording(tmp_path, b"garbage")
    assert (tmp_path / stored.path).read_bytes() == b"garbage"
    assert stored.seconds is None


def test_given_a_verified_duration_then_it_is_stored(tmp_path: Path) -> None:
    assert store_recording(tmp_path, THREE_SECONDS, seconds=2.999).seconds == 2.999


def test_given_a_whole_wav_when_kept_verified_then_it_is_ok(tmp_path: Path) -> None:
    kept = keep_verified(tmp_path, THREE_SECONDS, 3.2)
    assert (kept.status, kept.reason, kept.seconds) == ("ok", None, 3.0)
    assert (tmp_path / kept.path).read_bytes() == THREE_SECONDS


def test_given_a_wav_of_the_wrong_length_when_kept_verified_then_it_is_kept_corrupt(
    tmp_path: Path,
) -> None:
    kept = keep_verified(tmp_path, THREE_SECONDS, 10.0)
    assert kept.status == "corrupt"
    assert "differs" in (kept.reason or "")
    assert (tmp_path / kept.path).read_bytes() == THREE_SECONDS  # evidence, kept all the same


@pytest.mark.parametrize(
    ("content", "expected", "status"),
    [
        (THREE_SECONDS, 3.2, "ok"),
        (THREE_SECONDS, 10.0, "corrupt"),  # wrong length: kept as evidence
        (THREE_SECONDS[:-100], 3.0, "corrupt"),  # truncated
        (b"", None, "corrupt"),  # the PBX sent nothing
    ],
    ids=["whole", "wrong length", "truncated", "empty"],
)
def test_given_a_downloaded_file_when_kept_verified_then_it_is_moved_in_with_the_same_verdict(
    tmp_path: Path, content: bytes, expected: float | None, status: str
) -> None:
    downloaded = download_path(tmp_path)
    downloaded.write_bytes(content)
    kept = keep_verified_file(tmp_path, downloaded, expected)
    in_memory = keep_verified(tmp_path, content, expected)
    assert (kept.status, kept.reason, kept.seconds, kept.bytes, kept.sha256) == (
        in_memory.status,
        in_memory.reason,
        in_memory.seconds,
        in_memory.bytes,
        in_memory.sha256,
    )
    assert kept.status == status
    assert not downloaded.exists()
    assert (tmp_path / kept.path).read_bytes() == content
    assert resolve_stored(tmp_path, kept.path) == tmp_path / kept.path


def test_given_no_file_then_a_missing_recording_has_an_id_and_no_file_fields() -> None:
    gone = RecordingFile.missing("not found on the PBX")
    assert is_recording_id(gone.recording_id)
    assert gone.path == f"missing/{gone.recording_id}"
    assert (gone.sha256, gone.bytes, gone.seconds) == (None, None, None)
    assert (gone.status, gone.reason) == ("missing", "not found on the PBX")


def test_two_recordings_never_share_an_id(tmp_path: Path) -> None:
    ids = {store_recording(tmp_path, THREE_SECONDS).recording_id for _ in range(20)}
    assert len(ids) == 20


def test_given_a_stored_path_then_it_resolves_inside_the_data_dir(tmp_path: Path) -> None:
    stored = store_recording(tmp_path, THREE_SECONDS)
    assert resolve_stored(tmp_path, stored.path) == tmp_path / stored.path


@pytest.mark.parametrize(
    "path",
    [
        "../etc/passwd",
        "/etc/passwd",
        "recordings/../../etc/passwd",
        "recordings/ab/%2e%2e%2f.wav",
        "recordings/ab/" + "a" * 32 + ".wav/..",
        "",
    ],
)
def test_given_a_path_not_made_by_store_then_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(ValueError, match="not a stored recording path"):
        resolve_stored(tmp_path, path)


def test_given_a_symlink_in_place_of_a_recording_then_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("nope")
    name = "ab" + "0" * 30
    link = tmp_path / "recordings" / "ab" / f"{name}.wav"
    link.parent.mkdir(parents=True)
    os.symlink(secret, link)
    with pytest.raises(ValueError, match="leaves the recordings directory"):
        resolve_stored(tmp_path, f"recordings/ab/{name}.wav")


def test_given_downloads_left_by_a_dead_run_then_only_the_stale_ones_are_discarded(
    tmp_path: Path,
) -> None:
    stale, fresh = download_path(tmp_path), download_path(tmp_path)
    stale.write_bytes(b"RIFF")
    fresh.write_bytes(b"RIFF")
    hour_ago = stale.stat().st_mtime - STALE_DOWNLOAD_SECONDS - 1
    os.utime(stale, (hour_ago, hour_ago))
    assert discard_incoming(tmp_path) == 1
    assert (stale.exists(), fresh.exists()) == (False, True)
    assert discard_incoming(tmp_path / "nothing-here") == 0
