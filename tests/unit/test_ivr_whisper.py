"""Snoop-whisper when ARI cannot be reached, and the event-time helper."""

from __future__ import annotations

from datetime import UTC, datetime

from ivr_agent.core.commands import PlayPrompt
from ivr_agent.pbx.ari import event_time
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
