"""The dialplan hook without the agent: callers still hear a greeting and reach the queue.

No agent is connected to ARI, so ``Stasis(ivr-agent,…)`` fails at once and the hook's
fallbacks run in plain dialplan: the greeting from the installed prompt files (or the stock
``ivr-agent/welcome``), the queue as usual, and — when the operator hangs up first — the
satisfaction question with ``Read()``. What the caller heard is measured on the phones side
(talk detection on the caller's own line); the PBX's AMI stream is captured meanwhile, and
replaying it through the tracker shows that the dialplan's own reports (``UserEvent``
``IvrAgentPrompt`` / ``IvrAgentSurvey``) put the greeting and the answer in the outcome.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from ivr_agent.core.config import StandardsConfig
from ivr_agent.core.replay import Replay
from ivr_agent.sim import scenario as scenarios
from ivr_agent.sim.scenario import InboundCall, Scenario, Speech
from tests.integration.sandbox_support import running_sandbox, simulate
from tests.support.ground_truth import assert_matches_truth

pytestmark = [pytest.mark.sandbox]

#: The greeting TTS lasts about 4.3 s; ringback alone is heard in 1 s bursts.
GREETING_MIN_SECONDS = 3.0
GREETING_START_WITHIN_SECONDS = 1.5


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _dialplan_reports(ami: list[dict[str, Any]], linkedid: str) -> list[tuple[str, ...]]:
    """The hook's own UserEvents of one call (they carry the dialplan context)."""
    return [
        (
            e["Context"],
            e["UserEvent"],
            e.get("Prompt") or e.get("Digit") or "",
            e.get("Phase") or "",
            e.get("Played") or "",
        )
        for e in ami
        if e.get("Event") == "UserEvent"
        and e.get("Linkedid") == linkedid
        and str(e.get("UserEvent", "")).startswith("IvrAgent")
    ]


def test_without_the_agent_a_hotline_caller_hears_a_greeting_and_reaches_the_queue() -> None:
    box = running_sandbox()
    survey = scenarios.load("operator_hangs_up_first").calls[0]
    plan = Scenario(
        name="dialplan_fallback",
        calls=(
            InboundCall(
                id="greeted",
                caller="13800138601",
                operator="003",
                answer_after=2.0,
                talk=8.0,  # the question (4.8 s) ends before the caller hangs up
                speech=(Speech(say="ivr-sim/question", after_answer=1.0),),
            ),
            replace(survey, start=9.0),
        ),
    )
    run = simulate(box, plan, "dialplan_fallback")
    truths = {t["id"]: t for t in run.results}
    for truth in truths.values():
        assert truth["completed"], (truth["id"], truth["errors"])

    # Heard on the caller's line: a greeting right after the PBX answered, then an operator.
    greeted = truths["greeted"]
    first = greeted["heard_before_answer"][0]
    assert (_t(first["started_at"]) - _t(greeted["connected_at"])).total_seconds() < (
        GREETING_START_WITHIN_SECONDS
    )
    assert first["seconds"] >= GREETING_MIN_SECONDS
    assert (greeted["operator_id"], greeted["answered_at"] is not None) == ("003", True)

    # The fallback ran in plain dialplan (its reports carry the hook's context) …
    outcomes = {
        f.outcome.caller_number: f.outcome
        for f in Replay(StandardsConfig(), "fallback").run(run.ami)
    }
    linkedid = outcomes["13800138601"].linkedid
    assert _dialplan_reports(run.ami, linkedid) == [
        ("ivr-agent-inbound", "IvrAgentPrompt", "greeting_external", "started", "yes"),
        ("ivr-agent-inbound", "IvrAgentPrompt", "greeting_external", "finished", "yes"),
    ]
    # … and the outcome of that stream lists the greeting and agrees with the ground truth.
    greeting = outcomes["13800138601"].prompts_played[0]
    assert (greeting.prompt, greeting.played, greeting.finished) == (
        "greeting_external",
        True,
        True,
    )
    assert_matches_truth(
        {n: o.to_json() for n, o in outcomes.items()},
        list(truths.values()),
        StandardsConfig(),
        "dialplan_fallback",
    )

    # The operator hung up first: Read() asked the question, the caller pressed 1.
    asked = truths[survey.id]
    assert asked["survey"] is not None
    assert asked["survey"]["pressed_at"] is not None
    answered = outcomes[survey.caller]
    reports = _dialplan_reports(run.ami, answered.linkedid)
    assert ("ivr-agent-after-queue", "IvrAgentSurvey", "1", "", "") in reports
    assert answered.extra["satisfaction"] == "satisfied"
