"""Prompts really played into live sandbox calls, judged by what the caller heard.

The whole agent runs in-process (AMI + ARI + the outbox + a real PostgreSQL) against the PBX
under test; the simulator places real SIP calls from the phones instance. What the caller
heard is the simulator's ``heard_after_answer``: stretches of audio found by talk detection
on the caller's own line, on the phones side — independent of the agent's own reports.
Each test also checks the stored outcome's ``prompts_played``.
"""

from __future__ import annotations

import json
import socket
from datetime import datetime, timedelta
from typing import Any

import pytest

from ivr_agent.app import EXECUTOR
from ivr_agent.db.database import Database
from ivr_agent.prompts.executor import PromptTiming
from ivr_agent.settings import Settings, load_settings
from ivr_agent.sim import runner
from ivr_agent.sim import scenario as scenarios
from ivr_agent.sim.audio_match import load_wav
from tests.integration.sandbox_support import ARTIFACTS, progress, running_sandbox
from tests.integration.scenario_runs import heard_dir, played_with_agent, scenario_group
from tests.support.agent import running_agent, stored_outcome
from tests.support.hearing import HEARD_SCORE, best_anywhere, heard_near, prompt_audio

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]

TOLERANCE = 0.5


async def play_scenario(
    name: str, settings: Settings, db: Database
) -> tuple[dict[str, Any], dict[str, Any], list[PromptTiming]]:
    """One single-call scenario played with the agent (once per run: test_agent_live
    asserts on the same run): its ground truth, its stored outcome and the executor's timing
    of each prompt."""
    run = await played_with_agent(name, settings, db)
    (truth,) = run.truths
    assert truth["completed"], truth["errors"]
    return truth, run.outcomes[truth["caller_number"]], run.timings


async def play_with_ari_down(
    name: str, settings: Settings, db: Database
) -> tuple[dict[str, Any], dict[str, Any], list[PromptTiming]]:
    """One single-call scenario with an agent whose ARI never connects: its ground truth,
    its stored outcome and the executor's timing of each prompt."""
    plan = scenarios.load(name)
    config = runner.RunnerConfig.from_env_file(running_sandbox().credentials_file)
    async with running_agent(settings, db, ari_up=False) as app:
        (truth,) = await runner.run(
            plan, config, progress, recordings=heard_dir(f"{name}-ari-down")
        )
        outcome = await stored_outcome(db, settings.pbx_id, truth["caller_number"])
        timings = list(app[EXECUTOR].get().timings)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"ivr-{name}-ari-down.json").write_text(
        json.dumps({"truth": truth, "outcome": outcome}, ensure_ascii=False, indent=1, default=str)
    )
    assert truth["completed"], truth["errors"]
    return truth, outcome, timings


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value)


def heard(truth: dict[str, Any]) -> list[tuple[float, float]]:
    """What the caller heard after the answer: (start, end) seconds after the answer."""
    answered = _t(truth["answered_at"])
    return [
        (
            (_t(h["started_at"]) - answered).total_seconds(),
            (_t(h["ended_at"]) - answered).total_seconds(),
        )
        for h in truth["heard_after_answer"]
    ]


def played(outcome: dict[str, Any]) -> list[str]:
    """The prompts played while caller and operator talked (from the answer to the end of
    the talk), as the stored outcome says; the satisfaction question after an operator's
    hang-up belongs to the survey, not to these tests."""
    answered = _t(outcome["answered_at"])
    talk = outcome["talk_seconds"]
    return [
        p["prompt"]
        for p in outcome["prompts_played"]
        if p["played"] and 0 <= (_t(p["at"]) - answered).total_seconds() < talk
    ]


def prompt_at(outcome: dict[str, Any], name: str) -> float:
    """When the outcome says prompt ``name`` started, in seconds after the answer."""
    (at,) = [p["at"] for p in outcome["prompts_played"] if p["prompt"] == name]
    return (_t(at) - _t(outcome["answered_at"])).total_seconds()


def hold_window(truth: dict[str, Any]) -> tuple[float, float]:
    """The (only) hold, in seconds after the answer, as the phones side measured it."""
    (hold,) = truth["holds"]
    answered = _t(truth["answered_at"])
    return (
        (_t(hold["started_at"]) - answered).total_seconds(),
        (_t(hold["ended_at"]) - answered).total_seconds(),
    )


def assert_punctual(timings: list[PromptTiming], *names: str) -> None:
    """Timer prompts (each played once) started within 150 ms of their due time."""
    for name in names:
        assert len([t for t in timings if t.prompt == name]) == 1, name
        assert_punctual_all(timings, name)


def assert_punctual_all(timings: list[PromptTiming], name: str) -> None:
    """Every time timer prompt ``name`` was played, it started within 150 ms of its due
    time (PBX clock). One falling due as the hold ends is not played (the hold is over)."""
    for timing in [t for t in timings if t.prompt == name and t.played]:
        assert timing.lateness is not None, name
        assert 0 <= timing.lateness < 0.15, (name, timing.lateness)


@scenario_group("silent_never_speaks")
async def test_silent_caller_hears_the_first_prompt_after_5_s_then_the_last_and_is_hung_up(
    agent_settings: Settings, db: Database
) -> None:
    truth, outcome, timings = await play_scenario("silent_never_speaks", agent_settings, db)
    assert played(outcome) == ["operator_intro", "silence_first", "silence_last"]
    intro, first, last = heard(truth)
    assert first[0] - intro[1] == pytest.approx(5.0, abs=TOLERANCE)
    assert last[0] - first[1] == pytest.approx(5.0, abs=TOLERANCE)
    # The agent hung up right after the last prompt, long before the caller's own 30 s.
    assert truth["hung_up_by"] == "pbx"
    assert (_t(truth["ended_at"]) - _t(truth["answered_at"])).total_seconds() < last[1] + 1.5
    assert outcome["silence"] == "hung_up_silent"
    assert_punctual(timings, "silence_first", "silence_last")


@scenario_group("silent_speaks_after_prompt")
async def test_caller_speaking_after_the_first_prompt_is_not_hung_up(
    agent_settings: Settings, db: Database
) -> None:
    truth, outcome, timings = await play_scenario("silent_speaks_after_prompt", agent_settings, db)
    assert played(outcome) == ["operator_intro", "silence_first"]
    intro, first = heard(truth)  # the caller's own reply is not heard on its line
    assert first[0] - intro[1] == pytest.approx(5.0, abs=TOLERANCE)
    (reply,) = truth["speech"]
    assert _t(reply["started_at"]) > _t(truth["answered_at"])
    # Nobody hung up on the caller: it hung up itself after its 30 s.
    assert truth["hung_up_by"] == "caller"
    assert truth["talk_seconds"] == pytest.approx(30.0, abs=TOLERANCE)
    assert outcome["silence"] == "prompted_then_spoke"
    assert_punctual(timings, "silence_first")


def assert_heard(
    truth: dict[str, Any], prompt: str, due: datetime, *, head_seconds: float | None = None
) -> None:
    """The caller's phone received ``prompt`` at ``due`` (± TOLERANCE), above HEARD_SCORE."""
    found = heard_near(
        truth, prompt_audio(running_sandbox().root, prompt), due, head_seconds=head_seconds
    )
    assert found is not None, f"{prompt}: the recording of the caller's line ends before it"
    offset, score = found
    progress(f"{truth['id']}: {prompt} heard {offset:+.3f} s from due, score {score:.2f}")
    assert score >= HEARD_SCORE, (prompt, offset, score)
    assert offset == pytest.approx(0.0, abs=TOLERANCE), (prompt, offset, score)


def hold_times(truth: dict[str, Any]) -> tuple[datetime, datetime]:
    """The (only) hold's start and end, as the operator's phone measured them."""
    (hold,) = truth["holds"]
    return _t(hold["started_at"]), _t(hold["ended_at"])


@scenario_group("hold_12s")
async def test_a_12_s_hold_gets_the_reminder_at_10_s_and_the_apology_at_unhold(
    agent_settings: Settings, db: Database
) -> None:
    truth, outcome, timings = await play_scenario("hold_12s", agent_settings, db)
    hold_start, hold_end = hold_window(truth)
    assert played(outcome) == ["operator_intro", "hold_reminder", "hold_end_apology"]
    assert prompt_at(outcome, "hold_reminder") == pytest.approx(hold_start + 10, abs=TOLERANCE)
    assert prompt_at(outcome, "hold_end_apology") == pytest.approx(hold_end, abs=TOLERANCE)
    # Over the PBX's music on hold, the caller's phone received both at their due times.
    started, ended = hold_times(truth)
    assert_heard(truth, "hold_reminder", started + timedelta(seconds=10))
    assert_heard(truth, "hold_end_apology", ended)
    assert_punctual(timings, "hold_reminder")


@scenario_group("mute_12s")
async def test_a_12_s_mute_is_handled_like_a_hold_and_the_muted_operator_is_not_heard(
    agent_settings: Settings, db: Database
) -> None:
    # S2: the operator's mute key (*6, the dialplan hook ivr-agent-mute) is timed like a hold.
    truth, outcome, timings = await play_scenario("mute_12s", agent_settings, db)
    started, ended = hold_times(truth)
    assert played(outcome) == ["operator_intro", "hold_reminder", "hold_end_apology"]
    assert outcome["hold_over_limit"] is True
    # Over silence (no music: a mute), the caller's phone received both at their due times.
    assert_heard(truth, "hold_reminder", started + timedelta(seconds=10))
    assert_heard(truth, "hold_end_apology", ended)
    assert_punctual(timings, "hold_reminder")
    # What the operator said 3 s into the mute never reached the caller.
    root = running_sandbox().root
    hello = load_wav(root / "usr/share/asterisk/sounds/ivr-sim/hello.wav")
    assert best_anywhere(truth, hello, started) < HEARD_SCORE


@scenario_group("hold_60s")
async def test_a_60_s_hold_gets_a_reminder_every_20_s_and_the_apology_at_unhold(
    agent_settings: Settings, db: Database
) -> None:
    truth, outcome, timings = await play_scenario("hold_60s", agent_settings, db)
    started, ended = hold_times(truth)
    reminders = [started + timedelta(seconds=s) for s in (10, 30, 50)]
    assert played(outcome) == [
        "operator_intro",
        "hold_reminder",
        "hold_reminder",
        "hold_reminder",
        "hold_end_apology",
    ]
    for due in reminders:
        assert_heard(truth, "hold_reminder", due)
    assert_heard(truth, "hold_end_apology", ended)
    assert outcome["holds"][0]["reminders_played"] == 3
    assert_punctual_all(timings, "hold_reminder")


@scenario_group("hold_5s")
async def test_a_5_s_hold_gets_no_prompt(agent_settings: Settings, db: Database) -> None:
    truth, outcome, _ = await play_scenario("hold_5s", agent_settings, db)
    assert played(outcome) == ["operator_intro"]
    # Neither the reminder nor the apology sounds anywhere on the caller's line.
    started, _ = hold_times(truth)
    root = running_sandbox().root
    for prompt in ("hold_reminder", "hold_end_apology"):
        assert best_anywhere(truth, prompt_audio(root, prompt), started) < HEARD_SCORE, prompt
    assert outcome["hold_over_limit"] is False


@scenario_group("answered_6_rings")
async def test_an_answer_at_ring_6_gets_the_apology_then_the_operator_intro(
    agent_settings: Settings, db: Database
) -> None:
    truth, outcome, _ = await play_scenario("answered_6_rings", agent_settings, db)
    assert truth["rings"] == 6
    assert played(outcome) == ["long_wait_apology", "operator_intro"]
    apology = next(p for p in outcome["prompts_played"] if p["prompt"] == "long_wait_apology")
    assert apology["finished"] is True
    # The intro starts only after the apology ended (one voice at a time, apology first).
    assert prompt_at(outcome, "operator_intro") > prompt_at(outcome, "long_wait_apology") + 2.0
    # The caller heard both right after the answer, back to back (one heard stretch).
    first = heard(truth)[0]
    assert first[0] == pytest.approx(0.0, abs=TOLERANCE)
    assert first[1] == pytest.approx(8.4, abs=1.0)  # ≈ 2.1 s apology + 0.4 s pause + 6.2 s intro


@scenario_group("long_queue_wait")
async def test_a_long_queue_wait_answered_on_the_first_ring_is_apologised_for_first(
    agent_settings: Settings, db: Database
) -> None:
    run = await played_with_agent("long_queue_wait", agent_settings, db)
    truth = next(t for t in run.truths if t["id"] == "lw2")
    outcome = run.outcomes[truth["caller_number"]]
    # About 35 s queued behind a caller who gave up, then 2 s of its operator's ringing:
    # the wait counts from the queue join (S1), a late answer at ring 8.
    assert truth["operator_ring_seconds"] == pytest.approx(2.0, abs=TOLERANCE)
    assert outcome["rings"] == truth["rings"] == 8
    assert outcome["answered_within_standard"] is False
    assert played(outcome)[:2] == ["long_wait_apology", "operator_intro"]
    # The caller's phone received the apology at the answer, then the 工号播报.
    answered = _t(truth["answered_at"])
    assert_heard(truth, "long_wait_apology", answered)
    intro_at = _t(
        next(p["at"] for p in outcome["prompts_played"] if p["prompt"] == "operator_intro")
    )
    assert intro_at > answered + timedelta(seconds=2.0)
    assert_heard(truth, f"operator_intro-{truth['operator_id']}", intro_at)


async def test_with_ari_down_prompts_are_reported_not_played_and_the_call_is_measured(
    agent_settings: Settings, db: Database
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    settings = agent_settings.model_copy(
        update={"ari_url": load_settings(ari_url=f"http://u:p@127.0.0.1:{closed}").ari_url}
    )
    truth, outcome, timings = await play_with_ari_down("silent_never_speaks", settings, db)
    assert heard(truth) == []  # nothing whispered
    after_answer = [
        (p["prompt"], p["played"])
        for p in outcome["prompts_played"]
        if _t(p["at"]) >= _t(outcome["answered_at"])
    ]
    assert after_answer == [("operator_intro", False), ("silence_first", False)]
    # Measurement went on: the caller hung up after its own 30 s, the call is complete.
    assert truth["hung_up_by"] == "caller"
    assert outcome["complete"] is True
    assert outcome["talk_seconds"] == pytest.approx(truth["talk_seconds"], abs=TOLERANCE)
    assert [t.played for t in timings] == [False, False]
