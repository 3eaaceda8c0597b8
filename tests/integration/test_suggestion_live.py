"""A caller's spoken suggestion (S9, 意见和建议的记录) against the real sandbox.

The operator hangs up first; the caller stays, hears the satisfaction question, presses 2,
hears the invitation to speak and says the simulator's ``ivr-sim/question`` phrase, then
stays silent until the agent's silence limit ends the recording. The suggestion must be
stored with the call as a verified recording of kind ``suggestion`` that holds that phrase,
be deleted from the PBX, and play on the call's QA page — while the call's own recording
stays the one QA replays on its timeline.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace

import aiohttp
import pytest

from ivr_agent.app import IVR
from ivr_agent.calls.store import page_outcomes
from ivr_agent.db.database import Database
from ivr_agent.db.tokens import create_token
from ivr_agent.pbx.ari import AriError
from ivr_agent.qa import recordings_of_call
from ivr_agent.recordings.files import resolve_stored, verify_wav
from ivr_agent.settings import Settings
from ivr_agent.sim import runner
from ivr_agent.sim import scenario as scenarios
from ivr_agent.sim.audio_match import find_phrase, load_wav
from ivr_agent.sim.sandbox_layout import SOUNDS_DIR
from tests.integration.sandbox_support import ARTIFACTS, progress, running_sandbox
from tests.support.agent import recording_of, serving_agent, stored_outcome

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]

#: How well the caller's phrase must match inside the suggestion recording (1.0: exact).
PHRASE_SCORE = 0.5


async def _suggestions(db: Database, call_id: str, truth: dict[str, object]) -> list[object]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = await recordings_of_call(db, call_id, kind="suggestion")
        if found:
            return list(found)
        await asyncio.sleep(0.2)
    # What the caller heard and pressed, for a run where the key never reached the agent.
    heard = {k: truth.get(k) for k in ("survey", "heard_after_operator", "errors")}
    raise AssertionError(f"no suggestion recorded for call {call_id}; the caller: {heard}")


async def test_given_key_2_then_the_callers_spoken_suggestion_is_kept_and_plays_on_qa(
    agent_settings: Settings, db: Database
) -> None:
    settings = agent_settings.model_copy(update={"suggestion_silence_seconds": 3.0})
    base_call = scenarios.load("operator_hangs_up_first").calls[0]
    call = replace(base_call, caller="13800138602", survey_digit="2", suggestion="ivr-sim/question")
    plan = scenarios.Scenario(name="suggestion_live", calls=(call,))
    config = runner.RunnerConfig.from_env_file(running_sandbox().credentials_file)
    qa = await create_token(db, "qa")
    async with serving_agent(settings, db) as (app, base):
        (truth,) = await runner.run(plan, config, progress)
        outcome = await stored_outcome(db, settings.pbx_id, call.caller)
        call_id = outcome["call_id"]
        (suggestion,) = await _suggestions(db, call_id, truth)
        whole = await recording_of(db, call_id)
        headers = {"Authorization": f"Bearer {qa}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            async with session.get(f"{base}/api/calls/{call_id}/qa") as reply:
                bundle = await reply.json()
            async with session.get(f"{base}/qa/calls/{call_id}") as reply:
                page = await reply.text()
            async with session.get(f"{base}/api/recordings/{suggestion.recording_id}/audio") as r:
                served = (r.status, await r.read())
        with pytest.raises(AriError) as gone:
            await app[IVR].get().client.stored_recording(f"ivr-agent-sg-{outcome['linkedid']}")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "suggestion-live.json").write_text(
        json.dumps({"truth": truth, "bundle": bundle}, ensure_ascii=False, indent=1, default=str)
    )

    assert truth["completed"], truth["errors"]
    assert truth["survey"]["digit"] == "2"
    assert "suggested_at" in truth["survey"]
    (stored,) = [
        o
        for o in await page_outcomes(db, limit=1000)
        if o.pbx_id == settings.pbx_id and o.call_id == call_id
    ]
    assert stored.extra["satisfaction"] == "suggestion"

    # Kept with the call, verified, and gone from the PBX.
    assert suggestion.kind == "suggestion"
    assert suggestion.status == "ok", suggestion.reason
    assert gone.value.status == 404
    data = resolve_stored(settings.data_dir, suggestion.path).read_bytes()
    assert verify_wav(data, suggestion.seconds).ok
    # What the caller said is in it (the phrase, then the silence that ended it).
    sounds = running_sandbox().root / SOUNDS_DIR.lstrip("/")
    phrase = load_wav(sounds.parent / "ivr-sim" / "question.wav")
    # Its head only: the PBX trims the silence that ended the recording, the phrase's own
    # quiet tail included.
    found = find_phrase(load_wav(data), phrase, head_seconds=4.0)
    assert found is not None
    assert found.score >= PHRASE_SCORE, found
    assert suggestion.seconds is not None
    assert suggestion.seconds < settings.suggestion_max_seconds

    # QA: the call's own recording stays the replayed one; the suggestion plays beside it.
    assert whole.kind == "call"
    assert bundle["recording"]["recording_id"] == whole.recording_id
    assert [s["recording_id"] for s in bundle["suggestions"]] == [suggestion.recording_id]
    assert f"/api/recordings/{suggestion.recording_id}/audio" in page
    assert served[0] == 200
    assert served[1] == data
