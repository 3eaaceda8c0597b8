"""Inbound recording by the dialplan's MixMonitor (IVR_AGENT_INBOUND_RECORDER=mixmonitor),
against the real sandbox.

The greeting names the caller's file, the shipped ``ivr-agent-inbound`` hook runs
``MixMonitor`` into the PBX's recording spool as the caller leaves it, and the agent keeps
the file once the call is finished. An answered call (operator 003, a 12 s hold) must get a
verified recording that starts before the answer (the wait is on it) and lasts to the
caller's hang-up, silent while paused through the API (the AMI ``MixMonitorMute``), and no
snoop channel of ours; the PBX's copy is deleted. A caller nobody answered leaves no file.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import datetime

import pytest

from ivr_agent.app import IVR
from ivr_agent.db.database import Database
from ivr_agent.db.tokens import create_token
from ivr_agent.pbx.ari import AriError
from ivr_agent.qa import recordings_of_call
from ivr_agent.recordings.files import resolve_stored, verify_wav
from ivr_agent.recordings.inbound import RECORDER
from ivr_agent.recordings.waveform import peaks
from ivr_agent.settings import Settings
from ivr_agent.sim import runner
from ivr_agent.sim import scenario as scenarios
from tests.integration.sandbox_support import progress, running_sandbox
from tests.integration.test_qa_recording_live import _pause_resume
from tests.support.agent import recording_of, serving_agent, stored_outcome

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]


async def test_given_mixmonitor_when_a_call_is_answered_then_the_dialplan_records_it_verified(
    agent_settings: Settings, db: Database
) -> None:
    settings = agent_settings.model_copy(update={"inbound_recorder": "mixmonitor"})
    plan = scenarios.load("hold_12s")
    config = runner.RunnerConfig.from_env_file(running_sandbox().credentials_file)
    ops = await create_token(db, "ops")
    async with serving_agent(settings, db) as (app, base):
        pausing = asyncio.create_task(_pause_resume(app, base, ops))
        (truth,) = await runner.run(plan, config, progress)
        pause_at, resume_at = await pausing
        call = await stored_outcome(db, settings.pbx_id, truth["caller_number"])
        recording = await recording_of(db, call["call_id"])
        recorder = app[RECORDER].get()
        with pytest.raises(AriError) as caught:
            await app[IVR].get().client.stored_recording(f"ivr-agent-in-{call['linkedid']}")
    assert truth["completed"], truth["errors"]
    assert recording.status == "ok", recording.reason
    assert recorder.stats["ok"] == 1
    data = resolve_stored(settings.data_dir, recording.path).read_bytes()
    assert hashlib.sha256(data).hexdigest() == recording.sha256
    # From the end of the greeting (before the answer: the wait is on it) to the hang-up.
    answered = datetime.fromisoformat(call["answered_at"])
    ended = datetime.fromisoformat(call["ended_at"])
    assert recording.started_at is not None
    assert recording.started_at < answered
    whole = (ended - recording.started_at).total_seconds()
    check = verify_wav(data, whole, tolerance=1.0)
    assert check.ok, check.reason
    assert caught.value.status == 404  # deleted from the PBX once stored
    # Silent while paused (MixMonitorMute writes silence: the time axis holds), not elsewhere.
    origin = recording.started_at.timestamp()
    levels = peaks(data, int((check.seconds or 0.0) * 10))  # one level per 100 ms
    paused = levels[int((pause_at - origin + 0.3) * 10) : int((resume_at - origin - 0.3) * 10)]
    assert paused
    assert max(paused) < 0.01, paused
    assert max(levels) > 0.05


async def test_given_mixmonitor_when_nobody_answers_then_no_recording_is_left(
    agent_settings: Settings, db: Database
) -> None:
    settings = agent_settings.model_copy(update={"inbound_recorder": "mixmonitor"})
    plan = scenarios.load("abandoned_short")  # hangs up 3 s into the queue's ringing
    config = runner.RunnerConfig.from_env_file(running_sandbox().credentials_file)
    async with serving_agent(settings, db) as (app, _base):
        (truth,) = await runner.run(plan, config, progress)
        call = await stored_outcome(db, settings.pbx_id, truth["caller_number"])
        recorder = app[RECORDER].get()
        deadline = time.monotonic() + 10
        while recorder.stats["discarded"] == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        with pytest.raises(AriError) as caught:
            await app[IVR].get().client.stored_recording(f"ivr-agent-in-{call['linkedid']}")
    assert call["answered_at"] is None
    # MixMonitor recorded the wait; the agent deleted it, and kept nothing.
    assert recorder.stats["discarded"] == 1
    assert caught.value.status == 404
    assert not await recordings_of_call(db, call["call_id"], kind="call")
