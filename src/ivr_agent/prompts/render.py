"""Turning prompt texts into the WAV files the PBX plays (espeak-ng + sox), with a cache.

One :class:`RenderJob` is one file, ``<language>/<stem>.wav`` under the prompts directory.
Its cache key hashes everything that shapes the audio (the spoken text, the voice, the
engine options); a manifest beside the files (``.ivr-agent-prompts.json``) remembers the key
each installed file was made from, so an unchanged prompt is not rendered again. A recorded
human voice at the same relative path under the voices directory wins over TTS: it is
converted (not synthesised) and keyed by its content, so replacing the recording reinstalls
it. Files are written to a temporary name in the target directory and renamed into place,
so the PBX never plays a half-written file.

Blocking (subprocesses, file I/O): call it from a thread when on the event loop.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

#: Bump when the pipeline below changes in a way that changes the audio: every cache misses.
ENGINE_VERSION = "espeak-ng+sox/2"
#: Asterisk plays 8 kHz mono 16-bit signed WAV natively (no transcoding per call).
SOX_FORMAT = ("-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer")
SAMPLE_RATE = 8000
#: espeak-ng ends every phrase with ~0.4 s of silence. S3 times the caller's silence from
#: the end of the playback, so that tail would stretch the 5 s watchdog to 5.4 s as heard:
#: trim it (reverse, drop leading silence, reverse back) and keep a 50 ms natural release.
TRIM_TRAILING_SILENCE = ("reverse", "silence", "1", "0.02", "0.5%", "reverse", "pad", "0", "0.05")
MANIFEST_NAME = ".ivr-agent-prompts.json"
_LOCK_NAME = ".ivr-agent-prompts.lock"
_TOOL_TIMEOUT_SECONDS = 60.0

Source = Literal["tts", "recorded"]


class RenderError(RuntimeError):
    """A prompt could not be rendered or installed; the message says which and why."""


class ToolMissing(RenderError):
    """espeak-ng or sox is not installed on this host."""


@dataclass(frozen=True)
class Voice:
    """How one language is synthesised: the espeak-ng voice and its speed."""

    espeak_voice: str
    words_per_minute: int


@dataclass(frozen=True)
class RenderJob:
    """One file to produce: ``<language>/<stem>.wav`` speaking ``speech`` with ``voice``."""

    language: str
    stem: str
    speech: str
    voice: Voice

    @property
    def relative(self) -> str:
        """Path under the prompts (and voices) directory."""
        return f"{self.language}/{self.stem}.wav"

    @property
    def key(self) -> str:
        """Cache key: a hash of the text, the voice and the engine options."""
        return cache_key(self.speech, self.voice)


@dataclass(frozen=True)
class Installed:
    """What :func:`install` did for one job."""

    relative: str
    source: Source
    cached: bool


def cache_key(speech: str, voice: Voice) -> str:
    """SHA-256 (hex) of everything that shapes a TTS rendering."""
    material = json.dumps(
        [ENGINE_VERSION, speech, voice.espeak_voice, voice.words_per_minute, SOX_FORMAT],
        ensure_ascii=False,
    )
    return hashlib.sha256(material.encode()).hexdigest()


def check_tools() -> None:
    """Raise :class:`ToolMissing` naming each missing program and how to install it."""
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        raise ToolMissing(
            f"{' and '.join(missing)} not found on PATH: prompts are rendered with espeak-ng "
            f"and sox (Debian/Ubuntu: apt-get install {' '.join(missing)})"
        )


def install(job: RenderJob, dest: Path, voices_dir: Path | None) -> Installed:
    """Make ``dest/<job.relative>`` current: cached, converted from a recording, or rendered."""
    target = dest / job.relative
    recorded = voices_dir / job.relative if voices_dir is not None else None
    if recorded is not None and recorded.is_file():
        source: Source = "recorded"
        key = "recorded:" + _recording_key(recorded)
    else:
        source, key = "tts", job.key
    if target.is_file() and _read_manifest(dest).get(job.relative) == key:
        return Installed(job.relative, source, cached=True)
    ensure_dir(target.parent)
    if recorded is not None and source == "recorded":
        _place(target, lambda out: _convert(recorded, out), what=f"recorded voice {recorded}")
    else:
        _place(target, lambda out: _synthesise(job, out), what=f"prompt {job.relative}")
    _update_manifest(dest, {job.relative: key})
    return Installed(job.relative, source, cached=False)


def ensure_dir(path: Path) -> None:
    """Create ``path`` and missing parents readable by the PBX's user (0755, whatever umask)."""
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    path.mkdir(parents=True, exist_ok=True)
    for created in missing:
        os.chmod(created, 0o755)  # noqa: S103 - the PBX runs as another user


def copy_alias(dest: Path, source_relative: str, alias_relative: str) -> bool:
    """Install ``dest/alias`` as a copy of ``dest/source`` unless identical; True if copied."""
    source, alias = dest / source_relative, dest / alias_relative
    data = source.read_bytes()
    if alias.is_file() and alias.read_bytes() == data:
        return False

    def write(out: Path) -> None:
        out.write_bytes(data)

    _place(alias, write, what=f"alias {alias_relative}")
    return True


def check_wav(path: Path) -> float:
    """Seconds of audio in ``path``; :class:`RenderError` unless 8 kHz mono 16-bit and not empty."""
    try:
        with wave.open(str(path), "rb") as reader:
            rate, channels, width = (
                reader.getframerate(),
                reader.getnchannels(),
                reader.getsampwidth(),
            )
            frames = reader.getnframes()
    except (wave.Error, EOFError, OSError) as exc:
        raise RenderError(f"{path} is not a readable WAV file: {exc}") from None
    if (rate, channels, width) != (SAMPLE_RATE, 1, 2):
        raise RenderError(
            f"{path} is {rate} Hz, {channels} channel(s), {8 * width}-bit; "
            f"the PBX needs {SAMPLE_RATE} Hz mono 16-bit"
        )
    if frames == 0:
        raise RenderError(f"{path} holds no audio")
    return frames / rate


# --- steps -----------------------------------------------------------------------------------


def _synthesise(job: RenderJob, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="ivr-agent-tts-") as scratch:
        text_file, raw = Path(scratch) / "text.txt", Path(scratch) / "raw.wav"
        # The text goes through a file, never argv: no option injection, no length limit.
        text_file.write_text(job.speech, encoding="utf-8")
        _run(
            [
                "espeak-ng",
                "-v",
                job.voice.espeak_voice,
                "-s",
                str(job.voice.words_per_minute),
                "-b",
                "1",  # the input is UTF-8
                "-f",
                str(text_file),
                "-w",
                str(raw),
            ],
            f"espeak-ng (voice {job.voice.espeak_voice}) on prompt {job.relative}",
        )
        _run(
            ["sox", str(raw), *SOX_FORMAT, str(out), *TRIM_TRAILING_SILENCE],
            f"sox on prompt {job.relative}",
        )


def _convert(recorded: Path, out: Path) -> None:
    _run(["sox", str(recorded), *SOX_FORMAT, str(out)], f"sox on recorded voice {recorded}")


def _run(argv: list[str], what: str) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_TOOL_TIMEOUT_SECONDS)
    except FileNotFoundError:
        check_tools()
        raise RenderError(f"{what}: {argv[0]} could not be started") from None
    except subprocess.TimeoutExpired:
        raise RenderError(f"{what}: timed out after {_TOOL_TIMEOUT_SECONDS:.0f} s") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()[-500:]
        raise RenderError(f"{what} failed (exit {done.returncode}): {detail}")


def _place(target: Path, write: Callable[[Path], None], what: str) -> None:
    """Write via ``write(temp)`` beside ``target``, check it, rename it into place."""
    temp = target.with_name(f".{target.stem}.{secrets.token_hex(6)}.tmp.wav")
    try:
        write(temp)
        check_wav(temp)
        # Readable by the PBX's own user (temp files may be created private).
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except RenderError as exc:
        raise RenderError(f"{what}: {exc}") from None
    except OSError as exc:
        raise RenderError(f"{what}: cannot write {target}: {exc}") from None
    finally:
        temp.unlink(missing_ok=True)


def _recording_key(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    digest.update(json.dumps([ENGINE_VERSION, SOX_FORMAT]).encode())
    return digest.hexdigest()


# --- manifest --------------------------------------------------------------------------------


def _read_manifest(dest: Path) -> dict[str, str]:
    try:
        data = json.loads((dest / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items()}


@contextlib.contextmanager
def _manifest_lock(dest: Path) -> Iterator[None]:
    # flock, not a thread lock: a build and a running agent may share the directory.
    with (dest / _LOCK_NAME).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def manifest_entries(dest: Path) -> dict[str, str]:
    """The manifest of ``dest``: installed file (path under ``dest``) → its cache key."""
    return _read_manifest(dest)


def prune(dest: Path, relatives: Iterable[str]) -> None:
    """Delete these files (paths under ``dest``) and forget their cache keys."""
    gone = list(relatives)
    for relative in gone:
        (dest / relative).unlink(missing_ok=True)
    _update_manifest(dest, {}, remove=gone)


def _update_manifest(dest: Path, entries: dict[str, str], remove: Iterable[str] = ()) -> None:
    with _manifest_lock(dest):
        manifest = _read_manifest(dest)
        manifest.update(entries)
        for relative in remove:
            manifest.pop(relative, None)
        temp = dest / f".{MANIFEST_NAME}.{secrets.token_hex(6)}.tmp"
        temp.write_text(json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False))
        os.replace(temp, dest / MANIFEST_NAME)
