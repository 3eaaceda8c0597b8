"""Two agents for one sandbox PBX, the active one SIGKILLed while calls talk (issue 20).

Both run as their own processes (``ivr-agent run``, as deployed) with leader election on,
one PostgreSQL and one ``pbx_id``. Five calls: the first ends before the kill (the active
agent stores it); three talk when the active agent freezes (SIGSTOP: it keeps the lead but
does nothing), and a fifth is answered while it is frozen; then it is SIGKILLed, and one of
the talking calls is hung up at the PBX at once, while no agent may be active yet. A
callback is created on the standby during the failover. The standby must take over within
5 s (measured from the kill to ``/readyz`` saying ``active``); every call is stored exactly
once — those it saw only as a standby ``complete: false`` with the failover reason — and
the callback is dialled exactly once (one attempt row; the customer's phone rang).

No answered call is left without its recording: the talking calls' recordings are adopted
and whole, the one hung up in the gap is found in the PBX's spool, and the call answered
while the active agent was frozen is recorded from the take-over on.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import URL

from ivr_agent.calls.standby import TAKEOVER_REASON
from ivr_agent.db.database import Database
from ivr_agent.db.models import CallbackAttemptRow
from ivr_agent.db.tokens import create_token
from ivr_agent.sim import runner, sandbox
from ivr_agent.sim import scenario as scenarios
from tests.integration.sandbox_support import running_sandbox, simulate_when_free, until
from tests.support.agent import (
    assert_one_recording_covers,
    recordings_when_written,
    stored_outcomes,
)
from tests.support.agent_process import AgentProcess, bridged_callers, start_agent

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]

CUSTOMER = "13900139077"
#: The call answered while the active agent is frozen.
LATE = "13800138915"
#: Seconds a recording's start and length may differ from what the test expects.
RECORDING_TOLERANCE = 1.5
#: Seconds from the kill within which the standby must act (issue 20).
TAKEOVER_LIMIT = 5.0

#: The callers speak (no silent-caller prompt is due in these calls).
SPEECH = [{"after_answer": 1.0, "say": "ivr-sim/hello"}]
PLAN = scenarios.parse(
    {
        "name": "failover_during_calls",
        "description": "One short call, then three talking while the active agent dies; "
        "a callback customer who is busy.",
        "calls": [
            {"id": "f1", "caller": "13800138911", "operator": "001", "answer_after": 1.5,
             "talk": 3.0, "hangup": "caller", "speech": SPEECH},
            {"id": "f2", "caller": "13800138912", "operator": "002", "start": 1.0,
             "answer_after": 2.0, "talk": 40.0, "hangup": "caller", "speech": SPEECH},
            {"id": "f3", "caller": "13800138913", "operator": "003", "start": 2.0,
             "answer_after": 2.0, "talk": 30.0, "hangup": "caller", "speech": SPEECH},
            {"id": "f4", "caller": "13800138914", "operator": "004", "start": 3.0,
             "answer_after": 2.0, "talk": 35.0, "hangup": "operator", "speech": SPEECH},
            # The direct line (no greeting through the frozen agent): answered while the
            # active agent is frozen, so that nobody can start its recording then (the
            # hotline's greeting takes about 4 s: the three talk from about 9 s on).
            {"id": "f5", "caller": LATE, "dial": "4008002000", "operator": "010",
             "start": 20.0, "answer_after": 2.0, "talk": 12.0, "hangup": "caller",
             "speech": SPEECH},
        ],
        "callbacks": [
            {"id": "cb", "number": CUSTOMER, "behaviour": "busy"},
        ],
    }
).callbacks_from_agent()  # fmt: skip


@pytest.fixture
def agents(
    migrated_database_url: URL, tmp_path: Path
) -> Iterator[tuple[list[AgentProcess], str, sandbox.Sandbox]]:
    box = running_sandbox()
    sandbox.hang_up_all(box)
    pbx_id = f"failover-{uuid.uuid4().hex[:8]}"
    started: list[AgentProcess] = []
    try:
        # The first is active before the second starts (either could win otherwise).
        for name in ("first", "second"):
            started.append(start_agent(migrated_database_url, pbx_id, box, tmp_path, name))
        yield started, pbx_id, box
    finally:
        for agent in started:
            agent.stop()
        for agent in started:
            sys.stderr.write(agent.tail())


async def test_given_two_agents_when_the_active_is_killed_during_calls_then_the_standby_takes_over(
    agents: tuple[list[AgentProcess], str, sandbox.Sandbox], db: Database
) -> None:
    (first, second), pbx_id, box = agents
    token = await create_token(db, "admin")
    assert first.role(token) == "active"
    assert second.role(token) == "standby"

    numbers = {call.caller for call in PLAN.calls}
    config = runner.RunnerConfig.from_env_file(box.credentials_file)
    sim = asyncio.create_task(simulate_when_free(PLAN, config))
    try:
        # The first call over (stored by the active agent), the three others talking.
        talking = {"13800138912", "13800138913", "13800138914"}
        await until(
            lambda: talking <= bridged_callers(box).keys() or sim.done(), 60, "three talking"
        )
        assert not sim.done(), sim
        early = await stored_outcomes(db, pbx_id, {"13800138911"})
        assert "13800138911" in early

        first.freeze()
        assert LATE not in bridged_callers(box), "answered before the freeze: test too slow"
        await until(lambda: LATE in bridged_callers(box) or sim.done(), 30, "late call talking")
        await asyncio.sleep(1.0)  # answered a while ago: a live agent would record it now
        first.kill()
        killed = time.monotonic()
        # Ends while no agent may be active yet: only a standby that listened can know.
        channel = bridged_callers(box)["13800138912"]
        sandbox.cli(box, box.pbx, f"channel request hangup {channel}")
        status, created = second.request(
            "/api/callbacks",
            token,
            {
                "customer_number": CUSTOMER,
                "customer_name": "Failover",
                "reason": "manual",
                "reference_time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
        )
        assert status == 201, created

        while second.role(token) != "active":
            assert time.monotonic() - killed < TAKEOVER_LIMIT * 2, "no take-over"
            await asyncio.sleep(0.05)
        took = time.monotonic() - killed
        sys.stderr.write(f"take-over {took:.2f} s after the SIGKILL\n")
        assert took < TAKEOVER_LIMIT, f"take-over took {took:.2f} s"

        results = await asyncio.wait_for(sim, 90)
        outcomes = await stored_outcomes(db, pbx_id, numbers | {CUSTOMER})
        recordings = {
            number: await recordings_when_written(db, outcomes[number]["call_id"])
            for number in numbers
        }
        took_over_at = datetime.now(UTC) - timedelta(seconds=time.monotonic() - killed - took)
    finally:
        if not sim.done():
            sim.cancel()

    # Each call exactly once (stored_outcomes refuses two), the callback's call too.
    assert outcomes.keys() == numbers | {CUSTOMER}
    assert outcomes[CUSTOMER]["direction"] == "callback", outcomes[CUSTOMER]
    assert outcomes["13800138911"]["complete"] is True, outcomes["13800138911"]
    for number in talking | {LATE}:
        outcome = outcomes[number]
        assert outcome["complete"] is False, outcome
        assert TAKEOVER_REASON in outcome["incomplete_reason"], outcome
        assert outcome["answered_within_standard"] is True, outcome  # measured all along
    ended_early = outcomes["13800138912"]
    assert ended_early["duration_seconds"] < 30, ended_early  # its hang-up was seen

    # Every answered call has its recording. Whole, from the answer to the end: the one
    # over before the kill, those adopted, and the one that ended in the gap (kept from
    # the spool).
    for number in numbers - {LATE}:
        outcome = outcomes[number]
        answered = datetime.fromisoformat(outcome["answered_at"])
        ended = datetime.fromisoformat(outcome["ended_at"])
        assert_one_recording_covers(recordings[number], answered, ended, RECORDING_TOLERANCE)
    # The late one from the take-over on (not before: nobody could start it while the
    # active agent was frozen) to its end.
    [late] = recordings[LATE]
    answered = datetime.fromisoformat(outcomes[LATE]["answered_at"])
    assert late.started_at is not None, late
    assert answered + timedelta(seconds=1) < late.started_at, (late, answered)
    assert late.started_at < took_over_at + timedelta(seconds=3), (late, took_over_at)
    ended = datetime.fromisoformat(outcomes[LATE]["ended_at"])
    assert_one_recording_covers([late], late.started_at, ended, RECORDING_TOLERANCE)

    callback = next(r for r in results if r.get("kind") == "callback")
    assert callback["completed"], callback  # the customer's phone rang
    async with db.transaction() as session:
        attempts = (
            await session.scalars(
                select(CallbackAttemptRow).where(
                    CallbackAttemptRow.callback_id == created["callback_id"]
                )
            )
        ).all()
    assert [(a.pbx_id, a.outcome) for a in attempts] == [(pbx_id, "busy")], attempts
