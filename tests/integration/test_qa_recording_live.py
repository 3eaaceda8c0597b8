"""Inbound call recording against the real sandbox: an answered call gets a verified recording.

The whole agent runs in-process (AMI + ARI + outbox + a real PostgreSQL) against the PBX
under test; the simulator places a real SIP call (operator 003 answers, holds 12 s). While
the call runs, the recording is paused and resumed through the API (an ``ops`` token, as the
operators' desk would); afterwards the stored WAV must verify, last about as long as the
answered part of the call, be silent while paused and not elsewhere, be gone from the PBX,
and the pause must be in the audit log and on the replay timeline.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from datetime import datetime

import aiohttp
import pytest
from aiohttp import web

from ivr_agent.app import IVR
from ivr_agent.calls.store import list_calls
from ivr_agent.db.database import Database
from ivr_agent.db.tokens import create_token
from ivr_agent.pbx.ari import AriError
from ivr_agent.recordings.files import resolve_stored, verify_wav
from ivr_agent.recordings.inbound import RECORDER
from ivr_agent.recordings.waveform import peaks
from ivr_agent.settings import Settings
from ivr_agent.sim import runner
from ivr_agent.sim import scenario as scenarios
from tests.integration.sandbox_support import ARTIFACTS, progress, running_sandbox
from tests.support.agent import recording_of, serving_agent, stored_outcome

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]


async def _pause_resume(app: web.Application, base: str, token: str) -> list[float]:
    """Pause 1 s into the recording, resume 2.5 s later; the PBX-clock times of both."""
    recorder = app[RECORDER].get()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        live = [r for r in recorder.live.values() if r.started_at is not None]
        if live:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("no recording started")
    call_id = live[0].call_id
    times = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
        await asyncio.sleep(1.0)
        for action, wait in (("pause", 2.5), ("resume", 0.0)):
            async with session.post(f"{base}/api/calls/{call_id}/recording/{action}") as reply:
                assert reply.status == 200, await reply.text()
                body = await reply.json()
            times.append(datetime.fromisoformat(body["at"]).timestamp())
            await asyncio.sleep(wait)
    return times


async def test_given_an_answered_inbound_call_then_a_verified_recording_is_stored(
    agent_settings: Settings, db: Database
) -> None:
    settings = agent_settings
    plan = scenarios.load("hold_12s")
    config = runner.RunnerConfig.from_env_file(running_sandbox().credentials_file)
    ops, qa = await create_token(db, "ops"), await create_token(db, "qa")
    async with serving_agent(settings, db) as (app, base):
        pausing = asyncio.create_task(_pause_resume(app, base, ops))
        (truth,) = await runner.run(plan, config, progress)
        pause_at, resume_at = await pausing
        call = await stored_outcome(db, settings.pbx_id, truth["caller_number"])
        recording = await recording_of(db, call["call_id"])
        recorder = app[RECORDER].get()
        async with (
            aiohttp.ClientSession(headers={"Authorization": f"Bearer {qa}"}) as session,
            session.get(f"{base}/api/calls/{call['call_id']}/qa") as reply,
        ):
            bundle = await reply.json()
        # The recording's (and the prompts') snoop channels are not calls of their own.
        mine = [c for c in await list_calls(db, limit=1000) if c["pbx_id"] == settings.pbx_id]
        assert [c["call_id"] for c in mine] == [call["call_id"]]
        with pytest.raises(AriError) as caught:
            await app[IVR].get().client.stored_recording(f"ivr-agent-in-{call['linkedid']}")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "qa-recording-live.json").write_text(
        json.dumps({"truth": truth, "bundle": bundle}, ensure_ascii=False, indent=1, default=str)
    )
    assert truth["completed"], truth["errors"]
    assert recording.status == "ok", recording.reason
    assert recorder.stats["ok"] == 1
    data = resolve_stored(settings.data_dir, recording.path).read_bytes()
    assert hashlib.sha256(data).hexdigest() == recording.sha256
    assert len(data) == recording.bytes
    answered = datetime.fromisoformat(call["answered_at"])
    ended = datetime.fromisoformat(call["ended_at"])
    talk = (ended - answered).total_seconds()
    check = verify_wav(data, talk, tolerance=1.0)
    assert check.ok, check.reason
    assert recording.started_at is not None
    assert abs((recording.started_at - answered).total_seconds()) < 1.0
    # Deleted from the PBX once stored.
    assert caught.value.status == 404
    # Silent while paused, not silent around it (the call has speech, ringback-free MOH).
    origin = recording.started_at.timestamp()
    seconds = check.seconds or 0.0
    levels = peaks(data, int(seconds * 10))  # one level per 100 ms

    def window(start: float, end: float) -> list[float]:
        return levels[int(start * 10) : int(end * 10)]

    paused = window(pause_at - origin + 0.3, resume_at - origin - 0.3)
    assert paused
    assert max(paused) < 0.01, paused
    assert max(levels) > 0.05
    # The pause is audited and drawn on the replay timeline.
    (marker,) = [m for m in bundle["markers"] if m["kind"] == "pause"]
    assert marker["start"] == pytest.approx(pause_at - origin, abs=0.5)
    assert marker["end"] == pytest.approx(resume_at - origin, abs=0.5)
    assert [p["action"] for p in bundle["pauses"]] == ["pause", "resume"]
