"""The ARI client against the sandbox PBX: what the agent's callback and prompt flows need.

Given a callback the PBX places through the trunk to a simulated customer who answers, the
client plays on the channel, bridges and records it, whispers through a snoop channel, stops
the recording and fetches it as a RIFF/WAVE file; the customer hears the prompts.
The test uses its own Stasis app so that it never takes over the agent's (``ivr-agent``).
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest

from ivr_agent.pbx.ari import AriClient, AriError
from ivr_agent.pbx.ari_events import AriEvents
from ivr_agent.sim import runner, sandbox, scenario

from .sandbox_support import progress, running_sandbox

pytestmark = pytest.mark.sandbox
APP = "ivr-agent-test"
CUSTOMER = "13900139777"


@pytest.fixture(scope="module")
def box() -> sandbox.Sandbox:
    """The running sandbox (skips locally, fails in CI, when it cannot be had)."""
    return running_sandbox()


class Waiter:
    """Collects one app's events; ``wait`` returns the first matching one (or fails)."""

    def __init__(self, events: AriEvents) -> None:
        self.seen: list[dict[str, Any]] = []
        self._events = events
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        async for event in self._events:
            self.seen.append(event)
            self._changed.set()

    async def wait(self, kind: str, timeout: float = 20.0, **match: str) -> dict[str, Any]:
        async def found() -> dict[str, Any]:
            while True:
                for event in self.seen:
                    if event["type"] == kind and all(
                        _field(event, key) == value for key, value in match.items()
                    ):
                        return event
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(found(), timeout)

    def close(self) -> None:
        self._task.cancel()


def _field(event: dict[str, Any], dotted: str) -> Any:
    value: Any = event
    for part in dotted.split("__"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


async def _callback_flow(box: sandbox.Sandbox) -> tuple[dict[str, Any], bytes]:
    config = runner.RunnerConfig.from_env_file(box.credentials_file)
    assert config.pbx is not None
    plan = scenario.parse(
        {
            "name": "ari_client",
            "callbacks": [
                {
                    "id": "ari_client",
                    "number": CUSTOMER,
                    "behaviour": "answer",
                    "answer_after": 1.0,
                    "hangup_after": 40.0,
                    "wait": 30.0,
                }
            ],
        }
    )
    customer = asyncio.create_task(runner.run(plan, config, progress))
    tag = secrets.token_hex(3)
    channel, bridge, recording = f"test-{tag}", f"test-{tag}-bridge", f"test-{tag}-rec"
    async with AriClient(config.pbx) as ari:
        events = AriEvents(ari, [APP])
        await events.start()
        seen = Waiter(events)
        try:
            await asyncio.sleep(1.0)  # the simulator is waiting for the call
            await ari.originate(
                f"PJSIP/{CUSTOMER}@trunk", channel_id=channel, app=APP, caller_id="4008001000"
            )
            await seen.wait("StasisStart", channel__id=channel)  # the customer answered
            await ari.create_bridge(bridge)
            await ari.add_to_bridge(bridge, channel)
            await ari.record_bridge(bridge, recording)
            await seen.wait("RecordingStarted", recording__name=recording)
            await ari.play(channel, ["sound:ivr-agent/survey-overall"], f"{channel}-p1")
            await seen.wait("PlaybackFinished", playback__id=f"{channel}-p1")
            await asyncio.sleep(1.5)  # a pause the customer's talk detection can notice
            snoop = f"{channel}-snoop"
            await ari.snoop(channel, app=APP, snoop_id=snoop)
            await seen.wait("StasisStart", channel__id=snoop)
            await ari.play(snoop, ["sound:hello-world"], f"{channel}-p2")
            await seen.wait("PlaybackFinished", playback__id=f"{channel}-p2")
            await asyncio.sleep(1.5)
            await ari.stop_recording(recording)
            await seen.wait("RecordingFinished", recording__name=recording)
            audio = await ari.stored_recording_file(recording)
            await ari.delete_stored_recording(recording)
            with pytest.raises(AriError) as gone:
                await ari.stored_recording_file(recording)
            assert gone.value.status == 404
            await ari.destroy_bridge(bridge)
            await ari.hangup(channel)
        finally:
            seen.close()
            await events.close()
    (truth,) = await customer
    return truth, audio


def test_given_a_callback_when_played_recorded_and_whispered_then_customer_hears_and_wav_is_kept(
    box: sandbox.Sandbox,
) -> None:
    truth, audio = asyncio.run(_callback_flow(box))
    assert truth["completed"], truth["errors"]
    assert truth["outcome"] == "answered"
    # The customer heard both: the prompt played on its channel and the snoop whisper.
    assert len(truth["prompts_heard"]) >= 2
    assert audio[:4] == b"RIFF"
    assert audio[8:12] == b"WAVE"
    assert len(audio) > 44 + 8000  # more than a header: seconds of 8 kHz audio
