"""Inbound recording by the dialplan's MixMonitor (IVR_AGENT_INBOUND_RECORDER=mixmonitor),
against the real sandbox.

The greeting names the caller's file, the shipped ``ivr-agent-inbound`` hook runs
``MixMonitor`` into the PBX's recording spool as the caller leaves it, and the agent keeps
the file once the call is finished. Two callers at once: one answered by operator 003 (a
12 s hold), one who gives up 3 s into the queue's ringing. The answered call must get a
verified recording that starts before the answer (the wait is on it) and lasts to the
caller's hang-up, silent while paused through the API (the AMI ``MixMonitorMute``); the
PBX's copy is deleted. The other caller's recording is deleted from the PBX, nothing kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import replace
from datetime import datetime

import pytest
from aiohttp import web

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
from tests.support.agent import recording_of, serving_agent, stored_outcomes

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]


async def _gone_from_pbx(app: web.Application, linkedid: str) -> int | None:
    """The status ARI answers for the call's recording on the PBX (404: deleted)."""
    try:
        await app[IVR].get().client.stored_recording(f"ivr-agent-in-{linkedid}")
    except AriError as exc:
        return exc.status
    return 200


async def test_given_mixmonitor_then_answered_calls_are_kept_verified_and_the_rest_deleted(
    agent_settings: Settings, db: Database
) -> None:
    settings = agent_settings.model_copy(update={"inbound_recorder": "mixmonitor"})
    (answered,) = scenarios.load("hold_12s").calls
    (gave_up,) = scenarios.load("abandoned_short").calls
    plan = scenarios.Scenario(name="mixmonitor", calls=(answered, replace(gave_up, start=1.0)))
    config = runner.RunnerConfig.from_env_file(running_sandbox().credentials_file)
    ops = await create_token(db, "ops")
    async with serving_agent(settings, db) as (app, base):
        pausing = asyncio.create_task(_pause_resume(app, base, ops))
        truths = await runner.run(plan, config, progress)
        pause_at, resume_at = await pausing
        calls = await stored_outcomes(db, settings.pbx_id, {answered.caller, gave_up.caller})
        call, lost = calls[answered.caller], calls[gave_up.caller]
        recording = await recording_of(db, call["call_id"])
        recorder = app[RECORDER].get()
        deadline = time.monotonic() + 10
        while recorder.stats["discarded"] == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        statuses = [await _gone_from_pbx(app, c["linkedid"]) for c in (call, lost)]
    assert all(t["completed"] for t in truths), [t["errors"] for t in truths]
    assert recording.status == "ok", recording.reason
    assert (recorder.stats["ok"], recorder.stats["discarded"]) == (1, 1)
    assert statuses == [404, 404]  # both deleted from the PBX
    assert lost["answered_at"] is None
    assert not await recordings_of_call(db, lost["call_id"], kind="call")
    data = resolve_stored(settings.data_dir, recording.path).read_bytes()
    assert hashlib.sha256(data).hexdigest() == recording.sha256
    # From the end of the greeting (before the answer: the wait is on it) to the hang-up.
    answered_at = datetime.fromisoformat(call["answered_at"])
    ended = datetime.fromisoformat(call["ended_at"])
    assert recording.started_at is not None
    assert recording.started_at < answered_at
    check = verify_wav(data, (ended - recording.started_at).total_seconds(), tolerance=1.0)
    assert check.ok, check.reason
    # Silent while paused (MixMonitorMute writes silence: the time axis holds), not elsewhere.
    origin = recording.started_at.timestamp()
    levels = peaks(data, int((check.seconds or 0.0) * 10))  # one level per 100 ms
    paused = levels[int((pause_at - origin + 0.3) * 10) : int((resume_at - origin - 0.3) * 10)]
    assert paused
    assert max(paused) < 0.01, paused
    assert max(levels) > 0.05
