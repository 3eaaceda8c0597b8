"""Turns the tracker's commands into prompts played at their due time.

Theory of operation:

* **Clocks.** A command's ``due_at`` is an event-time instant: the PBX clock that stamps AMI
  events. The agent schedules it on its own wall clock, which assumes both clocks agree —
  true for the sandbox (the PBX runs on this host) and for a PBX kept in sync by NTP. The
  assumption is checked, not trusted: a command due "now" (an apology, 工号播报, the resume
  phrase: due at the instant of the event that caused it) arrives right after that AMI event,
  so ``arrival - due_at`` is the AMI Timestamp-to-arrival skew. It is observed in a histogram
  and logged when it exceeds :data:`SKEW_WARNING_SECONDS` either way.
* **Timers.** Each timed command is one ``loop.call_at`` handle (via :class:`Scheduler`),
  not a periodic tick: issue 5 wants a prompt to start within 150 ms (p99) of its due time.
  At most one command is pending per ``(call_id, timer)``; a newer one replaces it, and
  :class:`~ivr_agent.core.commands.CancelTimers` drops it. A replaced command that was
  already due (its handle simply had not run yet) is fired, not lost.
* **One voice per call.** Fired prompts go to the call's lane and play one after another
  in due order (the apology before 工号播报, both due at the answer). Time spent waiting
  behind an earlier prompt of the same call is measured apart (``waited``).
* **Cancelling a prompt that is playing** (the caller spoke during the last silence prompt,
  the hold ended during a reminder) stops it, reports it ``Played: no`` and skips its hang-up.
* **Reports.** Each prompt is reported through ``report(job, phase, played)``:
  ``started`` when the PBX says the playback started, ``finished`` at the end (played or not).
  A prompt that could not be played (ARI down, channel gone, unknown media) is reported
  ``finished``/``Played: no`` only. Nothing here raises into the caller of :meth:`submit`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from prometheus_client import CollectorRegistry, Histogram

from ivr_agent.core.commands import CancelTimers, PlayPrompt, PromptCommand
from ivr_agent.platform.logging import get_logger

log = get_logger(__name__)

PromptPhase = Literal["started", "finished"]
Report = Callable[["PromptJob", PromptPhase, bool], Awaitable[None]]
OnStarted = Callable[[float], Awaitable[None]]

#: Observed AMI Timestamp-to-arrival skew beyond this (either way) is logged as a warning.
SKEW_WARNING_SECONDS = 0.5
#: Seconds buckets for prompt lateness (due → PlaybackStarted).
LATENESS_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0)
SKEW_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
#: Keep this many timings in memory for the benchmark and tests (oldest dropped first).
TIMINGS_KEPT = 10_000


class Handle(Protocol):
    """A scheduled callback that can be cancelled."""

    def cancel(self) -> None:
        """Do not run the callback."""
        ...


class Scheduler(Protocol):
    """Wall-clock time and callbacks at wall-clock instants (injected in unit tests)."""

    def time(self) -> float:
        """Now, epoch seconds."""
        ...

    def call_at(self, when: float, callback: Callable[[], None]) -> Handle:
        """Run ``callback`` at wall-clock ``when`` (at once if it is past)."""
        ...


class LoopScheduler:
    """:class:`Scheduler` on the running asyncio loop (``loop.call_at`` precision), in the
    PBX's time: due times are PBX times (from AMI ``Timestamp``s), and ``now`` is the
    PBX's now as ``clock`` estimates it (this host's wall clock when none is given)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock

    def time(self) -> float:
        """Now, epoch seconds (PBX clock)."""
        return self.clock()

    def call_at(self, when: float, callback: Callable[[], None]) -> Handle:
        """Map the PBX instant onto the loop's monotonic clock and schedule it."""
        loop = asyncio.get_running_loop()
        return loop.call_at(loop.time() + (when - self.clock()), callback)


@dataclass
class PromptJob:
    """One prompt on its way to the caller."""

    command: PlayPrompt
    due: float  # wall seconds
    fired_at: float | None = None  # handed to the call's lane
    began_at: float | None = None  # the lane started playing it
    cancelled: bool = False
    #: Set by the player: the playback to stop if the job is cancelled while playing.
    playback_id: str | None = None
    #: Set by the player: who hears the prompt (``caller`` or ``both``), for the report.
    to: str = "caller"


@dataclass(frozen=True)
class PlayResult:
    """What the player saw: when the playback started (PBX clock), whether it finished."""

    started_at: float | None
    finished: bool


class Player(Protocol):
    """Plays one prompt into a live call (snoop-whisper in production)."""

    async def play(self, job: PromptJob, on_started: OnStarted) -> PlayResult:
        """Play ``job``; call ``on_started(pbx_time)`` when the playback starts. Never raises
        for call or ARI trouble (returns ``finished=False`` instead)."""
        ...

    async def stop(self, job: PromptJob, *, call_ended: bool = False) -> None:
        """Stop ``job``'s playback (it was cancelled while playing). ``call_ended``: the
        cancel came with the caller's hang-up, so the channel it plays on is likely to end
        by itself in a moment (the player may wait for that instead of asking the PBX)."""
        ...

    async def hangup(self, channel_id: str) -> None:
        """Hang up the caller's channel (after the last silence prompt)."""
        ...


@dataclass(frozen=True)
class PromptTiming:
    """How punctual one prompt was; the benchmark reads these."""

    call_id: str
    prompt: str
    timer: str | None
    due: float
    started_at: float | None  # PlaybackStarted, PBX clock
    waited: float  # seconds queued behind an earlier prompt of the same call
    played: bool

    @property
    def lateness(self) -> float | None:
        """Seconds from the due time to the playback's start (None if it never started)."""
        return None if self.started_at is None else self.started_at - self.due


@dataclass
class ExecutorStats:
    """Counters of the executor (exported as metrics)."""

    scheduled: int = 0
    replaced: int = 0
    cancelled: int = 0
    stopped_playing: int = 0
    played: int = 0
    not_played: int = 0
    hangups: int = 0


@dataclass
class _Lane:
    jobs: deque[PromptJob] = field(default_factory=deque)
    current: PromptJob | None = None
    task: asyncio.Task[None] | None = None


class PromptExecutor:
    """Schedules, replaces, cancels and plays the tracker's prompt commands."""

    def __init__(
        self,
        player: Player,
        report: Report,
        *,
        scheduler: Scheduler | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.player = player
        self.report = report
        self.scheduler = scheduler or LoopScheduler()
        self.stats = ExecutorStats()
        self.timings: deque[PromptTiming] = deque(maxlen=TIMINGS_KEPT)
        #: Latest observed AMI Timestamp-to-arrival skew (seconds; None until observed).
        self.last_skew: float | None = None
        self._pending: dict[tuple[str, str], tuple[PromptJob, Handle]] = {}
        self._lanes: dict[str, _Lane] = {}
        self._untimed = itertools.count()
        self._tasks: set[asyncio.Task[None]] = set()
        self._lateness = Histogram(
            "ivr_agent_prompt_lateness_seconds",
            "Seconds from a prompt's due time to its PlaybackStarted (PBX clock), by prompt; "
            "prompts that waited behind another prompt of the call are left out.",
            ["prompt"],
            buckets=LATENESS_BUCKETS,
            registry=registry,
        )
        self._skew = Histogram(
            "ivr_agent_command_arrival_skew_seconds",
            "Seconds from an AMI event's Timestamp (PBX clock) to its command reaching the IVR.",
            buckets=SKEW_BUCKETS,
            registry=registry,
        )

    # --- commands in ----------------------------------------------------------------------

    def submit(self, command: PromptCommand) -> None:
        """Take one prompt command from the tracker (routed by the ingest); never raises."""
        try:
            if isinstance(command, CancelTimers):
                self._cancel(command)
            else:
                self._schedule(command)
        except Exception:
            log.exception("prompt_command_failed", command=type(command).__name__)

    def _schedule(self, command: PlayPrompt) -> None:
        now = self.scheduler.time()
        due = command.due_at.timestamp()
        job = PromptJob(command, due)
        self.stats.scheduled += 1
        if command.timer is None:
            self._observe_skew(now - due, command)
            if due <= now:
                # Due at once: straight to the lane, keeping the order the tracker gave
                # (equal call_at instants have no guaranteed order).
                self._fire(job)
                return
            key = (command.call_id, f"once-{next(self._untimed)}")
        else:
            key = (command.call_id, command.timer)
            previous = self._pending.pop(key, None)
            if previous is not None:
                old, handle = previous
                handle.cancel()
                self.stats.replaced += 1
                if old.due <= now:
                    self._fire(old)  # its handle had not run yet: due, so it plays
        handle = self.scheduler.call_at(due, lambda: self._due(key, job))
        self._pending[key] = (job, handle)

    def _due(self, key: tuple[str, str], job: PromptJob) -> None:
        current = self._pending.get(key)
        if current is not None and current[0] is job:
            del self._pending[key]
            self._fire(job)

    def _cancel(self, command: CancelTimers) -> None:
        def matches(job: PromptJob) -> bool:
            return command.kind == "all" or job.command.timer == command.kind

        for key in [k for k, (job, _) in self._pending.items() if k[0] == command.call_id]:
            job, handle = self._pending[key]
            if matches(job):
                handle.cancel()
                del self._pending[key]
                self.stats.cancelled += 1
        lane = self._lanes.get(command.call_id)
        if lane is None:
            return
        kept = deque(job for job in lane.jobs if not matches(job))
        self.stats.cancelled += len(lane.jobs) - len(kept)
        lane.jobs = kept
        current = lane.current
        if current is not None and not current.cancelled and matches(current):
            current.cancelled = True
            self.stats.stopped_playing += 1
            # "all" comes with the caller's hang-up: a prompt whispered to the caller ends
            # with the caller's channel (its snoop goes with it), and a stop request would
            # only find it gone. One to both parties plays on the operator's channel,
            # which may outlive the caller: that one is stopped unless it ends by itself.
            hung_up = command.kind == "all"
            if not hung_up or current.to == "both":
                self._spawn(self.player.stop(current, call_ended=hung_up), "prompt-stop")

    def _observe_skew(self, skew: float, command: PlayPrompt) -> None:
        self.last_skew = skew
        if skew >= 0:
            self._skew.observe(skew)
        if abs(skew) > SKEW_WARNING_SECONDS:
            log.warning(
                "pbx_clock_skew",
                skew_seconds=round(skew, 3),
                prompt=command.prompt,
                hint="the PBX clock and this host's clock disagree, or AMI events arrive late",
            )

    # --- playing --------------------------------------------------------------------------

    def _fire(self, job: PromptJob) -> None:
        job.fired_at = self.scheduler.time()
        call_id = job.command.call_id
        lane = self._lanes.get(call_id)
        if lane is None:
            lane = self._lanes[call_id] = _Lane()
        lane.jobs.append(job)
        if lane.task is None:
            lane.task = self._spawn(self._drain(call_id, lane), f"prompts-{call_id}")

    async def _drain(self, call_id: str, lane: _Lane) -> None:
        try:
            while lane.jobs:
                job = lane.jobs.popleft()
                lane.current = job
                try:
                    await self._run(job)
                finally:
                    lane.current = None
        finally:
            lane.task = None
            if not lane.jobs and self._lanes.get(call_id) is lane:
                del self._lanes[call_id]

    async def _run(self, job: PromptJob) -> None:
        command = job.command
        job.began_at = self.scheduler.time()
        started: list[float] = []

        async def on_started(at: float) -> None:
            started.append(at)
            await self._report(job, "started", True)

        try:
            result = await self.player.play(job, on_started)
        except Exception:
            log.exception("prompt_player_failed", prompt=command.prompt, call_id=command.call_id)
            result = PlayResult(started[0] if started else None, False)
        played = result.finished and not job.cancelled
        await self._report(job, "finished", played)
        timing = PromptTiming(
            call_id=command.call_id,
            prompt=command.prompt,
            timer=command.timer,
            due=job.due,
            started_at=result.started_at,
            waited=max(0.0, job.began_at - max(job.fired_at or job.began_at, job.due)),
            played=played,
        )
        self.timings.append(timing)
        if played:
            self.stats.played += 1
        else:
            self.stats.not_played += 1
        if timing.lateness is not None and timing.waited < 0.05:
            self._lateness.labels(command.prompt).observe(max(0.0, timing.lateness))
        log.info(
            "prompt_done",
            call_id=command.call_id,
            prompt=command.prompt,
            played=played,
            lateness_ms=None if timing.lateness is None else round(timing.lateness * 1000),
            waited_ms=round(timing.waited * 1000),
        )
        if command.hangup_after and played and command.channel_id:
            self.stats.hangups += 1
            await self.player.hangup(command.channel_id)

    async def _report(self, job: PromptJob, phase: PromptPhase, played: bool) -> None:
        try:
            await self.report(job, phase, played)
        except Exception:
            log.exception("prompt_report_failed", prompt=job.command.prompt, phase=phase)

    # --- bookkeeping ----------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[None], name: str) -> asyncio.Task[None]:
        async def run() -> None:
            await coro

        task = asyncio.create_task(run(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def pending(self, call_id: str | None = None) -> list[PlayPrompt]:
        """The commands waiting for their due time (of one call, or all), soonest first."""
        jobs = [job for key, (job, _) in self._pending.items() if call_id in (None, key[0])]
        return [job.command for job in sorted(jobs, key=lambda j: j.due)]

    async def idle(self) -> None:
        """Wait until no prompt is playing or queued (pending timers may remain)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Drop every pending timer and stop the lanes (prompts playing are abandoned)."""
        for _, handle in self._pending.values():
            handle.cancel()
        self._pending.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
