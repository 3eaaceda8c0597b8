"""``ivr-agent prompts build`` for real: espeak-ng + sox into a directory, then the PBX plays it.

The build tests need espeak-ng and sox on the host (``./dev`` installs them); without them
they skip locally and fail in CI. The last tests play built prompts on the sandbox PBX over
ARI (an external-media channel whose RTP comes to a socket of the test), which proves the
files sit where ``sound:ivr-agent/…`` resolves and that Asterisk can decode them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ivr_agent.pbx.ari import AriClient, AriTarget, JsonObject
from ivr_agent.pbx.ari_events import AriEvents
from ivr_agent.prompts import render
from ivr_agent.prompts.build import build_prompts
from ivr_agent.prompts.catalogue import PromptCatalogue, PromptUnavailable
from ivr_agent.prompts.render import ToolMissing
from ivr_agent.prompts.spec import PROMPT_NAMES, builtin_catalogue_text
from ivr_agent.settings import Settings, load_settings
from ivr_agent.sim import sandbox
from tests.integration.sandbox_support import IN_CI, running_sandbox

CLI = Path(sys.executable).with_name("ivr-agent")
OPERATORS = ("007", "012")
#: Per language: every prompt, the 工号播报 once per operator instead of once.
# operator_intro: one per operator; callback_hotline: none (no IVR_AGENT_HOTLINE here).
FILES_PER_LANGUAGE = len(PROMPT_NAMES) - 2 + len(OPERATORS)


@pytest.fixture(autouse=True)
def _tools() -> None:
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        message = f"{', '.join(missing)} not installed (./dev installs them)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    # The shared-directory delivery: these tests check where files land and the sound: paths
    # the PBX plays them by (HTTP delivery: tests/integration/test_prompts_http_live.py).
    values: dict[str, object] = {
        "prompts_delivery": "directory",
        "prompts_dir": tmp_path / "prompts",
        "prompts_voices_dir": tmp_path / "voices",
        "operator_ids": ",".join(OPERATORS),
        "data_dir": tmp_path / "var",
    }
    values.update(overrides)
    return load_settings(**values)


def _wav(path: Path) -> tuple[int, int, int, float]:
    with wave.open(str(path), "rb") as reader:
        rate = reader.getframerate()
        return rate, reader.getnchannels(), reader.getsampwidth(), reader.getnframes() / rate


def _record(path: Path, seconds: float) -> None:
    """A 'recorded voice': a 16 kHz stereo tone, which the build must convert."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["sox", "-n", "-r", "16000", "-c", "2", str(path), "synth", str(seconds), "sine", "440"],
        check=True,
    )


# --- the build ------------------------------------------------------------------------------


def test_every_prompt_becomes_an_8khz_mono_wav_and_a_second_build_is_all_cache_hits(
    tmp_path: Path,
) -> None:
    catalogue = PromptCatalogue.from_settings(_settings(tmp_path))
    first = build_prompts(catalogue)
    assert (first.rendered, first.cached, first.recorded) == (2 * FILES_PER_LANGUAGE, 0, 0)
    dest = tmp_path / "prompts"
    files = sorted(dest.glob("*/*.wav"))
    assert len(files) == 2 * FILES_PER_LANGUAGE
    for path in files:
        rate, channels, width, seconds = _wav(path)
        assert (rate, channels, width) == (8000, 1, 2), path
        assert 0.5 < seconds < 20, (path, seconds)
        assert path.stat().st_mode & 0o777 == 0o644
    assert (dest / "zh-CN" / "operator_intro-012.wav").is_file()
    # The dialplan's fallback greeting: the default language's external greeting.
    assert (dest / "welcome.wav").read_bytes() == (
        dest / "zh-CN" / "greeting_external.wav"
    ).read_bytes()
    before = {path: path.stat().st_mtime_ns for path in files}

    second = build_prompts(catalogue)
    assert (second.rendered, second.cached, second.recorded) == (0, 2 * FILES_PER_LANGUAGE, 0)
    assert {path: path.stat().st_mtime_ns for path in files} == before


def test_only_a_changed_text_is_rendered_again(tmp_path: Path) -> None:
    build_prompts(PromptCatalogue.from_settings(_settings(tmp_path)))
    changed = tmp_path / "catalogue.toml"
    changed.write_text(
        builtin_catalogue_text().replace('zh-CN = "对不起,请稍等!"', 'zh-CN = "对不起,请您稍等!"'),
        encoding="utf-8",
    )
    catalogue = PromptCatalogue.from_settings(_settings(tmp_path, prompts_catalogue=changed))
    report = build_prompts(catalogue, languages=["zh-CN"])
    assert (report.rendered, report.cached) == (1, FILES_PER_LANGUAGE - 1)
    assert [i.relative for i in report.installed if not i.cached] == ["zh-CN/hold_reminder.wav"]


def test_a_recorded_voice_wins_over_tts_and_follows_its_file(tmp_path: Path) -> None:
    catalogue = PromptCatalogue.from_settings(_settings(tmp_path))
    recording = tmp_path / "voices" / "zh-CN" / "hold_reminder.wav"
    installed = tmp_path / "prompts" / "zh-CN" / "hold_reminder.wav"
    _record(recording, 1.5)

    report = build_prompts(catalogue, languages=["zh-CN"])
    assert (report.recorded, report.rendered) == (1, FILES_PER_LANGUAGE - 1)
    rate, channels, width, seconds = _wav(installed)
    assert (rate, channels, width) == (8000, 1, 2)
    assert seconds == pytest.approx(1.5, abs=0.01)

    again = build_prompts(catalogue, languages=["zh-CN"])
    assert (again.cached, again.recorded_in_use) == (FILES_PER_LANGUAGE, 1)

    _record(recording, 2.5)  # a new take replaces the old one
    assert build_prompts(catalogue, languages=["zh-CN"]).recorded == 1
    assert _wav(installed)[3] == pytest.approx(2.5, abs=0.01)

    recording.unlink()  # back to TTS
    back = build_prompts(catalogue, languages=["zh-CN"])
    assert (back.rendered, back.recorded_in_use) == (1, 0)
    assert _wav(installed)[3] != pytest.approx(2.5, abs=0.01)


def test_missing_tools_are_named_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    catalogue = PromptCatalogue.from_settings(_settings(tmp_path))
    with pytest.raises(ToolMissing, match="espeak-ng and sox not found on PATH"):
        build_prompts(catalogue)
    assert not (tmp_path / "prompts").exists()


# --- the command ----------------------------------------------------------------------------


def _cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "IVR_AGENT_DATA_DIR": str(tmp_path / "var"),
        "IVR_AGENT_OPERATOR_IDS": ",".join(OPERATORS),
        "IVR_AGENT_LOG_FORMAT": "console",
        **env,
    }
    return subprocess.run(
        [str(CLI), "prompts", "build", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )


def test_the_command_builds_one_language_and_prints_a_summary(tmp_path: Path) -> None:
    done = _cli(tmp_path, "--language", "en-US", "--dest", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert f"{FILES_PER_LANGUAGE} prompt files in {tmp_path / 'out'}" in done.stdout
    assert f"{FILES_PER_LANGUAGE} rendered (TTS)" in done.stdout
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name[0] != "."] == ["en-US"]
    again = _cli(tmp_path, "--language", "en-US", "--dest", str(tmp_path / "out"))
    assert f"{FILES_PER_LANGUAGE} unchanged (cache)" in again.stdout


def test_the_command_names_a_bad_catalogue_and_missing_tools(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        builtin_catalogue_text().replace('"您好,{department}"', '"您好,{departmnet}"'),
        encoding="utf-8",
    )
    done = _cli(tmp_path, "--dest", str(tmp_path / "out"), IVR_AGENT_PROMPTS_CATALOGUE=str(bad))
    assert done.returncode == 2
    assert "[prompts.greeting_internal]: the zh-CN text uses unknown variable {departmnet}" in (
        done.stderr
    )
    done = _cli(tmp_path, "--language", "fr-FR", "--dest", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "language fr-FR is not in the catalogue" in done.stderr
    done = _cli(tmp_path, "--dest", str(tmp_path / "out"), PATH=str(tmp_path / "empty"))
    assert done.returncode == 1
    assert "espeak-ng and sox not found on PATH" in done.stderr


# --- rendering on demand --------------------------------------------------------------------


async def test_a_customer_name_is_rendered_on_demand_once(tmp_path: Path) -> None:
    catalogue = PromptCatalogue.from_settings(_settings(tmp_path))
    uri = await catalogue.ensure_media("callback_opening", {"customer_name": "张先生"})
    assert uri == catalogue.media("callback_opening", {"customer_name": "张先生"})
    path = tmp_path / "prompts" / "zh-CN" / (uri.rsplit("/", 1)[1] + ".wav")
    assert _wav(path)[:3] == (8000, 1, 2)
    made = path.stat().st_ino  # a new rendering is renamed into place: a new inode
    # Concurrent requests for the same name share one file, rendered once.
    again = await asyncio.gather(
        *(catalogue.ensure_media("callback_opening", {"customer_name": "张先生"}) for _ in range(5))
    )
    assert set(again) == {uri}
    assert path.stat().st_ino == made


async def test_the_build_removes_on_demand_files_no_call_used_for_a_week(tmp_path: Path) -> None:
    catalogue = PromptCatalogue.from_settings(_settings(tmp_path))
    dest = tmp_path / "prompts" / "zh-CN"
    old = await catalogue.ensure_media("callback_opening", {"customer_name": "赵先生"})
    kept = await catalogue.ensure_media("callback_opening", {"customer_name": "钱女士"})
    week_ago = time.time() - 8 * 86_400
    for uri in (old, kept):
        os.utime(dest / (uri.rsplit("/", 1)[1] + ".wav"), (week_ago, week_ago))
    # Handing a file out again counts as use.
    assert await catalogue.ensure_media("callback_opening", {"customer_name": "钱女士"}) == kept
    report = build_prompts(catalogue, languages=["zh-CN"])
    assert report.pruned == [f"zh-CN/{old.rsplit('/', 1)[1]}.wav"]
    assert not (dest / (old.rsplit("/", 1)[1] + ".wav")).exists()
    assert (dest / (kept.rsplit("/", 1)[1] + ".wav")).is_file()
    manifest = (tmp_path / "prompts" / render.MANIFEST_NAME).read_text()
    assert old.rsplit("/", 1)[1] not in manifest
    assert kept.rsplit("/", 1)[1] in manifest


async def test_a_failed_rendering_falls_back_to_the_prompt_without_the_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalogue = PromptCatalogue.from_settings(_settings(tmp_path))
    build_prompts(catalogue, languages=["zh-CN"])
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # espeak-ng is gone now
    uri = await catalogue.ensure_media("callback_opening", {"customer_name": "王女士"})
    assert uri == "sound:ivr-agent/zh-CN/callback_opening"
    # An operator id nobody built, and nothing to fall back to: a clear error.
    with pytest.raises(PromptUnavailable, match=r"cannot play operator_intro: .*espeak-ng and sox"):
        await catalogue.ensure_media("operator_intro", {"operator_id": "999"})


# --- the PBX plays what was built -----------------------------------------------------------

CHECK_APP = "ivr-agent-prompt-check"


@contextlib.asynccontextmanager
async def _check_app(ari: AriClient) -> AsyncIterator[AriEvents]:
    """The check application's event stream, for the whole test: one websocket, registered
    once (an app closed and registered again at once may lose its next channel's StasisStart
    to the closing session on a loaded PBX)."""
    events = AriEvents(ari, [CHECK_APP])
    await events.start()
    try:
        yield events
    finally:
        await events.close()


@contextlib.asynccontextmanager
async def _listening_channel(
    ari: AriClient, events: AriEvents
) -> AsyncIterator[tuple[str, AriEvents, list[tuple[float, bytes]]]]:
    """An ARI external-media channel whose RTP (ulaw) arrives on a local UDP socket."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    packets: list[tuple[float, bytes]] = []
    loop = asyncio.get_running_loop()

    async def receive() -> None:
        while True:
            packets.append((time.monotonic(), await loop.sock_recv(sock, 2048)))

    receiver = asyncio.create_task(receive())
    channel: JsonObject = await ari.request(
        "POST",
        "/channels/externalMedia",
        params={
            "app": CHECK_APP,
            "external_host": f"127.0.0.1:{sock.getsockname()[1]}",
            "format": "ulaw",
        },
    )
    try:
        # Playable only once it is in the application.
        async with asyncio.timeout(10):
            async for event in events:
                if event["type"] == "StasisStart" and event["channel"]["id"] == channel["id"]:
                    break
        yield str(channel["id"]), events, packets
    finally:
        with contextlib.suppress(Exception):
            await ari.hangup(str(channel["id"]))
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiver
        sock.close()


async def _play(
    ari: AriClient, events: AriEvents, media: str, *, stop_after: float | None = None
) -> tuple[str, float, int]:
    """Play ``media``; (final state, seconds it played, RTP packets carrying sound)."""
    async with _listening_channel(ari, events) as (channel_id, events, packets):
        playback_id = f"prompt-check-{time.monotonic_ns()}"
        await ari.play(channel_id, [media], playback_id)
        started = time.monotonic()
        state = "?"
        async with asyncio.timeout(30):
            async for event in events:
                if event.get("playback", {}).get("id") != playback_id:
                    continue
                if event["type"] == "PlaybackStarted":
                    started = time.monotonic()
                    if stop_after is not None:
                        await asyncio.sleep(stop_after)
                        await ari.stop_playback(playback_id)
                elif event["type"] == "PlaybackFinished":
                    state = str(event["playback"]["state"])
                    break
        played = time.monotonic() - started
        # ulaw silence is 0xFF/0x7F; a packet with anything else carried sound.
        sounding = sum(1 for _, data in packets if any(b not in (0xFF, 0x7F) for b in data[12:]))
        return state, played, sounding


@pytest.mark.sandbox
async def test_the_sandbox_pbx_plays_the_built_prompts_where_media_points() -> None:
    box = running_sandbox()  # `sandbox up` ran the build into the root
    env = sandbox.load_credentials(box).env()
    prompts_dir = Path(env["IVR_AGENT_PROMPTS_DIR"])
    assert prompts_dir == box.root / "usr/share/asterisk/sounds/ivr-agent"
    catalogue = PromptCatalogue.from_settings(
        load_settings(prompts_delivery="directory", prompts_dir=prompts_dir)
    )
    media = catalogue.media("hold_reminder")
    built = prompts_dir / "zh-CN" / "hold_reminder.wav"
    seconds = render.check_wav(built)
    async with (
        AriClient(AriTarget.from_url(env["IVR_AGENT_ARI_URL"])) as ari,
        _check_app(ari) as events,
    ):
        state, played, sounding = await _play(ari, events, media)
        assert state == "done"
        assert played == pytest.approx(seconds, abs=0.4)
        assert sounding >= 0.5 * seconds * 50  # 20 ms packets, pauses between words aside
        # The dialplan hook's fallback greeting.
        state, _, sounding = await _play(ari, events, "sound:ivr-agent/welcome")
        assert (state, sounding > 25) == ("done", True)
        # The control: what was not built does not play.
        assert (await _play(ari, events, "sound:ivr-agent/zh-CN/no_such_prompt"))[0] == "failed"


@pytest.mark.sandbox
async def test_a_prompt_rendered_on_demand_plays_on_the_sandbox_pbx() -> None:
    box = running_sandbox()
    env = sandbox.load_credentials(box).env()
    catalogue = PromptCatalogue.from_settings(
        load_settings(prompts_delivery="directory", prompts_dir=Path(env["IVR_AGENT_PROMPTS_DIR"]))
    )
    name = f"测试{time.monotonic_ns() % 10_000}号"  # a fresh name: rendered now
    media = await catalogue.ensure_media("callback_opening", {"customer_name": name})
    assert media != catalogue.media("callback_opening")
    async with (
        AriClient(AriTarget.from_url(env["IVR_AGENT_ARI_URL"])) as ari,
        _check_app(ari) as events,
    ):
        state, _, sounding = await _play(ari, events, media, stop_after=1.5)
    assert state in {"done", "stopped", "cancelled"}
    assert sounding > 25
