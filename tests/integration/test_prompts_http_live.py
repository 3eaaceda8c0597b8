"""Prompts over HTTP ("PBX on another host", issue 17), against the sandbox PBX.

The agent keeps its prompt files in its own data directory, outside the sandbox's Debian
root, so the PBX cannot see them; it has the PBX play ``sound:http://127.0.0.1:<port>/
prompts/…`` and serves them itself. Shown here:

* every prompt of the inbound calls (greetings, 工号播报 and the other whispers through a
  snoop channel, hold reminder and apology over the music, silence prompts, satisfaction
  question) is heard on the caller's phone, judged from the caller's own recording
  (tests/support/hearing.py) against the agent's own files;
* the PBX's cache (res_http_media_cache): a file is downloaded once, played from the cache
  within max-age, revalidated with a 304 afterwards (no second download), and a changed
  file replaces the PBX's copy at the next revalidation;
* the start-up check: with directory delivery into a folder the PBX cannot see, ``/readyz``
  fails naming each prompt; with a prompts URL the PBX cannot reach, it says so.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ivr_agent.app import PROMPT_CHECK
from ivr_agent.db.database import Database
from ivr_agent.prompts import PromptCatalogue, build_prompts, playable
from ivr_agent.prompts import http as prompt_http
from ivr_agent.prompts.http import PROMPT_FILES
from ivr_agent.prompts.playable import PlayabilityCheck
from ivr_agent.sim import runner, sandbox
from ivr_agent.sim.audio_match import load_wav
from ivr_agent.sim.sandbox_layout import SOUNDS_DIR
from ivr_agent.sim.scenario import Hold, InboundCall, Scenario, Speech
from tests.integration.sandbox_support import ARTIFACTS, progress, running_sandbox
from tests.support.agent import sandbox_settings, serving_agent, stored_outcomes
from tests.support.hearing import HEARD_SCORE, heard_near

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]

CHECK_SECONDS = 60


def _outside_the_pbx(tmp_path: Path) -> Path:
    """A prompts directory the sandbox PBX cannot see (outside its Debian root)."""
    box = running_sandbox()
    prompts = tmp_path / "agent-data" / "prompts"
    assert not prompts.resolve().is_relative_to(box.root.resolve())
    return prompts


async def _checked(app: Any) -> PlayabilityCheck:
    """The agent's start-up check of the prompts, once done (kept: the agent takes it off
    the app when it stops, with the rest of its active parts)."""
    check: PlayabilityCheck = app[PROMPT_CHECK].get()
    await asyncio.wait_for(check.done.wait(), CHECK_SECONDS)
    return check


async def _readyz(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/readyz") as response:
        body: dict[str, Any] = await response.json()
        return response.status, body


async def _metric(url: str, name: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as response:
        text = await response.text()
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


# --- the start-up check ---------------------------------------------------------------------


async def test_given_directory_delivery_to_a_folder_the_pbx_cannot_see_then_readyz_names_prompts(
    tmp_path: Path, db: Database
) -> None:
    prompts = _outside_the_pbx(tmp_path)
    settings = sandbox_settings(
        running_sandbox(),
        tmp_path / "var",
        "prompts",
        prompts_delivery="directory",
        prompts_dir=prompts,
        # Where the PBX would look: a folder of its sounds the build never filled.
        prompts_media_prefix="ivr-agent-elsewhere",
    )
    # The files are there for the agent, only the PBX does not have them.
    build_prompts(PromptCatalogue.from_settings(settings), languages=["zh-CN"])
    async with serving_agent(settings, db) as (app, url):
        check = await _checked(app)
        status, body = await _readyz(url)
        failed = await _metric(url, "ivr_agent_playbacks_check_failed_total")
        unplayable = await _metric(url, "ivr_agent_playbacks_unplayable")
    progress(json.dumps(body["components"]["prompts"], ensure_ascii=False)[:600])
    assert status == 503
    assert body["ready"] is False
    prompts_state = body["components"]["prompts"]
    assert prompts_state["state"] == "down"
    detail = prompts_state["detail"]
    jobs = check.jobs()
    assert f"the PBX cannot play {len(jobs)} of {len(jobs)} prompt files" in detail
    for name in ("greeting_external", "greeting_internal", "hold_reminder", "operator_intro-001"):
        assert name in detail, name
    assert "the PBX has no sound:ivr-agent-elsewhere/zh-CN/<file> in its sounds" in detail
    assert "IVR_AGENT_PROMPTS_DELIVERY=http" in detail
    assert {u.file for u in check.unplayable} == {j.stem for j in jobs}
    assert failed == unplayable == len(jobs)
    # AMI, ARI and the database are fine: only the prompts make the agent not ready.
    others = {k: v["state"] for k, v in body["components"].items() if k != "prompts"}
    assert set(others.values()) <= {"up", "disabled"}, others


async def test_given_directory_delivery_into_the_pbxs_sounds_then_every_prompt_is_playable(
    tmp_path: Path, db: Database
) -> None:
    # Today's shared directory: the sandbox installs the prompts under the PBX's sounds.
    settings = sandbox_settings(
        running_sandbox(), tmp_path / "var", "prompts", prompts_delivery="directory"
    )
    async with serving_agent(settings, db) as (app, url):
        await _checked(app)
        status, body = await _readyz(url)
    assert body["components"]["prompts"]["state"] == "up", body
    assert status == 200
    assert "prompt files playable (sound:ivr-agent/…)" in body["components"]["prompts"]["detail"]


async def test_given_a_prompts_url_the_pbx_cannot_reach_then_readyz_says_no_request_reached_it(
    tmp_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(playable, "OWN_SERVER_WAIT_SECONDS", 0.5)
    box = running_sandbox()
    prompts = _outside_the_pbx(tmp_path)
    shutil.copytree(box.root / SOUNDS_DIR.lstrip("/") / "zh-CN", prompts / "zh-CN")
    (prompts / "zh-CN" / "silence_last.wav").unlink()  # and one prompt never rendered
    # Port 9 (discard) on loopback: nothing answers there.
    settings = sandbox_settings(
        box, tmp_path / "var", "prompts", prompts_dir=prompts, prompts_url="http://127.0.0.1:9"
    )
    async with serving_agent(settings, db) as (app, url):
        await _checked(app)
        status, body = await _readyz(url)
    detail = body["components"]["prompts"]["detail"]
    progress(detail[:600])
    assert status == 503
    assert re.search(r"silence_last: not rendered: missing in \S+/agent-data/prompts/zh-CN", detail)
    assert re.search(
        r"greeting_external, [^:;]*: the PBX could not fetch http://127.0.0.1:9/prompts/zh-CN/"
        r"<file>.wav: no request reached this agent",
        detail,
    )


async def test_given_http_delivery_from_the_agents_own_folder_then_every_prompt_is_playable(
    tmp_path: Path, db: Database
) -> None:
    box = running_sandbox()
    prompts = _outside_the_pbx(tmp_path)
    shutil.copytree(box.root / SOUNDS_DIR.lstrip("/") / "zh-CN", prompts / "zh-CN")
    settings = sandbox_settings(box, tmp_path / "var", "prompts", prompts_dir=prompts)
    async with serving_agent(settings, db) as (app, url):
        check = await _checked(app)
        status, body = await _readyz(url)
        files = app[PROMPT_FILES].stats
    assert body["components"]["prompts"]["state"] == "up", body
    assert status == 200
    jobs = check.jobs()
    # The check made the PBX fetch every file from the agent, each once.
    assert files.served == len(jobs)
    assert (
        f"{len(jobs)} prompt files playable (http://127.0.0.1:"
        in (body["components"]["prompts"]["detail"])
    )


# --- every inbound prompt heard, from a folder the PBX cannot see -------------------------

#: Three inbound calls that between them hear every inbound prompt: each call's prompts.
HEARD_PLAN = Scenario(
    name="prompts_http_heard",
    calls=(
        # Greeting, 工号播报, hold reminder over the music and the apology at the unhold; the
        # operator hangs up first: the satisfaction question, answered with 1.
        InboundCall(
            id="held",
            caller="13800138611",
            operator="003",
            answer_after=3.0,
            talk=22.0,
            hangup="operator",
            holds=(Hold(start=5.0, seconds=12.0),),
            speech=(Speech(say="ivr-sim/question", after_answer=1.0),),
            survey_digit="1",
        ),
        # A colleague (extension number) who never speaks: the department greeting, 工号播报,
        # then both silence prompts and the agent's hang-up.
        InboundCall(
            id="silent",
            caller="8067",
            start=2.0,
            operator="004",
            answer_after=2.0,
            talk=30.0,
        ),
        # Answered at ring 6: the apology, then the 工号播报.
        InboundCall(
            id="late",
            caller="13800138616",
            start=4.0,
            operator="002",
            answer_after=27.0,
            talk=10.0,
            speech=(Speech(say="ivr-sim/question", after_answer=1.0),),
        ),
    ),
)
EXPECTED_PROMPTS = {
    "held": [
        "greeting_external",
        "operator_intro",
        "hold_reminder",
        "hold_end_apology",
        "satisfaction",
    ],
    "silent": ["greeting_internal", "operator_intro", "silence_first", "silence_last"],
    "late": ["greeting_external", "long_wait_apology", "operator_intro"],
}
#: A prompt must be heard this close to when the agent's report says it started.
TOLERANCE = 0.5


async def test_given_the_prompts_out_of_the_pbxs_sight_then_every_inbound_prompt_is_heard(
    tmp_path: Path, db: Database
) -> None:
    box = running_sandbox()
    prompts = _outside_the_pbx(tmp_path)
    # As `ivr-agent prompts build` does with http delivery: into the agent's own data.
    settings = sandbox_settings(box, tmp_path / "var", "prompts", prompts_dir=prompts)
    assert settings.prompts_delivery == "http"
    report = build_prompts(PromptCatalogue.from_settings(settings), languages=["zh-CN"])
    progress(report.summary())
    config = runner.RunnerConfig.from_env_file(box.credentials_file)
    async with serving_agent(settings, db) as (app, url):
        check = await _checked(app)
        assert check.unplayable == ()
        checked = app[PROMPT_FILES].stats.served
        truths = await runner.run(
            HEARD_PLAN, config, progress, recordings=ARTIFACTS / "heard" / HEARD_PLAN.name
        )
        outcomes = await stored_outcomes(db, settings.pbx_id, {t["caller_number"] for t in truths})
        files = app[PROMPT_FILES].stats
        played_media = check.catalogue.media("hold_reminder")
    (ARTIFACTS / "prompts-http-heard.json").write_text(
        json.dumps({"truths": truths, "outcomes": outcomes}, ensure_ascii=False, default=str)
    )
    assert played_media.startswith(f"sound:{url}/prompts/zh-CN/")
    # Every file came from the agent: fetched once by the start-up check, then played from
    # the PBX's cache during the calls (no download per call).
    assert checked == len(check.jobs())
    assert (files.served, files.not_found) == (checked, 0)

    for truth in truths:
        assert truth["completed"], (truth["id"], truth["errors"])
        outcome = outcomes[truth["caller_number"]]
        played = [p for p in outcome["prompts_played"] if p["played"]]
        assert [p["prompt"] for p in played] == EXPECTED_PROMPTS[truth["id"]], truth["id"]
        for entry in played:
            stem = entry["prompt"]
            if stem == "operator_intro":
                stem = f"operator_intro-{truth['operator_id']}"
            audio = load_wav(prompts / "zh-CN" / f"{stem}.wav")
            found = heard_near(truth, audio, datetime.fromisoformat(entry["at"]))
            assert found is not None, (truth["id"], stem, "the recording ends before it")
            offset, score = found
            progress(
                f"{truth['id']}: {stem} heard {offset:+.3f} s from its start, score {score:.2f}"
            )
            assert score >= HEARD_SCORE, (truth["id"], stem, offset, score)
            assert abs(offset) <= TOLERANCE, (truth["id"], stem, offset, score)


# --- the PBX's cache ------------------------------------------------------------------------


def _pbx_cached_copy(url: str) -> bytes:
    """The bytes of the PBX's media-cache copy of ``url``: ``media cache show <uri>`` gives
    its ``Path`` and ``ext`` (``.wav``): the path ends in a dot while the file is new and
    carries the extension once Asterisk has replaced it (seen in CI: ``bucket-….wav``, which
    the older code turned into ``….wav.wav``). Not ``show all``: every agent a test starts
    listens on a port of its own, so the lane's cache lists hundreds of URIs, more than one
    CLI answer carries."""
    box = running_sandbox()
    shown = sandbox.cli(box, box.pbx, f"media cache show {url}")
    path = re.search(r"^\s*Path: (\S+)\s*$", shown, re.M)
    ext = re.search(r"^\s*ext: (\S+)\s*$", shown, re.M)
    assert path, shown
    assert ext, shown
    shown_path, extension = path.group(1), ext.group(1)
    local = shown_path if shown_path.endswith(extension) else shown_path.rstrip(".") + extension
    return (box.root / local.lstrip("/")).read_bytes()


async def test_given_the_pbx_cache_then_a_file_is_fetched_once_revalidated_and_replaced_if_changed(
    tmp_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    max_age = 2
    monkeypatch.setattr(prompt_http, "MAX_AGE_SECONDS", max_age)
    box = running_sandbox()
    prompts = _outside_the_pbx(tmp_path)
    shutil.copytree(box.root / SOUNDS_DIR.lstrip("/") / "zh-CN", prompts / "zh-CN")
    settings = sandbox_settings(box, tmp_path / "var", "prompts", prompts_dir=prompts)
    async with serving_agent(settings, db) as (app, _url):
        check = await _checked(app)
        files = app[PROMPT_FILES].stats
        n = len(check.jobs())
        counts = []

        def count(step: str) -> tuple[int, int]:
            counts.append((step, files.served, files.not_modified))
            progress(f"cache: {step}: {files.served} downloads, {files.not_modified} revalidated")
            return files.served, files.not_modified

        # Downloads are what must not repeat. Revalidations are counted loosely: a check of
        # n files can itself outlast the 2 s max-age on a loaded machine (CI: 3 of 40 files
        # revalidated in the start-up check, each played twice after a failed playback).
        # The start-up check: every file downloaded once.
        served, revalidated = count("start-up check")
        assert served == n
        assert revalidated <= n
        # Played again within max-age: from the PBX's cache, not a single download.
        assert await check.run()
        assert count("again within max-age")[0] == n
        # After max-age: each file revalidated (HEAD + If-None-Match → 304), none downloaded.
        await asyncio.sleep(max_age + 0.5)
        before = files.not_modified
        assert await check.run()
        served, revalidated = count("again after max-age")
        assert served == n
        assert revalidated - before >= n
        # A re-rendered prompt (same name, new bytes, renamed into place as the build does):
        # after max-age the PBX downloads it again, and only it.
        target = prompts / "zh-CN" / "hold_reminder.wav"
        media = check.catalogue.media("hold_reminder").removeprefix("sound:")
        assert _pbx_cached_copy(media) == target.read_bytes()
        new = (prompts / "zh-CN" / "silence_first.wav").read_bytes()
        temp = target.with_name(".hold_reminder.tmp.wav")
        temp.write_bytes(new)
        temp.replace(target)
        await asyncio.sleep(max_age + 0.5)
        before = files.not_modified
        assert await check.run()
        served, revalidated = count("after a re-render")
        assert served == n + 1  # the re-rendered file only
        assert revalidated - before >= n - 1
        assert _pbx_cached_copy(media) == new
    (ARTIFACTS / "prompts-http-cache.json").write_text(json.dumps(counts))
