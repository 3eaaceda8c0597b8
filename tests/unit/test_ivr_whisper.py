"""Snoop-whisper when ARI cannot be reached, a prompt cut by a hang-up against one the PBX
could not play, stopping a prompt after the caller's hang-up, and the event-time helper."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from ivr_agent.core.commands import PlayPrompt
from ivr_agent.pbx.ari import event_time
from ivr_agent.pbx.bridge_members import BridgeMembers
from ivr_agent.pbx.stasis import StasisRouter
from ivr_agent.prompts import whisper
from ivr_agent.prompts.executor import PromptJob
from ivr_agent.prompts.whisper import SnoopWhisper
from tests.support.ivr import FileCatalogue, unreachable_ivr


def job() -> PromptJob:
    command = PlayPrompt(
        call_id="c1",
        channel="PJSIP/trunk-00000001",
        prompt="silence_first",
        due_at=datetime.now(UTC),
        channel_id="1763900000.1",
        timer="silence",
    )
    return PromptJob(command, command.due_at.timestamp())


async def test_with_ari_unreachable_the_prompt_is_not_played_and_nothing_raises() -> None:
    ivr = unreachable_ivr(FileCatalogue(frozenset({"silence_first"}), audience="both"))
    started: list[float] = []

    async def on_started(at: float) -> None:
        started.append(at)

    try:
        result = await SnoopWhisper(ivr).play(job(), on_started)
        await SnoopWhisper(ivr).hangup("1763900000.1")  # logged, not raised
    finally:
        await ivr.client.close()
    assert result.finished is False
    assert result.started_at is None
    assert started == []


def test_event_time_reads_the_pbx_timestamp_or_falls_back() -> None:
    stamped = {"type": "PlaybackStarted", "timestamp": "2026-11-23T16:02:05.425+0000"}
    assert event_time(stamped, 0.0) == datetime(2026, 11, 23, 16, 2, 5, 425000, UTC).timestamp()
    assert event_time({"type": "PlaybackStarted"}, 12.5) == 12.5
    assert event_time({"timestamp": "yesterday"}, 1.0) == 1.0


class ScriptedAri:
    """The ARI calls the whisper makes, answered with the events a PBX sends: the snoop
    enters Stasis, the playback starts and ends ``failed`` — and, when the caller hung up
    during the prompt, the snoop ends with the call (``end_event``: Asterisk 22 sends our
    app the snoop's ``StasisEnd``; its ``ChannelDestroyed`` did not reach the app in 5 s in
    the sandbox)."""

    def __init__(self, router: StasisRouter, *, end_event: str | None) -> None:
        self.router = router
        self.end_event = end_event
        self.snoop_id = ""
        self.hung_up: list[str] = []

    async def snoop(self, target: str, **kwargs: Any) -> None:
        self.snoop_id = kwargs["snoop_id"]
        self.router.dispatch({"type": "StasisStart", "channel": {"id": self.snoop_id}})

    async def play(self, channel_id: str, media: list[str], playback_id: str) -> None:
        playback = {"id": playback_id, "target_uri": f"channel:{channel_id}"}
        self.router.dispatch({"type": "PlaybackStarted", "playback": playback})
        self.router.dispatch(
            {"type": "PlaybackFinished", "playback": playback | {"state": "failed"}}
        )
        if self.end_event is not None:
            self.router.dispatch({"type": self.end_event, "channel": {"id": self.snoop_id}})

    async def hangup(self, channel_id: str) -> None:
        self.hung_up.append(channel_id)


@pytest.mark.parametrize("end_event", ["StasisEnd", "ChannelDestroyed", None])
async def test_a_prompt_cut_by_the_callers_hang_up_is_not_a_failed_playback(
    end_event: str | None,
) -> None:
    ivr = unreachable_ivr(FileCatalogue(frozenset({"silence_first"})))
    await ivr.client.close()
    ari = ScriptedAri(ivr.router, end_event=end_event)
    ivr.client = ari  # type: ignore[assignment]

    async def on_started(at: float) -> None:
        return None

    result = await SnoopWhisper(ivr).play(job(), on_started)
    assert result.finished is False  # not heard whole either way
    caller_hung_up = end_event is not None
    # A snoop that ended with the call is not hung up again (a wasted ARI request); one
    # whose media failed is.
    assert ari.hung_up == ([] if caller_hung_up else [ari.snoop_id])
    stats = ivr.playback_stats
    # Only a media the PBX could not play counts as failed (and pages someone).
    assert (stats.interrupted, stats.failed) == ((1, 0) if caller_hung_up else (0, 1))


class CountingAri(ScriptedAri):
    """Also answers ``GET /bridges`` (one bridge: the caller and an operator), counting."""

    def __init__(self, router: StasisRouter) -> None:
        super().__init__(router, end_event=None)
        self.listed = 0
        self.snooped: list[str] = []

    async def bridges(self) -> list[dict[str, Any]]:
        self.listed += 1
        return [{"id": "b1", "channels": ["1763900000.1", "op-listed"]}]

    async def snoop(self, target: str, **kwargs: Any) -> None:
        self.snooped.append(target)
        await super().snoop(target, **kwargs)


@pytest.mark.parametrize("known_from_ami", [True, False])
async def test_a_prompt_for_both_parties_finds_the_operator_from_ami_before_asking_ari(
    known_from_ami: bool,
) -> None:
    ivr = unreachable_ivr(FileCatalogue(frozenset({"silence_first"}), audience="both"))
    await ivr.client.close()
    ari = CountingAri(ivr.router)
    ivr.client = ari  # type: ignore[assignment]
    ivr.bridges = BridgeMembers()
    if known_from_ami:
        ivr.bridges.observe(
            {"Event": "BridgeEnter", "Uniqueid": "1763900000.1", "BridgeUniqueid": "b1"}
        )
        ivr.bridges.observe({"Event": "BridgeEnter", "Uniqueid": "op-ami", "BridgeUniqueid": "b1"})

    async def on_started(at: float) -> None:
        return None

    await SnoopWhisper(ivr).play(job(), on_started)
    # Whispered into the operator's channel (whisper=both): found without listing every
    # bridge on the PBX when AMI has shown the bridge, by ARI's list otherwise.
    assert ari.snooped == (["op-ami"] if known_from_ami else ["op-listed"])
    assert ari.listed == (0 if known_from_ami else 1)


class PlayingAri(ScriptedAri):
    """The prompt starts and goes on playing until it is stopped or its snoop ends."""

    def __init__(self, router: StasisRouter) -> None:
        super().__init__(router, end_event=None)
        self.playback: dict[str, Any] = {}
        self.stop_requests: list[str] = []

    async def play(self, channel_id: str, media: list[str], playback_id: str) -> None:
        self.playback = {"id": playback_id, "target_uri": f"channel:{channel_id}"}
        self.router.dispatch({"type": "PlaybackStarted", "playback": self.playback})

    def finish(self, *, snoop_ended: bool) -> None:
        state = "failed" if snoop_ended else "done"
        self.router.dispatch(
            {"type": "PlaybackFinished", "playback": self.playback | {"state": state}}
        )
        if snoop_ended:
            self.router.dispatch({"type": "StasisEnd", "channel": {"id": self.snoop_id}})

    async def stop_playback(self, playback_id: str) -> None:
        self.stop_requests.append(playback_id)
        self.finish(snoop_ended=False)


@pytest.mark.parametrize("operator_stays", [False, True])
async def test_a_prompt_the_callers_hang_up_cut_is_stopped_only_if_it_goes_on(
    operator_stays: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the caller's hang-up, the prompt on the operator's channel normally ends with
    that channel (no stop request); an operator's channel that stays up gets one."""
    monkeypatch.setattr(whisper, "HANGUP_GRACE_SECONDS", 0.05)
    ivr = unreachable_ivr(FileCatalogue(frozenset({"silence_first"})))
    await ivr.client.close()
    ari = PlayingAri(ivr.router)
    ivr.client = ari  # type: ignore[assignment]
    player, prompt = SnoopWhisper(ivr), job()
    started = asyncio.Event()

    async def on_started(at: float) -> None:
        started.set()

    playing = asyncio.create_task(player.play(prompt, on_started))
    await asyncio.wait_for(started.wait(), 1.0)
    prompt.cancelled = True  # what the executor does on the caller's hang-up
    stopping = asyncio.create_task(player.stop(prompt, call_ended=True))
    if not operator_stays:
        ari.finish(snoop_ended=True)  # the operator's channel went with the call
    await asyncio.wait_for(asyncio.gather(stopping, playing), 1.0)
    assert ari.stop_requests == ([prompt.playback_id] if operator_stays else [])
