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

import pytest

from ivr_agent.app import IVR
from ivr_agent.db.database import Database
from ivr_agent.pbx.ari import AriError
from ivr_agent.settings import Settings
from ivr_agent.sim import runner
from ivr_agent.sim.scenario import InboundCall, Scenario
from tests.integration.sandbox_support import progress, running_sandbox
from tests.support.agent import running_agent

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]

#: The new agent must have the stranded caller in the queue this soon after it connected.
REACHES_QUEUE_WITHIN_SECONDS = 5.0
#: How long the caller is left stranded with no agent at all.
STRANDED_SECONDS = 2.0


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
    simulation: asyncio.Task[list[dict[str, object]]] | None = None
    async with running_agent(agent_settings, db) as app:
        ivr = app[IVR]
        simulation = asyncio.create_task(runner.run(plan, config, progress))
        deadline = time.monotonic() + 30
        while ivr.router.stats.handlers_started == 0:
            assert time.monotonic() < deadline, "the caller never reached the greeting"
            assert not simulation.done(), simulation
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # the greeting (about 4.3 s) is playing

        async def process_gone(channel_id: str, **_: object) -> None:
            raise AriError("POST", f"/channels/{channel_id}/continue", None, "agent killed")

        ivr.client.continue_in_dialplan = process_gone  # type: ignore[method-assign]
    killed_at = time.time()
    await asyncio.sleep(STRANDED_SECONDS)
    async with running_agent(agent_settings, db) as app:
        restarted_at = time.time()
        try:
            truths = await asyncio.wait_for(simulation, 60)
        except TimeoutError:
            pytest.fail("the caller never reached the queue: still stranded in Stasis")
        stats = app[IVR].router.stats
    truth = truths[0]
    assert truth["completed"], truth["errors"]
    assert "004" in truth["operators_offered"]  # a ring-all queue offers it to everyone
    offered_at = datetime.fromisoformat(str(truth["offered_at"])).timestamp()
    # Stranded while no agent ran (the first one did not hand the caller back)…
    assert offered_at > killed_at + STRANDED_SECONDS - 0.5
    # …and sent on as soon as the next one connected.
    assert offered_at - restarted_at < REACHES_QUEUE_WITHIN_SECONDS
    assert stats.stranded_continued == 1
