"""RELIABILITY test 1 against the real sandbox: Asterisk restarts during live calls.

The agent runs in-process (as in test_agent_live.py) while the simulator plays
``restart_during_calls`` (four overlapping calls, 35 s of talk each). Once every call is
connected, the PBX under test goes away and comes back, two ways:

* ``core restart now``: Asterisk hangs the channels up first, so the Hangups reach the agent
  and the calls end normally (``complete`` either way is right, none may be missing);
* killed (SIGKILL) and started again: no Hangup ever comes. The resync after the reconnect
  (AMI ``Status``) finds the calls' channels gone and finishes each one ``complete: false``
  at once; none is left to the 6 h stale sweep.

Either way the AMI connection must be back within 30 s with capped, jittered backoff. The
simulator's calls fail (their PBX side is gone): expected.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from ivr_agent.app import AMI, INGEST
from ivr_agent.db.database import Database
from ivr_agent.pbx.ami import AmiConnection
from ivr_agent.platform.backoff import MIN_DELAY
from ivr_agent.platform.health import State
from ivr_agent.settings import Settings
from ivr_agent.sim import chroot, runner, sandbox
from ivr_agent.sim import scenario as scenarios
from tests.integration.sandbox_support import (
    progress,
    running_sandbox,
    simulate_when_free,
    until,
)
from tests.support.agent import running_agent, stored_outcomes

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]

SCENARIO = "restart_during_calls"
RECONNECT_WITHIN = 30.0


def _restart_now(box: sandbox.Sandbox) -> None:
    """``core restart now``: Asterisk hangs every channel up (Hangup events sent), re-execs."""
    sandbox.cli(box, box.pbx, "core restart now")


def _crash_and_start(box: sandbox.Sandbox) -> None:
    """SIGKILL the PBX Asterisk (no Hangup, no Shutdown event), then start it again."""
    pid = int(box.pid_file(box.pbx).read_text())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while chroot.pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # the AMI client sees the loss and backs off against a closed port
    sandbox.up(box, progress)  # starts the PBX instance again, waits until it answers


#: How the PBX goes away → what the agent must store for each call in flight.
#: ``None``: complete or incomplete, either is right (the Hangups may have been sent).
RESTARTS: dict[str, tuple[Callable[[sandbox.Sandbox], None], str | None]] = {
    "core-restart-now": (_restart_now, None),
    "killed-and-started": (_crash_and_start, "channels were gone"),
}


def _record_backoff(connection: AmiConnection) -> list[tuple[float, float]]:
    """Every reconnect delay the connection picks, with the ceiling it was drawn under."""
    delays: list[tuple[float, float]] = []
    backoff = connection.backoff
    pick = backoff.next_delay

    def recorded() -> float:
        ceiling = min(backoff.cap, backoff.base * 2**backoff.attempt)
        delay = pick()
        delays.append((delay, ceiling))
        return delay

    backoff.next_delay = recorded  # type: ignore[method-assign]
    return delays


def _pbx_ready(box: sandbox.Sandbox) -> bool:
    return sandbox.version(box, box.pbx) is not None


@pytest.mark.parametrize("how", sorted(RESTARTS))
async def test_given_live_calls_when_asterisk_restarts_then_reconnect_and_none_lost(
    how: str,
    agent_settings: Settings,
    db: Database,
) -> None:
    restart, incomplete_because = RESTARTS[how]
    box = running_sandbox()
    plan = scenarios.load(SCENARIO)
    numbers = {call.caller for call in plan.calls}
    config = runner.RunnerConfig.from_env_file(box.credentials_file)
    capture = agent_settings.data_dir / f"{SCENARIO}.jsonl"
    sim: asyncio.Task[list[dict[str, Any]]] | None = None
    try:
        async with running_agent(agent_settings, db, capture=capture) as app:
            connection, ingest = app[AMI], app[INGEST]
            delays = _record_backoff(connection)

            def connected() -> set[str]:
                return {
                    s.caller_number or ""
                    for s in ingest.tracker.in_progress()
                    if s.caller_number in numbers and s.answered_at is not None
                }

            sim = asyncio.create_task(simulate_when_free(plan, config))
            await until(lambda: connected() == numbers or sim.done(), 600, "calls connected")
            assert connected() == numbers, sim.result() if sim.done() else None
            await asyncio.sleep(2.0)  # talking
            in_flight = {
                s.call_id: s.caller_number
                for s in ingest.tracker.in_progress()
                if s.caller_number in numbers
            }
            assert sorted(in_flight.values()) == sorted(numbers)

            # --- restart the PBX under test while the four calls talk ---------------------
            disconnects, connects = connection.stats.disconnects, connection.stats.connects
            restarted = time.monotonic()
            details: list[str] = []
            restarting = asyncio.create_task(asyncio.to_thread(restart, box))

            def back_up() -> bool:
                component = connection.component
                if component.detail not in details:
                    details.append(component.detail)
                return (
                    connection.stats.disconnects > disconnects
                    and connection.stats.connects > connects
                    and component.state is State.UP
                )

            await until(back_up, RECONNECT_WITHIN, "AMI back up after the restart")
            reconnect_seconds = time.monotonic() - restarted
            await restarting
            print(
                f"[{how}] AMI back up {reconnect_seconds:.2f} s after the restart began; "
                f"delays {[round(d, 3) for d, _ in delays]}; details {details}",
                file=sys.stderr,
            )

            # --- every call in flight is stored (killed: complete: false); none left ----
            outcomes = await stored_outcomes(db, agent_settings.pbx_id, numbers)
            stored = {o["call_id"]: o for o in outcomes.values()}
            assert set(in_flight) <= stored.keys(), "calls in flight with no stored outcome"
            for call_id, number in in_flight.items():
                outcome = stored[call_id]
                print(
                    f"[{how}] {number}: complete={outcome['complete']} "
                    f"reason={outcome['incomplete_reason']!r}",
                    file=sys.stderr,
                )
                assert outcome["caller_number"] == number
                assert outcome["answered_within_standard"] is True  # measured before the gap
                if incomplete_because is not None:
                    assert outcome["complete"] is False, outcome
                    assert incomplete_because in outcome["incomplete_reason"], outcome
            assert not [s for s in ingest.tracker.in_progress() if s.call_id in in_flight]
            assert ingest.stats.gaps >= 1
            if incomplete_because is not None:
                assert ingest.stats.resync_finished >= len(in_flight)

            # --- the simulator finishes; its calls lost their PBX side ------------------
            truths = await asyncio.wait_for(sim, 180)
            assert len(truths) == len(plan.calls)

        # --- the reconnect backed off: capped, jittered, never a tight loop ---------------
        assert reconnect_seconds < RECONNECT_WITHIN
        assert delays, "no reconnect delay was chosen"
        for delay, ceiling in delays:
            assert MIN_DELAY <= delay <= max(ceiling, MIN_DELAY)
            assert ceiling <= connection.backoff.cap
        # full jitter: uniform below the ceiling, not the deterministic ladder itself
        assert any(delay != ceiling for delay, ceiling in delays)
        assert any("retrying in" in d for d in details), details
    finally:
        if sim is not None and not sim.done():
            sim.cancel()
            await asyncio.gather(sim, return_exceptions=True)
        # Leave the sandbox as the next tests expect it: the PBX up, fully booted, ARI up.
        await asyncio.to_thread(_wait_pbx, box)


def _wait_pbx(box: sandbox.Sandbox, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not _pbx_ready(box) and time.monotonic() < deadline:
        time.sleep(0.5)
    sandbox.up(box, progress)  # idempotent: starts the PBX if the restart left it down
    sandbox.cli(box, box.pbx, "core waitfullybooted", timeout=30)
