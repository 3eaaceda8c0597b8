"""One call's state machine: PBX events in, measured facts and IVR commands out.

A call is every channel sharing one ``Linkedid``. Handling one event has three steps, each
in its own module:

1. **Roles** (:func:`.roles.classify`): the same AMI event means different things on the
   caller's channel and on an operator's leg (a ``Hangup`` of the caller ends the call, of a
   ringing leg it means nothing). Classification keeps the registry of legs and bridges and
   turns the event into a :class:`~.roles.Meaning`: zero or more call-level
   :class:`~.transitions.Kind` values, and the operator leg an answer is about.
2. **Transitions** (:data:`.transitions.TRANSITIONS`): ``(state, kind) → next state`` is
   data, like h11's ``_state.py``. A pair missing from the table is an illegal move:
   :meth:`Call.feed` records an :class:`~.transitions.IllegalTransition` naming the state as
   an anomaly on the call's timeline and goes on, so out-of-order or unexpected events never
   escape.
3. **Measures** (:data:`.measures.HANDLERS`): only legal moves run their measuring handler,
   which updates the call's facts (here) and asks the IVR layer for prompts (commands).

Measured facts are kept in event-time microseconds; :mod:`.standards` turns them into the
verdicts of the outcome. Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from .commands import (
    PROMPT_HOLD_REMINDER,
    CancelTimers,
    Command,
    PlayPrompt,
    StartRecording,
    TimerKind,
)
from .config import StandardsConfig
from .event_types import PbxEvent, to_datetime
from .facts import Anomaly, HoldFact, PromptFact
from .measures import HANDLERS
from .outcome import HungUpBy
from .roles import Leg, classify
from .transitions import TRANSITIONS, IllegalTransition, State

_US = 1_000_000


@dataclass(slots=True)
class Call:
    """Mutable per-call facts; only the tracker creates and feeds calls."""

    linkedid: str
    call_id: str
    config: StandardsConfig
    state: State = State.OFFERED
    direction: str = "inbound"
    # who is who
    caller_channel: str | None = None
    caller_number: str | None = None
    caller_new_seen: bool = False
    legs: dict[str, Leg] = field(default_factory=dict)
    connected_legs: set[str] = field(default_factory=set)
    bridges: dict[str, set[str]] = field(default_factory=dict)
    caller_bridge: str | None = None
    queue: str | None = None
    in_queue_flow: bool = False
    # S1
    first_us: int = 0
    last_us: int = 0
    offered_us: int | None = None
    queue_join_us: int | None = None
    first_ring_us: int | None = None
    answered_us: int | None = None
    operator_id: str | None = None
    operator_ids: list[str] = field(default_factory=list)
    abandon_us: int | None = None
    caller_hangup_us: int | None = None
    # S8 return call: a callback (the PBX called the customer) handed to a queue after its
    # greeting — when it joined the queue and when an operator answered it.
    return_queued_us: int | None = None
    return_answered_us: int | None = None
    # S8 in-queue callback request: when the caller pressed 1 at the offer, and the queue
    # they left (their place is ``queue_join_us``).
    queue_callback_us: int | None = None
    queue_callback_queue: str | None = None
    # S2
    holds: list[HoldFact] = field(default_factory=list)
    # S3
    first_talk_us: int | None = None
    talk_open_us: int | None = None
    silence_due_us: int | None = None
    silence_fired_us: int | None = None
    silence_stopped: bool = False
    prompts: list[PromptFact] = field(default_factory=list)
    # S4 satisfaction question: the key pressed (None: none, or not asked)
    survey_digit: str | None = None
    # S6
    talk_end_us: int | None = None
    # S9 who ended the call first (caller, operator, system), and whether an operator
    # transferred it
    hung_up_by: HungUpBy | None = None
    transferred: bool = False
    ended_us: int | None = None
    # completeness and bookkeeping
    incomplete_reasons: list[str] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    events: list[PbxEvent] = field(default_factory=list)
    seen_keys: set[tuple[object, ...]] = field(default_factory=set)
    channels_up: set[str] = field(default_factory=set)
    channels_down: set[str] = field(default_factory=set)
    commands: list[Command] = field(default_factory=list)
    #: The recording this call asked for (its first answer; a return call's queue join),
    #: kept after the command went out: an agent that takes the call over mid-way (a
    #: restart, a standby) starts the recording its predecessor could not.
    recording: StartRecording | None = None

    # ---------------------------------------------------------------- public surface --

    @property
    def caller_uniqueid(self) -> str:
        """The caller's channel id (the call's first channel)."""
        return self.linkedid

    @property
    def wait_started_us(self) -> int | None:
        """S1 ``wait_started_at``: when the caller started waiting for an operator — the
        earlier of the queue join and the first operator leg ringing for this caller. Time
        spent queued behind other callers, with no operator offered yet, counts."""
        starts = [t for t in (self.queue_join_us, self.first_ring_us) if t is not None]
        return min(starts) if starts else None

    @property
    def finished(self) -> bool:
        """Every channel seen in this call has hung up."""
        return not (self.channels_up - self.channels_down)

    def feed(self, event: PbxEvent) -> None:
        """Apply one event (already deduplicated); never raises for unexpected events."""
        at = event.at_us
        if not self.events:
            self.first_us = at
        if at > self.last_us:
            self.last_us = at
        self.events.append(event)
        if self.silence_due_us is not None:
            self.advance(at)
        kinds, leg = classify(self, event)
        for kind in kinds:
            # The table decides; only legal moves run their measuring handler.
            next_state = TRANSITIONS.get((self.state, kind))
            if next_state is None:
                exc = IllegalTransition(self.state, kind, event)
                self.anomalies.append(Anomaly(at, str(exc), getattr(event, "channel", None)))
                continue
            handler = HANDLERS.get(kind)
            if handler is not None:
                handler(self, event, leg)
            self.state = next_state

    def resync_channels(self, listed: Collection[str]) -> None:
        """After a gap: ``listed`` are this call's channels (Uniqueids) the PBX lists now.

        A channel seen up and not listed hung up while the events were missed: its Hangup
        will never come, so it counts as down (else the call would wait for it for ever). A
        listed channel never seen was created in the gap: the call waits for its Hangup.
        """
        listed = set(listed)
        self.channels_down |= (self.channels_up - self.channels_down) - listed
        self.channels_up |= listed

    def mark_incomplete(self, reason: str) -> None:
        """Events of this call were (or may have been) missed: the outcome says so."""
        if reason not in self.incomplete_reasons:
            self.incomplete_reasons.append(reason)

    def record(self, at_us: int) -> None:
        """Ask for the call to be recorded from ``at_us`` (once per call)."""
        if self.recording is None:
            self.recording = StartRecording(
                self.call_id, self.linkedid, self.caller_uniqueid, to_datetime(at_us)
            )
            self.commands.append(self.recording)

    def take_commands(self) -> list[Command]:
        """Commands produced since the last call, oldest first."""
        out, self.commands = self.commands, []
        return out

    def tick(self, now_us: int) -> None:
        """Emit follow-up commands whose time has come (hold reminder repeats).

        Only commands: measured facts depend on events alone, so a live run (ticking on
        its own schedule) and a replay produce the same outcome.
        """
        hold = self.open_hold()
        if hold is None or hold.next_reminder_us is None:
            return
        if hold.next_reminder_us > now_us:
            return
        # Schedule the next reminder after ``now``. Repeats that fell due while nothing
        # ticked (a stalled loop, a clock step) are skipped, not played in a burst.
        repeat = round(self.config.hold_reminder_repeat_seconds * _US)
        passed = (now_us - hold.next_reminder_us) // repeat + 1
        hold.next_reminder_us += passed * repeat
        self.play(PROMPT_HOLD_REMINDER, hold.next_reminder_us, timer="hold")

    def open_hold(self) -> HoldFact | None:
        """The hold in progress, if any."""
        if self.holds and self.holds[-1].end_us is None:
            return self.holds[-1]
        return None

    def advance(self, now_us: int) -> None:
        """Judge the silence watchdog's first stage at event time ``now_us``: past its due
        time it fired, whether or not the IVR managed to play the prompt."""
        # A virtual timer judged in event time, so a replay reaches the live run's verdict.
        if self.silence_due_us is not None and now_us >= self.silence_due_us:
            if self.silence_fired_us is None:
                self.silence_fired_us = self.silence_due_us
            self.silence_due_us = None

    # -------------------------------------------------------------- command helpers --

    def play(
        self,
        prompt: str,
        due_us: int,
        *,
        timer: TimerKind | None = None,
        variables: tuple[tuple[str, str], ...] = (),
        hangup_after: bool = False,
    ) -> None:
        """Ask the IVR layer to play ``prompt`` to the caller at ``due_us`` (unless the
        config disables it)."""
        if prompt in self.config.prompts_disabled:
            return
        self.commands.append(
            PlayPrompt(
                call_id=self.call_id,
                channel=self.caller_channel,
                prompt=prompt,
                due_at=to_datetime(due_us),
                variables=variables,
                channel_id=self.linkedid,
                timer=timer,
                hangup_after=hangup_after,
            )
        )

    def cancel(self, kind: TimerKind, at_us: int) -> None:
        """Ask the IVR layer to drop the call's pending prompts of timer ``kind``."""
        self.commands.append(CancelTimers(self.call_id, kind, to_datetime(at_us)))
