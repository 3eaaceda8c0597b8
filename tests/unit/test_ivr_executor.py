"""The prompt executor: scheduling, replacing, cancelling, playing (injected clock, fake player)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry

from ivr_agent.core.commands import CancelTimers, PlayPrompt, TimerKind
from ivr_agent.prompts.executor import OnStarted, PlayResult, PromptExecutor, PromptJob

T0 = 1_800_000_000.0


class FakeHandle:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class FakeScheduler:
    """Manual wall clock: callbacks run only when the test advances time."""

    now: float = T0
    timers: list[tuple[float, int, FakeHandle, Callable[[], None]]] = field(default_factory=list)

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> FakeHandle:
        handle = FakeHandle()
        self.timers.append((when, len(self.timers), handle, callback))
        return handle

    def advance(self, to: float) -> None:
        self.now = to
        for when, _, handle, callback in sorted(self.timers, key=lambda t: (t[0], t[1])):
            if when <= to and not handle.cancelled:
                handle.cancelled = True  # runs once
                callback()


@dataclass
class FakePlayer:
    """Plays instantly (or when released), starting ``delay`` after the clock's now."""

    scheduler: FakeScheduler
    delay: float = 0.02
    hold: bool = False
    fail: bool = False
    #: Who hears the prompts (the real player decides by the prompt's audience).
    to: str = "caller"
    played: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    hangups: list[str] = field(default_factory=list)
    playing: int = 0
    most_at_once: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def play(self, job: PromptJob, on_started: OnStarted) -> PlayResult:
        if self.fail:
            raise RuntimeError("player broke")
        job.to = self.to
        self.playing += 1
        self.most_at_once = max(self.most_at_once, self.playing)
        try:
            started = self.scheduler.now + self.delay
            await on_started(started)
            self.played.append(job.command.prompt)
            if self.hold:
                await self.release.wait()
            else:
                await asyncio.sleep(0)
            return PlayResult(started, finished=not job.cancelled)
        finally:
            self.playing -= 1

    async def stop(self, job: PromptJob, *, call_ended: bool = False) -> None:
        self.stopped.append(job.command.prompt + (" (call ended)" if call_ended else ""))
        self.release.set()

    async def hangup(self, channel_id: str) -> None:
        self.hangups.append(channel_id)


@dataclass
class Reports:
    lines: list[tuple[str, str, bool]] = field(default_factory=list)

    async def __call__(self, job: PromptJob, phase: str, played: bool) -> None:
        self.lines.append((job.command.prompt, phase, played))


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, UTC)


def play(
    prompt: str,
    due: float,
    *,
    timer: TimerKind | None = None,
    call: str = "call-1",
    hangup_after: bool = False,
) -> PlayPrompt:
    return PlayPrompt(
        call_id=call,
        channel="PJSIP/caller-00000001",
        prompt=prompt,
        due_at=at(due),
        channel_id=f"{call}-channel",
        timer=timer,
        hangup_after=hangup_after,
    )


@pytest.fixture
def clock() -> FakeScheduler:
    return FakeScheduler()


@pytest.fixture
def player(clock: FakeScheduler) -> FakePlayer:
    return FakePlayer(clock)


@pytest.fixture
def reports() -> Reports:
    return Reports()


@pytest.fixture
def executor(clock: FakeScheduler, player: FakePlayer, reports: Reports) -> PromptExecutor:
    return PromptExecutor(player, reports, scheduler=clock, registry=CollectorRegistry())


async def settle(executor: PromptExecutor) -> None:
    await executor.idle()


async def test_a_timed_prompt_plays_at_its_due_time_not_before(
    executor: PromptExecutor, clock: FakeScheduler, player: FakePlayer, reports: Reports
) -> None:
    executor.submit(play("silence_first", 5.0, timer="silence"))
    clock.advance(T0 + 4.99)
    await settle(executor)
    assert player.played == []
    assert [c.prompt for c in executor.pending("call-1")] == ["silence_first"]

    clock.advance(T0 + 5.0)
    await settle(executor)
    assert player.played == ["silence_first"]
    assert reports.lines == [
        ("silence_first", "started", True),
        ("silence_first", "finished", True),
    ]
    (timing,) = executor.timings
    assert timing.lateness == pytest.approx(0.02)
    assert timing.waited == 0.0
    assert executor.pending() == []


async def test_a_newer_command_of_the_same_timer_replaces_the_pending_one(
    executor: PromptExecutor, clock: FakeScheduler, player: FakePlayer
) -> None:
    executor.submit(play("silence_first", 5.0, timer="silence"))
    executor.submit(play("silence_first", 8.0, timer="silence"))  # re-armed after a greeting
    clock.advance(T0 + 6.0)
    await settle(executor)
    assert player.played == []
    clock.advance(T0 + 8.0)
    await settle(executor)
    assert player.played == ["silence_first"]
    assert executor.stats.replaced == 1


async def test_a_replaced_command_already_due_is_fired_not_lost(
    executor: PromptExecutor, clock: FakeScheduler, player: FakePlayer
) -> None:
    # The tracker's tick schedules the next hold reminder at the instant the first one is
    # due; if the first one's timer has not run yet, it must still play.
    executor.submit(play("hold_reminder", 10.0, timer="hold"))
    clock.now = T0 + 10.05  # time passed, the handle did not run yet
    executor.submit(play("hold_reminder", 30.0, timer="hold"))
    await settle(executor)
    assert player.played == ["hold_reminder"]
    assert [c.due_at for c in executor.pending()] == [at(30.0)]


async def test_cancel_drops_only_the_pending_commands_of_that_kind(
    executor: PromptExecutor, clock: FakeScheduler, player: FakePlayer
) -> None:
    executor.submit(play("silence_first", 5.0, timer="silence"))
    executor.submit(play("hold_reminder", 10.0, timer="hold"))
    executor.submit(play("silence_first", 5.0, timer="silence", call="call-2"))
    executor.submit(CancelTimers("call-1", "silence"))
    clock.advance(T0 + 20.0)
    await settle(executor)
    assert sorted(player.played) == ["hold_reminder", "silence_first"]  # call-2's one
    assert executor.stats.cancelled == 1


async def test_cancel_all_drops_every_pending_command_of_the_call(
    executor: PromptExecutor, clock: FakeScheduler, player: FakePlayer
) -> None:
    executor.submit(play("silence_first", 5.0, timer="silence"))
    executor.submit(play("hold_reminder", 10.0, timer="hold"))
    executor.submit(play("hold_end_apology", 3.0))  # untimed but not yet due
    executor.submit(CancelTimers("call-1", "all"))
    clock.advance(T0 + 20.0)
    await settle(executor)
    assert player.played == []
    assert executor.pending() == []


async def test_prompts_due_at_once_play_one_after_another_in_the_order_given(
    executor: PromptExecutor, clock: FakeScheduler, player: FakePlayer, reports: Reports
) -> None:
    clock.now = T0 + 0.004  # the AMI event arrived 4 ms after its timestamp
    executor.submit(play("long_wait_apology", 0.0))
    executor.submit(play("operator_intro", 0.0))
    await settle(executor)
    assert player.played == ["long_wait_apology", "operator_intro"]
    assert player.most_at_once == 1
    assert [line[:2] for line in reports.lines] == [
        ("long_wait_apology", "started"),
        ("long_wait_apology", "finished"),
        ("operator_intro", "started"),
        ("operator_intro", "finished"),
    ]
    assert executor.last_skew == pytest.approx(0.004, abs=1e-6)


async def test_cancelling_a_prompt_while_it_plays_stops_it_and_skips_the_hang_up(
    executor: PromptExecutor, clock: FakeScheduler, player: FakePlayer, reports: Reports
) -> None:
    player.hold = True
    executor.submit(play("silence_last", 10.0, timer="silence", hangup_after=True))
    clock.advance(T0 + 10.0)
    for _ in range(5):
        await asyncio.sleep(0)
    assert player.played == ["silence_last"]
    executor.submit(CancelTimers("call-1", "silence"))  # the caller spoke
    await settle(executor)
    assert player.stopped == ["silence_last"]
    assert reports.lines[-1] == ("silence_last", "finished", False)
    assert player.hangups == []


@pytest.mark.parametrize(
    ("to", "stopped"), [("caller", []), ("both", ["hold_reminder (call ended)"])]
)
async def test_the_callers_hang_up_stops_only_a_prompt_the_operator_hears(
    executor: PromptExecutor,
    clock: FakeScheduler,
    player: FakePlayer,
    to: str,
    stopped: list[str],
) -> None:
    """A prompt whispered to the caller ends with the caller's channel: asking the PBX to
    stop it after the hang-up is a wasted request. One on the operator's channel is
    stopped, since that channel may outlive the caller (the player is told the call ended,
    so it may wait for that channel to end instead)."""

    player.hold, player.to = True, to
    executor.submit(play("hold_reminder", 10.0, timer="hold"))
    clock.advance(T0 + 10.0)
    for _ in range(5):
        await asyncio.sleep(0)
    assert player.played == ["hold_reminder"]
    executor.submit(CancelTimers("call-1", "all"))  # the caller hung up
    player.release.set()  # the PBX ends the playback with the channel
    await settle(executor)
    assert player.stopped == stopped
    assert executor.stats.stopped_playing == 1


async def test_the_last_silence_prompt_hangs_the_caller_up_once_it_finished(
    executor: PromptExecutor, clock: FakeScheduler, player: FakePlayer
) -> None:
    executor.submit(play("silence_last", 10.0, timer="silence", hangup_after=True))
    clock.advance(T0 + 10.0)
    await settle(executor)
    assert player.hangups == ["call-1-channel"]


async def test_a_failing_player_is_reported_not_played_and_the_executor_goes_on(
    executor: PromptExecutor, clock: FakeScheduler, player: FakePlayer, reports: Reports
) -> None:
    player.fail = True
    executor.submit(play("silence_last", 1.0, timer="silence", hangup_after=True))
    clock.advance(T0 + 1.0)
    await settle(executor)
    assert reports.lines == [("silence_last", "finished", False)]
    assert player.hangups == []
    player.fail = False
    executor.submit(play("hold_reminder", 2.0, timer="hold"))
    clock.advance(T0 + 2.0)
    await settle(executor)
    assert player.played == ["hold_reminder"]
    assert executor.stats.not_played == 1
    assert executor.stats.played == 1


async def test_close_cancels_every_pending_timer(
    executor: PromptExecutor, clock: FakeScheduler, player: FakePlayer
) -> None:
    executor.submit(play("silence_first", 5.0, timer="silence"))
    await executor.close()
    clock.advance(T0 + 10.0)
    await settle(executor)
    assert player.played == []


async def test_the_loop_scheduler_fires_within_a_few_milliseconds(reports: Reports) -> None:
    """The production scheduler maps wall-clock due times onto loop.call_at."""
    from ivr_agent.prompts.executor import LoopScheduler

    fired: list[float] = []
    scheduler = LoopScheduler()
    due = scheduler.time() + 0.05
    scheduler.call_at(due, lambda: fired.append(scheduler.time()))
    for _ in range(200):
        if fired:
            break
        await asyncio.sleep(0.01)
    assert len(fired) == 1
    # Never early. How late is a benchmark's question (benchmarks/prompt_timing.py), not a
    # unit test's beside parallel workers: this bound catches a wrong clock mapping only.
    assert 0 <= fired[0] - due < 0.5
