"""The agent restarts while calls talk (issue 14: the chaos run's lost calls).

Four calls are connected on the sandbox PBX when the agent stops (as ``systemctl restart``
or a crash stops it: the calls in flight are not drained). Two of them end while no agent
runs; the other two go on. The new agent rebuilds the four from its in-flight journal and
lists the PBX's channels at login: the two that ended are stored at once, ``complete:
false`` with the reason; the two still talking are tracked to their real end. Every call is
stored exactly once, and what was measured before the restart (the answer within three
rings) stands. No recording is cut or lost by the restart: the new agent adopts those of
the two that go on, finds those of the two that ended in the PBX's spool, and each covers
its whole call.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from ivr_agent.app import INGEST
from ivr_agent.db.database import Database
from ivr_agent.recordings.inbound import RECORDER
from ivr_agent.settings import Settings
from ivr_agent.sim import runner, sandbox
from ivr_agent.sim import scenario as scenarios
from tests.integration.sandbox_support import running_sandbox, simulate_when_free, until
from tests.support.agent import (
    assert_one_recording_covers,
    recordings_when_written,
    running_agent,
    stored_outcomes,
)

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]

RESTARTED = "agent restarted; events missed while it was down"
#: Seconds a recording's start and length may differ from the call's answer and talk.
RECORDING_TOLERANCE = 1.5


def hang_up_at_the_pbx(box: sandbox.Sandbox, linkedids: set[str]) -> None:
    """Hang up the caller channel of each call (its Uniqueid is the call's Linkedid)."""
    listing = sandbox.cli(box, box.pbx, "core show channels concise")
    # Channel!Context!Exten!Priority!State!Application!Data!CallerID!…!BridgeID!Uniqueid
    channels = {
        fields[-1]: fields[0]
        for line in listing.splitlines()
        if len(fields := line.split("!")) >= 14
    }
    missing = linkedids - channels.keys()
    assert not missing, f"no caller channel for {missing} in {listing!r}"
    for linkedid in linkedids:
        sandbox.cli(box, box.pbx, f"channel request hangup {channels[linkedid]}")


async def test_given_calls_in_flight_when_the_agent_restarts_then_each_is_stored_once(
    agent_settings: Settings, db: Database
) -> None:
    box = running_sandbox()
    plan = scenarios.load("restart_during_calls")
    numbers = {call.caller for call in plan.calls}
    config = runner.RunnerConfig.from_env_file(box.credentials_file)
    sim: asyncio.Task[list[dict[str, Any]]] = asyncio.create_task(simulate_when_free(plan, config))
    try:
        async with running_agent(agent_settings, db) as app:
            tracker = app[INGEST].tracker

            def answered() -> dict[str, str]:
                return {
                    s.linkedid: s.caller_number or ""
                    for s in tracker.in_progress()
                    if s.caller_number in numbers and s.answered_at is not None
                }

            await until(lambda: len(answered()) == len(numbers) or sim.done(), 600, "connected")
            in_flight = answered()
            assert sorted(in_flight.values()) == sorted(numbers), sim
            # Each call's recording runs before the stop, so that the next agent adopts
            # them. (One answered a moment before the stop would have none yet: the next
            # agent starts it late; test_failover_live.py has that case.)
            recorder = app[RECORDER].get()
            await until(
                lambda: (
                    sum(r.started_at is not None for r in recorder.live.values()) >= len(numbers)
                ),
                30,
                "every recording started",
            )
        # No agent runs now. Two calls end meanwhile; their Hangups reach nobody.
        ended = set(sorted(in_flight)[:2])
        await asyncio.to_thread(hang_up_at_the_pbx, box, ended)
        hung_up_at = datetime.now(UTC)
        await asyncio.sleep(1.0)

        async with running_agent(agent_settings, db) as app:
            ingest = app[INGEST]
            assert ingest.stats.calls_restored == len(in_flight)
            # The talking pair ends by itself (35 s of talk): tracked to the end.
            await until(lambda: len(ingest.tracker) == 0, 120, "every call finished")
            outcomes = await stored_outcomes(db, agent_settings.pbx_id, numbers)
            recordings = {
                linkedid: await recordings_when_written(db, outcomes[number]["call_id"])
                for linkedid, number in in_flight.items()
            }

        assert outcomes.keys() == numbers
        for linkedid, number in in_flight.items():
            outcome = outcomes[number]
            assert outcome["linkedid"] == linkedid
            assert outcome["answered_within_standard"] is True, outcome  # measured before
            assert outcome["complete"] is False, outcome
            assert outcome["incomplete_reason"].startswith(RESTARTED), outcome
            gone = "channels were gone" in outcome["incomplete_reason"]
            assert gone == (linkedid in ended), outcome
            answered = datetime.fromisoformat(outcome["answered_at"])
            # Whole: adopted and followed to the call's end; or, for a call that ended while
            # no agent ran, its recording left in the PBX's spool and kept by the next one.
            end = hung_up_at if gone else datetime.fromisoformat(outcome["ended_at"])
            assert_one_recording_covers(recordings[linkedid], answered, end, RECORDING_TOLERANCE)
        await asyncio.wait_for(sim, 120)
    finally:
        if not sim.done():
            sim.cancel()
