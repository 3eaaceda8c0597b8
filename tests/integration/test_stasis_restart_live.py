"""An agent that dies while a caller hears the greeting: the next agent sends the caller on.

The caller is inside ``Stasis(ivr-agent,greet,…)`` (the dialplan hook ``ivr-agent-inbound``)
when the first agent goes away without handing it back — a process killed mid-handler,
made here by cutting its ``continue`` request before shutting it down. Asterisk keeps the
channel in the app, in silence, and sends no ``StasisStart`` again. The second agent's
reclaim finds it in the channel listing and continues it: the caller reaches the queue
(the phones instance sees an operator leg offered) within seconds of the new agent.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

import pytest

from ivr_agent.app import IVR
from ivr_agent.db.database import Database
from ivr_agent.pbx.ari import AriError
from ivr_agent.pbx.capture import read_capture
from ivr_agent.pbx.session import Ivr
from ivr_agent.settings import Settings
from ivr_agent.sim import runner
from ivr_agent.sim import scenario as scenarios
from ivr_agent.sim.scenario import InboundCall, Scenario
from tests.integration.sandbox_support import progress, running_sandbox
from tests.support.agent import running_agent
from tests.support.hearing import prompt_audio

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]

#: The new agent must have the stranded caller in the queue this soon after it connected.
REACHES_QUEUE_WITHIN_SECONDS = 5.0
#: How long the caller is left stranded with no agent at all.
STRANDED_SECONDS = 2.0


async def die_in_handler(ivr: Ivr, simulation: asyncio.Task[Any], handlers: int) -> None:
    """Once the ``handlers``-th Stasis handler has run for 1 s, make the agent unable to hand
    its caller back (its process is gone) — the caller is then left in Stasis on exit."""
    deadline = time.monotonic() + 60
    while ivr.router.stats.handlers_started < handlers:
        assert time.monotonic() < deadline, "the caller never reached the Stasis hook"
        assert not simulation.done(), simulation
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # the prompt is playing

    async def process_gone(channel_id: str, **_: object) -> None:
        raise AriError("POST", f"/channels/{channel_id}/continue", None, "agent killed")

    ivr.client.continue_in_dialplan = process_gone  # type: ignore[method-assign]


async def test_a_caller_stranded_in_the_greeting_by_a_dead_agent_reaches_the_queue(
    agent_settings: Settings, db: Database
) -> None:
    plan = Scenario(
        name="stasis_restart",
        calls=(
            InboundCall(
                id="stranded", caller="13800138701", operator="004", answer_after=1.0, talk=2.0
            ),
        ),
    )
    config = runner.RunnerConfig.from_env_file(running_sandbox().credentials_file)
    async with running_agent(agent_settings, db) as app:
        simulation = asyncio.create_task(runner.run(plan, config, progress))
        await die_in_handler(app[IVR].get(), simulation, handlers=1)  # in the greeting (4.3 s)
    killed_at = time.time()
    await asyncio.sleep(STRANDED_SECONDS)
    async with running_agent(agent_settings, db) as app:
        restarted_at = time.time()
        try:
            truths = await asyncio.wait_for(simulation, 60)
        except TimeoutError:
            pytest.fail("the caller never reached the queue: still stranded in Stasis")
        stats = app[IVR].get().router.stats
    truth = truths[0]
    assert truth["completed"], truth["errors"]
    assert "004" in truth["operators_offered"]  # a ring-all queue offers it to everyone
    offered_at = datetime.fromisoformat(str(truth["offered_at"])).timestamp()
    # Stranded while no agent ran (the first one did not hand the caller back)…
    assert offered_at > killed_at + STRANDED_SECONDS - 0.5
    # …and sent on as soon as the next one connected.
    assert offered_at - restarted_at < REACHES_QUEUE_WITHIN_SECONDS
    assert stats.stranded_continued == 1


async def test_a_caller_stranded_in_the_satisfaction_question_is_sent_on_and_reported(
    agent_settings: Settings, db: Database
) -> None:
    """The hook reports what it has: ``IVR_AGENT_SATISFACTION`` stays empty (the hook empties
    it before Stasis), so ``IvrAgentSurvey`` carries no digit — ``no_answer`` for a question
    the dead agent had started (core.standards.satisfaction_verdict) — and the dialplan ends
    the call instead of leaving the caller in silence."""
    call = scenarios.load("operator_hangs_up_first").calls[0]
    plan = Scenario(name="stasis_restart_survey", calls=(call,))
    config = runner.RunnerConfig.from_env_file(running_sandbox().credentials_file)
    async with running_agent(agent_settings, db) as app:
        simulation = asyncio.create_task(runner.run(plan, config, progress))
        await die_in_handler(app[IVR].get(), simulation, handlers=2)  # greeting, then the survey
    await asyncio.sleep(STRANDED_SECONDS)
    capture = agent_settings.data_dir / "stasis_restart_survey.jsonl"
    async with running_agent(agent_settings, db, capture=capture) as app:
        restarted_at = time.time()
        try:
            truths = await asyncio.wait_for(simulation, 60)
        except TimeoutError:
            pytest.fail("the caller was never sent on: still stranded in the survey")
        stats = app[IVR].get().router.stats
    truth = truths[0]
    assert truth["completed"], truth["errors"]
    assert truth["hung_up_by"] == "operator"
    connected_at = datetime.fromisoformat(str(truth["connected_at"])).timestamp()
    caller_gone_at = connected_at + float(str(truth["duration_seconds"]))
    # The PBX hung up: at once, or — the dead agent's question still playing — once it ends
    # (ARI runs a channel's commands in order: the `continue` waits for that playback, whose
    # id the new agent cannot know to stop it).
    question = prompt_audio(running_sandbox().root, "satisfaction")
    question_seconds = len(question.samples) / question.rate
    assert caller_gone_at - restarted_at < REACHES_QUEUE_WITHIN_SECONDS + question_seconds
    assert stats.stranded_continued == 1
    reports = [
        event for event in read_capture(capture) if event.get("UserEvent") == "IvrAgentSurvey"
    ]
    assert [r.get("Digit", "") for r in reports] == [""]
