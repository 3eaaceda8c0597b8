"""The agent's greeting and satisfaction question in live sandbox calls.

The whole agent runs in-process (AMI + ARI + the outbox + a real PostgreSQL) against the PBX
under test; the simulator places real SIP calls from the phones instance. What the caller
heard comes from talk detection on the caller's own line, on the phones side:
``heard_before_answer`` (the greeting, then ringback) and ``heard_after_operator`` (the
satisfaction question). Each stored outcome must list the prompt the caller heard, agree with
the ground truth, and be reproduced by replaying the agent's own AMI capture.

The same calls show who hung up first (S9): a caller who hangs up, an operator who hangs up on
the caller (the breach ``operator_hung_up_first``, though the caller is then asked the
question), and an operator who hands the caller over to the question with the phone's
transfer key (a SIP REFER to the hook ``ivr-agent-survey-handover``): no breach.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from ivr_agent.calls.store import page_outcomes
from ivr_agent.core.config import StandardsConfig
from ivr_agent.core.outcome import CallOutcome
from ivr_agent.core.replay import Replay
from ivr_agent.db.database import Database
from ivr_agent.pbx.capture import read_capture
from ivr_agent.settings import Settings
from ivr_agent.sim import runner
from ivr_agent.sim import scenario as scenarios
from ivr_agent.sim.scenario import InboundCall, Scenario, Speech
from tests.integration.sandbox_support import ARTIFACTS, progress, running_sandbox
from tests.support.agent import running_agent
from tests.support.ground_truth import assert_matches_truth

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]

#: The greeting TTS lasts about 4.3 s (external) and 1.9 s (internal); ringback is 1 s on.
EXTERNAL_GREETING_MIN_SECONDS = 3.0
#: The caller's line hears the greeting this soon after the PBX answered it.
GREETING_START_WITHIN_SECONDS = 1.5


async def stored(db: Database, pbx_id: str, numbers: set[str]) -> dict[str, CallOutcome]:
    """This agent's stored outcomes by caller number, once all ``numbers`` are there."""
    deadline = time.monotonic() + 30
    while True:
        found = {
            o.caller_number or "": o
            for o in await page_outcomes(db, limit=1000)
            if o.pbx_id == pbx_id
        }
        if numbers <= found.keys() or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value)


def greeting_heard(truth: dict[str, Any]) -> tuple[float, float]:
    """(seconds from the PBX's answer to the first audio heard, how long it lasted)."""
    first = truth["heard_before_answer"][0]
    return (_t(first["started_at"]) - _t(truth["connected_at"])).total_seconds(), first["seconds"]


def prompts(outcome: CallOutcome) -> list[tuple[str, bool, bool | None]]:
    return [(p.prompt, p.played, p.finished) for p in outcome.prompts_played]


async def test_greetings_and_the_satisfaction_question_reach_the_caller_and_the_outcome(
    agent_settings: Settings, db: Database
) -> None:
    survey_call = scenarios.load("operator_hangs_up_first").calls[0]
    handover_call = scenarios.load("operator_hands_over_to_survey").calls[0]
    plan = Scenario(
        name="greeting_live",
        calls=(
            InboundCall(
                id="external",
                caller="13800138501",
                operator="004",
                answer_after=2.0,
                talk=6.0,
                speech=(Speech(say="ivr-sim/question", after_answer=1.0),),
            ),
            # An extension number (4 digits): a colleague, greeted with the department.
            InboundCall(
                id="internal",
                caller="8066",
                start=9.0,
                operator="005",
                answer_after=2.0,
                talk=6.0,
                speech=(Speech(say="ivr-sim/question", after_answer=1.0),),
            ),
            replace(survey_call, start=18.0),
            # Beside the call above, on another operator. Its 8 s of talk let the 工号播报
            # (about 6 s) end before the hand-over, so the caller hears the question apart.
            replace(handover_call, start=21.0),
        ),
    )
    config = runner.RunnerConfig.from_env_file(running_sandbox().credentials_file)
    capture = agent_settings.data_dir / "greeting_live.jsonl"
    async with running_agent(agent_settings, db, capture=capture):
        truths = await runner.run(plan, config, progress)
        numbers = {t["caller_number"] for t in truths}
        outcomes = await stored(db, agent_settings.pbx_id, numbers)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "greeting_live.json").write_text(
        json.dumps(
            {
                "truths": truths,
                "outcomes": {n: o.to_json() | {"extra": o.extra} for n, o in outcomes.items()},
            },
            ensure_ascii=False,
            indent=1,
        )
    )
    for truth in truths:
        assert truth["completed"], (truth["id"], truth["errors"])
    by_id = {t["id"]: t for t in truths}
    standards = StandardsConfig.from_settings(agent_settings)
    assert_matches_truth(
        {n: outcomes[n].to_json() for n in numbers}, truths, standards, "greeting_live"
    )

    # External caller: the company greeting, heard as soon as the PBX answered.
    start, seconds = greeting_heard(by_id["external"])
    assert 0 <= start < GREETING_START_WITHIN_SECONDS
    assert seconds >= EXTERNAL_GREETING_MIN_SECONDS
    external = outcomes["13800138501"]
    assert prompts(external)[0] == ("greeting_external", True, True)
    assert "satisfaction" not in external.extra  # the caller hung up: no question

    # Internal caller: the department greeting.
    start, _ = greeting_heard(by_id["internal"])
    assert 0 <= start < GREETING_START_WITHIN_SECONDS
    assert prompts(outcomes["8066"])[0] == ("greeting_internal", True, True)

    # The operator hung up first: the caller heard the question, pressed 1, and the
    # stored outcome says satisfied.
    truth = by_id[survey_call.id]
    assert truth["hung_up_by"] == "operator"
    assert truth["heard_after_operator"], "the caller heard nothing after the operator left"
    assert truth["survey"]["pressed_at"] is not None
    question = _t(truth["heard_after_operator"][0]["started_at"]) - _t(truth["ended_at"])
    assert 0 <= question.total_seconds() < 2.0  # asked right after the operator's hang-up
    survey = outcomes[survey_call.caller]
    assert ("satisfaction", True, True) in prompts(survey)
    assert survey.extra["satisfaction"] == "satisfied"

    # S9: the caller who hung up first is no breach; the operator who hung up first is, also
    # though the caller was then asked the question.
    assert (external.hung_up_by, external.operator_hung_up_first) == ("caller", False)
    assert (survey.hung_up_by, survey.operator_hung_up_first) == ("operator", True)

    # The operator handed the caller over to the question (a transfer to the hook): the
    # caller heard it right after the hand-over and pressed 1; no breach, the call was ended
    # by the hook after the answer.
    truth = by_id[handover_call.id]
    assert truth["handover"] is not None
    assert truth["survey"]["pressed_at"] is not None
    question = _t(truth["heard_after_operator"][0]["started_at"]) - _t(truth["handover"]["at"])
    assert 0 <= question.total_seconds() < 2.0
    handed_over = outcomes[handover_call.caller]
    assert ("satisfaction", True, True) in prompts(handed_over)
    assert handed_over.extra["satisfaction"] == "satisfied"
    assert (handed_over.hung_up_by, handed_over.operator_hung_up_first) == ("system", False)

    # Replaying the agent's own AMI capture gives the same outcomes, answer included.
    replayed = {
        f.outcome.caller_number: f.outcome
        for f in Replay(standards, agent_settings.pbx_id).run(read_capture(capture))
    }
    for number in numbers:
        # The recording is stored after the call (the store names it); events know nothing of it.
        outcome = dataclasses.replace(outcomes[number], recording_id=None)
        assert replayed[number].to_json_line() == outcome.to_json_line()
        assert replayed[number].extra.get("satisfaction") == outcome.extra.get("satisfaction")
