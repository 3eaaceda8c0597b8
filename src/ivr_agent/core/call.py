"""One call's state machine: PBX events in, measured facts and IVR commands out.

A call is every channel sharing one ``Linkedid``; its caller is the first channel
(``Uniqueid == Linkedid``). When that first channel was originated (a ``DialBegin`` with no
calling channel toward it) the call is a callback and the "caller" is the customer.
Operator legs are the channels rung for the caller: ``AgentCalled`` destinations (queue),
``DialBegin`` destinations (``Dial()``, Local-channel halves, consult calls); the operator
connected to the caller is the leg that ``AgentConnect``/``DialEnd ANSWER``/``Newstate Up``
named, or that shares the caller's bridge (transfers). Handling one event has two steps:

1. **Roles** (:meth:`Call.classify`): the same AMI event means different things on the
   caller's channel and on an operator's leg (a ``Hangup`` of the caller ends the call, of a
   ringing leg it means nothing). Classification keeps the registry of legs and bridges and
   turns the event into zero or more call-level :class:`Kind` values.
2. **Transitions** (:data:`TRANSITIONS`): ``(state, kind) → next state`` is data, like h11's
   ``_state.py``. A pair missing from the table is an illegal move: :meth:`Call.feed`
   records an :class:`IllegalTransition` naming the state as an anomaly on the call's
   timeline and goes on, so out-of-order or unexpected events never escape. Only legal
   moves run their measuring handler.

Measured facts are kept in event-time microseconds; :mod:`.standards` turns them into the
verdicts of the outcome. Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .commands import (
    GREETING_PROMPTS,
    PROMPT_HOLD_END_APOLOGY,
    PROMPT_HOLD_REMINDER,
    PROMPT_LONG_WAIT_APOLOGY,
    PROMPT_OPERATOR_INTRO,
    PROMPT_SILENCE_FIRST,
    PROMPT_SILENCE_LAST,
    CancelTimers,
    Command,
    PlayPrompt,
    TimerKind,
)
from .config import StandardsConfig
from .events import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentEvent,
    AgentRingNoAnswer,
    BridgeEnter,
    BridgeLeave,
    ChannelEvent,
    DialBegin,
    DialEnd,
    Hangup,
    Hold,
    NewCallerid,
    Newchannel,
    Newstate,
    PbxEvent,
    PromptAudience,
    PromptEvent,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
    SurveyAnswer,
    TalkingStart,
    TalkingStop,
    Unhold,
    to_datetime,
)
from .phone import is_dialable
from .standards import ring_verdict

_US = 1_000_000

_CHANNEL_SUFFIX = re.compile(r"(-[0-9a-fA-F]{8})?(;[12])?$")
_TRAILING_DIGITS = re.compile(r"(\d+)$")


def operator_id_from(name: str | None) -> str | None:
    """The operator id in a queue member interface or channel name.

    Takes the resource after the technology, drops ``@context``/dial options and Asterisk's
    ``-0000002a`` channel suffix, then keeps its trailing digits (the 工号):
    ``PJSIP/op001`` → ``001``, ``PJSIP/op001-0000002a`` → ``001``,
    ``Local/8101@agents/n`` → ``8101``, ``PJSIP/2001@phones`` → ``2001``. A resource without
    digits is returned whole (``SIP/alice`` → ``alice``); ``None`` for no name.
    """
    if not name:
        return None
    resource = name.split("/", 1)[1] if "/" in name else name
    resource = resource.split("@", 1)[0].split("/", 1)[0]
    resource = _CHANNEL_SUFFIX.sub("", resource)
    match = _TRAILING_DIGITS.search(resource)
    if match:
        return match.group(1)
    return resource or None


class State(enum.Enum):
    """Where the call is. ENDED and ABANDONED are final."""

    OFFERED = "offered"  # the caller's channel exists; not yet offered to an operator
    WAITING = "waiting"  # queued, or an operator leg is ringing
    CONNECTED = "connected"  # an operator answered (talking, or transferring)
    ON_HOLD = "on_hold"  # an operator put the caller on hold
    REQUEUED = "requeued"  # answered once, then sent back into a queue (transfer)
    ENDED = "ended"  # the caller hung up after an answer, or was never offered
    ABANDONED = "abandoned"  # the caller hung up while waiting, never answered

    # Members are singletons: identity hashing keeps the table lookup in C (Enum's own
    # __hash__ is Python code, run twice per event on the hot path).
    __hash__ = object.__hash__


class Kind(enum.Enum):
    """Call-level meaning of an event, after roles are known."""

    CALLER_NEW = "caller_new"
    QUEUE_JOIN = "queue_join"
    QUEUE_LEAVE = "queue_leave"
    LEG_RINGING = "leg_ringing"
    LEG_NO_ANSWER = "leg_no_answer"
    ANSWER = "answer"
    HOLD = "hold"
    UNHOLD = "unhold"
    OPERATOR_LEFT = "operator_left"
    CALLER_TALK_START = "caller_talk_start"
    CALLER_TALK_STOP = "caller_talk_stop"
    PROMPT = "prompt"
    SURVEY_ANSWER = "survey_answer"
    ABANDON = "abandon"
    CALLER_HANGUP = "caller_hangup"
    NOTE = "note"  # timeline only

    __hash__ = object.__hash__


S, K = State, Kind


def _build_transitions() -> dict[tuple[State, Kind], State]:
    table: dict[tuple[State, Kind], State] = {}
    for state in State:
        # Timeline notes, prompt reports, late talk reports, legs that stop ringing or hang
        # up after the caller, and queue bookkeeping are harmless in every state.
        for kind in (K.NOTE, K.PROMPT, K.SURVEY_ANSWER, K.CALLER_TALK_START, K.CALLER_TALK_STOP):
            table[state, kind] = state
        for kind in (K.LEG_NO_ANSWER, K.QUEUE_LEAVE, K.OPERATOR_LEFT, K.UNHOLD):
            table[state, kind] = state
    table.update(
        {
            (S.OFFERED, K.CALLER_NEW): S.OFFERED,
            # S1: the wait starts at the queue join or the first ringing operator leg.
            (S.OFFERED, K.QUEUE_JOIN): S.WAITING,
            (S.WAITING, K.QUEUE_JOIN): S.WAITING,
            (S.CONNECTED, K.QUEUE_JOIN): S.REQUEUED,
            (S.REQUEUED, K.QUEUE_JOIN): S.REQUEUED,
            (S.OFFERED, K.LEG_RINGING): S.WAITING,
            (S.WAITING, K.LEG_RINGING): S.WAITING,
            (S.CONNECTED, K.LEG_RINGING): S.CONNECTED,  # consult / transfer dial
            (S.ON_HOLD, K.LEG_RINGING): S.ON_HOLD,  # consult while the caller is held
            (S.REQUEUED, K.LEG_RINGING): S.REQUEUED,
            # An answer (first one, or a transfer to another operator).
            (S.OFFERED, K.ANSWER): S.CONNECTED,
            (S.WAITING, K.ANSWER): S.CONNECTED,
            (S.CONNECTED, K.ANSWER): S.CONNECTED,
            (S.ON_HOLD, K.ANSWER): S.CONNECTED,  # transfer completed: the hold is over
            (S.REQUEUED, K.ANSWER): S.CONNECTED,
            # S2 holds.
            (S.CONNECTED, K.HOLD): S.ON_HOLD,
            (S.ON_HOLD, K.UNHOLD): S.CONNECTED,
            # Ends.
            (S.OFFERED, K.ABANDON): S.ABANDONED,
            (S.WAITING, K.ABANDON): S.ABANDONED,
            (S.REQUEUED, K.ABANDON): S.ENDED,  # answered before: not an abandon
            (S.OFFERED, K.CALLER_HANGUP): S.ENDED,  # never offered to an operator
            (S.WAITING, K.CALLER_HANGUP): S.ABANDONED,
            (S.CONNECTED, K.CALLER_HANGUP): S.ENDED,
            (S.ON_HOLD, K.CALLER_HANGUP): S.ENDED,
            (S.REQUEUED, K.CALLER_HANGUP): S.ENDED,
            (S.ABANDONED, K.CALLER_HANGUP): S.ABANDONED,  # Hangup after QueueCallerAbandon
        }
    )
    return table


#: The state machine: ``(state, kind) → next state``. Pairs not listed are illegal moves.
TRANSITIONS: dict[tuple[State, Kind], State] = _build_transitions()


class IllegalTransition(Exception):
    """An event the call's current state does not allow (recorded as an anomaly)."""

    def __init__(self, state: State, kind: Kind, event: PbxEvent) -> None:
        super().__init__(f"{event.kind} ({kind.value}) is not allowed in state {state.value}")
        self.state = state
        self.kind = kind


@dataclass(slots=True)
class Leg:
    """A non-caller channel of the call that rang for an operator."""

    uniqueid: str
    channel: str | None
    operator_id: str | None
    via_queue: bool
    dialer: str | None  # uniqueid of the channel that dialled it (None: the queue)


@dataclass(slots=True)
class HoldFact:
    """One hold of the caller, in event microseconds."""

    start_us: int
    holder: str
    end_us: int | None = None
    reminders: int = 0
    next_reminder_us: int | None = None  # tick(): the reminder after the pending one


@dataclass(slots=True)
class PromptFact:
    """A prompt reported by the IVR layer."""

    prompt: str
    at_us: int
    played: bool
    finished: bool | None = None
    to: PromptAudience = "caller"


@dataclass(slots=True)
class Anomaly:
    """An event the state machine could not accept, kept for the timeline."""

    at_us: int
    message: str
    channel: str | None


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
    ended_us: int | None = None
    # completeness and bookkeeping
    incomplete_reasons: list[str] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    events: list[PbxEvent] = field(default_factory=list)
    seen_keys: set[tuple[object, ...]] = field(default_factory=set)
    channels_up: set[str] = field(default_factory=set)
    channels_down: set[str] = field(default_factory=set)
    commands: list[Command] = field(default_factory=list)
    # The leg an ANSWER/OPERATOR_LEFT kind is about, set by classify for its handler.
    _answering: str | None = None

    # ---------------------------------------------------------------- public surface --

    @property
    def caller_uniqueid(self) -> str:
        """The caller's channel id (the call's first channel)."""
        return self.linkedid

    @property
    def wait_started_us(self) -> int | None:
        """S1: the first operator leg ringing for the caller (or, never rung, the queue
        join); with ``wait_starts_at="queue_join"`` the earlier of the two."""
        if self.config.wait_starts_at == "first_ring" and self.first_ring_us is not None:
            return self.first_ring_us
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
            self._advance(at)
        try:
            for kind in self.classify(event):
                # The table decides; only legal moves run their measuring handler.
                next_state = TRANSITIONS.get((self.state, kind))
                if next_state is None:
                    exc = IllegalTransition(self.state, kind, event)
                    self.anomalies.append(Anomaly(at, str(exc), _channel_of(event)))
                    continue
                handler = _HANDLERS.get(kind)
                if handler is not None:
                    handler(self, event)
                self.state = next_state
        finally:
            self._answering = None

    def mark_incomplete(self, reason: str) -> None:
        """Events of this call were (or may have been) missed: the outcome says so."""
        if reason not in self.incomplete_reasons:
            self.incomplete_reasons.append(reason)

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
        repeat = round(self.config.hold_reminder_repeat_seconds * _US)
        while hold.next_reminder_us <= now_us:
            hold.next_reminder_us += repeat
            self._play(PROMPT_HOLD_REMINDER, hold.next_reminder_us, timer="hold")

    def open_hold(self) -> HoldFact | None:
        """The hold in progress, if any."""
        if self.holds and self.holds[-1].end_us is None:
            return self.holds[-1]
        return None

    # ---------------------------------------------------------------------- roles --

    def classify(self, event: PbxEvent) -> tuple[Kind, ...]:
        """Call-level meaning of ``event``; keeps the channel, leg and bridge registry."""
        cls = type(event)
        if cls in _CHANNEL_EVENT_TYPES:
            chan: ChannelEvent = event  # type: ignore[assignment]  # (no cast() call: hot path)
            uid = chan.uniqueid
            self.channels_up.add(uid)
            if cls is Hangup:
                self.channels_down.add(uid)
            if uid == self.linkedid:
                if self.caller_channel is None:
                    self.caller_channel = chan.channel
                if (
                    chan.caller_num
                    and self.direction == "inbound"
                    and (self.caller_number is None or cls is NewCallerid or cls is Newchannel)
                ):
                    self.caller_number = chan.caller_num
        classifier = _CLASSIFIERS.get(cls)
        if classifier is None:
            return (K.NOTE,)
        return classifier(self, event)

    def _register_leg(
        self, uid: str | None, channel: str | None, op: str | None, queue: bool, dialer: str | None
    ) -> None:
        if uid is None or uid == self.linkedid:
            return
        self.channels_up.add(uid)
        leg = self.legs.get(uid)
        if leg is None:
            self.legs[uid] = Leg(uid, channel, op, queue, dialer)
        elif op and not leg.operator_id:
            leg.operator_id = op

    def _answer_leg_in_caller_bridge(self) -> tuple[Kind, ...]:
        members = self.bridges.get(self.caller_bridge or "", set())
        for uid in sorted(members):
            if uid in self.legs and uid not in self.connected_legs:
                self._answering = uid
                return (K.ANSWER,)
        return (K.NOTE,)

    # ---------------------------------------------------------------- transitions --

    def _advance(self, now_us: int) -> None:
        # The silence watchdog's first stage is a virtual timer judged in event time, so a
        # replay reaches the same verdict as the live run.
        if self.silence_due_us is not None and now_us >= self.silence_due_us:
            if self.silence_fired_us is None:
                self.silence_fired_us = self.silence_due_us
            self.silence_due_us = None

    # -------------------------------------------------------------- command helpers --

    def _play(
        self,
        prompt: str,
        due_us: int,
        *,
        timer: TimerKind | None = None,
        variables: tuple[tuple[str, str], ...] = (),
        hangup_after: bool = False,
    ) -> None:
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

    def _cancel(self, kind: TimerKind, at_us: int) -> None:
        self.commands.append(CancelTimers(self.call_id, kind, to_datetime(at_us)))

    def _arm_silence(self, anchor_us: int) -> None:
        if self.silence_stopped or self.silence_fired_us is not None:
            return
        self.silence_due_us = anchor_us + round(self.config.silence_prompt_seconds * _US)
        self._play(PROMPT_SILENCE_FIRST, self.silence_due_us, timer="silence")

    def _pause_silence(self, at_us: int) -> None:
        if self.silence_due_us is not None:
            self.silence_due_us = None
            self._cancel("silence", at_us)

    def _stop_silence(self, at_us: int) -> None:
        was_active = self.silence_due_us is not None or (
            self.silence_fired_us is not None and not self.silence_stopped
        )
        self.silence_due_us = None
        self.silence_stopped = True
        if was_active:
            self._cancel("silence", at_us)

    def _close_hold(self, at_us: int, *, call_goes_on: bool) -> None:
        hold = self.open_hold()
        if hold is None:
            return
        hold.end_us = max(at_us, hold.start_us)
        hold.next_reminder_us = None
        self._cancel("hold", at_us)
        over = hold.end_us - hold.start_us > round(self.config.hold_reminder_seconds * _US)
        if over and call_goes_on:
            self._play(PROMPT_HOLD_END_APOLOGY, at_us)
        if call_goes_on and not self.silence_stopped:
            self._arm_silence(at_us)  # the watchdog paused while the caller was held

    # ----------------------------------------------------------------- handlers --

    def _on_caller_new(self, event: PbxEvent) -> None:
        self.caller_new_seen = True
        self.offered_us = event.at_us

    def _on_queue_join(self, event: QueueCallerJoin) -> None:
        self.in_queue_flow = True
        self.queue = self.queue or event.queue
        if self.answered_us is None and (
            self.queue_join_us is None or event.at_us < self.queue_join_us
        ):
            self.queue_join_us = event.at_us

    def _on_leg_ringing(self, event: PbxEvent) -> None:
        if self.answered_us is None and (
            self.first_ring_us is None or event.at_us < self.first_ring_us
        ):
            self.first_ring_us = event.at_us

    def _on_answer(self, event: PbxEvent) -> None:
        uid = self._answering
        self._answering = None
        at = event.at_us
        leg = self.legs.get(uid) if uid else None
        op = leg.operator_id if leg else None
        if uid:
            self.connected_legs.add(uid)
        self.talk_end_us = None
        if self.state is S.ON_HOLD:
            self._close_hold(at, call_goes_on=True)
        first = self.answered_us is None
        if first:
            self.answered_us = at
        if self.direction == "callback":
            return  # the customer answered: no operator prompts, no S3 watchdog
        new_operator = first or (op is not None and op != self.operator_id)
        if op:
            self.operator_id = op
            if not self.operator_ids or self.operator_ids[-1] != op:
                self.operator_ids.append(op)
        if first:
            wait = self.wait_started_us
            if wait is not None:
                rings, _ = ring_verdict(at - wait, self.config)
                if rings >= self.config.apology_min_rings:
                    self._play(PROMPT_LONG_WAIT_APOLOGY, at)
        if new_operator:
            # 工号播报: every operator who takes the caller says who they are (S4).
            self._play(PROMPT_OPERATOR_INTRO, at, variables=(("operator_id", op or ""),))
        # Silence counts from the (latest) connection; a Local-channel swap re-arms it at
        # the same instant, so it costs nothing.
        self._arm_silence(at)

    def _on_hold(self, event: Hold) -> None:
        at = event.at_us
        first_due = at + round(self.config.hold_reminder_seconds * _US)
        self.holds.append(HoldFact(at, event.uniqueid, next_reminder_us=first_due))
        self._play(PROMPT_HOLD_REMINDER, first_due, timer="hold")
        self._pause_silence(at)

    def _on_unhold(self, event: PbxEvent) -> None:
        self._close_hold(event.at_us, call_goes_on=True)

    def _on_operator_left(self, event: PbxEvent) -> None:
        uid = self._answering
        self._answering = None
        if uid:
            self.connected_legs.discard(uid)
        if not self.connected_legs and self.answered_us is not None:
            if self.caller_hangup_us is None:  # else the talk ended with the caller
                self.talk_end_us = event.at_us
            # Nobody to talk to any more (survey, transfer ringing): no silence prompts.
            self._pause_silence(event.at_us)

    def _on_talk_start(self, event: PbxEvent) -> None:
        self.talk_open_us = event.at_us
        if self.answered_us is not None and event.at_us >= self.answered_us:
            self._caller_spoke(event.at_us)

    def _on_talk_stop(self, event: TalkingStop) -> None:
        # The stop is reported ~2.5 s after the talk ended: the talk ended at its start +
        # Duration. Without a start, the talk began Duration before… at the latest.
        duration_us = (event.duration_ms or 0) * 1000
        start = self.talk_open_us if self.talk_open_us is not None else event.at_us - duration_us
        self.talk_open_us = None
        end = start + duration_us
        if self.answered_us is not None and end > self.answered_us:
            self._caller_spoke(max(start, self.answered_us))

    def _caller_spoke(self, at_us: int) -> None:
        if self.first_talk_us is None or at_us < self.first_talk_us:
            self.first_talk_us = at_us
        self._stop_silence(at_us)

    def _on_prompt(self, event: PromptEvent) -> None:
        at = event.at_us
        fact = None
        if event.phase == "finished":
            for candidate in reversed(self.prompts):
                if candidate.prompt == event.prompt and candidate.finished is None:
                    fact = candidate
                    break
        if fact is None:
            fact = PromptFact(event.prompt, at, event.played, to=event.to)
            self.prompts.append(fact)
        if event.phase == "finished":
            # A prompt that started and was then cut (the hold ended, the caller spoke) was
            # played, not finished; one that never started stays played=False.
            fact.finished = event.played
        after_answer = self.answered_us is not None and at >= self.answered_us
        if event.prompt == PROMPT_HOLD_REMINDER and event.phase == "started" and event.played:
            hold = self.open_hold() or self._hold_at(at)
            if hold is not None:
                hold.reminders += 1
        elif event.prompt == PROMPT_SILENCE_FIRST and event.played and after_answer:
            if event.phase == "started":
                if self.silence_fired_us is None or at < self.silence_fired_us:
                    self.silence_fired_us = at
                self.silence_due_us = None
            elif self.first_talk_us is None and not self.silence_stopped:
                due = at + round(self.config.silence_hangup_seconds * _US)
                self._play(PROMPT_SILENCE_LAST, due, timer="silence", hangup_after=True)
        elif event.prompt in GREETING_PROMPTS and after_answer and not self.silence_stopped:
            # S3: silence counts from the end of the greeting, not from the answer.
            if event.phase == "started":
                self._pause_silence(at)
            elif self.silence_fired_us is None and self.open_hold() is None:
                self._arm_silence(at)

    def _on_survey_answer(self, event: SurveyAnswer) -> None:
        self.survey_digit = event.digit

    def _hold_at(self, at_us: int) -> HoldFact | None:
        for hold in self.holds:
            if hold.start_us <= at_us <= (hold.end_us if hold.end_us is not None else at_us):
                return hold
        return None

    def _on_abandon(self, event: PbxEvent) -> None:
        if self.abandon_us is None or event.at_us < self.abandon_us:
            self.abandon_us = event.at_us

    def _on_caller_hangup(self, event: PbxEvent) -> None:
        at = event.at_us
        self.caller_hangup_us = at
        self._close_hold(at, call_goes_on=False)
        if self.answered_us is not None and self.talk_end_us is None:
            self.talk_end_us = at
        self._advance(at)
        self.silence_due_us = None
        self.commands.append(CancelTimers(self.call_id, "all", to_datetime(at)))


# --------------------------------------------------------------------- classifiers --


def _channel_of(event: PbxEvent) -> str | None:
    return getattr(event, "channel", None)


def _c_newchannel(call: Call, e: Newchannel) -> tuple[Kind, ...]:
    return (K.CALLER_NEW,) if e.uniqueid == call.linkedid else (K.NOTE,)


def _c_newstate(call: Call, e: Newstate) -> tuple[Kind, ...]:
    leg = call.legs.get(e.uniqueid)
    # Dial() flow: the called leg going Up is the answer. In queue flows the answer is
    # AgentConnect (the member may hear an announcement between Up and connect).
    if (
        e.state == "Up"
        and leg is not None
        and not leg.via_queue
        and leg.dialer in (None, call.linkedid)
        and not call.in_queue_flow
        and e.uniqueid not in call.connected_legs
        and call.answered_us is None
    ):
        call._answering = e.uniqueid
        return (K.ANSWER,)
    return (K.NOTE,)


def _c_queue_join(call: Call, e: QueueCallerJoin) -> tuple[Kind, ...]:
    return (K.QUEUE_JOIN,) if e.uniqueid == call.linkedid else (K.NOTE,)


def _c_queue_leave(call: Call, e: PbxEvent) -> tuple[Kind, ...]:
    return (K.QUEUE_LEAVE,)


def _c_queue_abandon(call: Call, e: QueueCallerAbandon) -> tuple[Kind, ...]:
    return (K.ABANDON,) if e.uniqueid == call.linkedid else (K.NOTE,)


def _agent_leg(call: Call, e: AgentEvent) -> str | None:
    op = operator_id_from(e.interface) or operator_id_from(e.dest_channel)
    call.in_queue_flow = True
    call._register_leg(e.dest_uniqueid, e.dest_channel, op, True, None)
    return e.dest_uniqueid


def _c_agent_called(call: Call, e: AgentCalled) -> tuple[Kind, ...]:
    _agent_leg(call, e)
    return (K.LEG_RINGING,)


def _c_agent_ring_no_answer(call: Call, e: AgentRingNoAnswer) -> tuple[Kind, ...]:
    _agent_leg(call, e)
    return (K.LEG_NO_ANSWER,)


def _c_agent_connect(call: Call, e: AgentConnect) -> tuple[Kind, ...]:
    uid = _agent_leg(call, e)
    if uid is not None and uid in call.connected_legs:
        return (K.NOTE,)  # the bridge already told us
    call._answering = uid
    return (K.ANSWER,)


def _c_agent_complete(call: Call, e: AgentComplete) -> tuple[Kind, ...]:
    uid = _agent_leg(call, e)
    if uid is None or uid not in call.connected_legs:
        return (K.NOTE,)
    call._answering = uid
    return (K.OPERATOR_LEFT,)


def _c_dial_begin(call: Call, e: DialBegin) -> tuple[Kind, ...]:
    if e.uniqueid is None and e.dest_uniqueid == call.linkedid:
        # Nobody dials the call's first channel except an Originate: the PBX is calling a
        # customer (S5 callback). Its number is the dial string's resource ("139…@trunk").
        call.direction = "callback"
        number = (e.dial_string or "").split("@", 1)[0].rsplit("/", 1)[-1]
        if is_dialable(number):
            call.caller_number = number
        return (K.LEG_RINGING,)
    by_caller = e.uniqueid in (None, call.linkedid)
    call._register_leg(
        e.dest_uniqueid, e.dest_channel, operator_id_from(e.dest_channel), False, e.uniqueid
    )
    if e.uniqueid is not None:
        call.channels_up.add(e.uniqueid)
    # A leg dialled by another leg (Local channel half, consult call) is not the caller
    # being offered to an operator.
    return (K.LEG_RINGING,) if by_caller else (K.NOTE,)


def _c_dial_end(call: Call, e: DialEnd) -> tuple[Kind, ...]:
    by_caller = e.uniqueid in (None, call.linkedid)
    if not by_caller:
        return (K.NOTE,)
    if e.dial_status == "ANSWER":
        if call.in_queue_flow or e.dest_uniqueid in call.connected_legs:
            return (K.NOTE,)
        call._register_leg(
            e.dest_uniqueid, e.dest_channel, operator_id_from(e.dest_channel), False, e.uniqueid
        )
        call._answering = e.dest_uniqueid
        return (K.ANSWER,)
    return (K.LEG_NO_ANSWER,)


def _c_bridge_enter(call: Call, e: BridgeEnter) -> tuple[Kind, ...]:
    call.bridges.setdefault(e.bridge_id, set()).add(e.uniqueid)
    if e.uniqueid == call.linkedid:
        call.caller_bridge = e.bridge_id
        return call._answer_leg_in_caller_bridge()
    if e.bridge_id == call.caller_bridge and e.uniqueid in call.legs:
        if e.uniqueid in call.connected_legs:
            return (K.NOTE,)
        call._answering = e.uniqueid
        return (K.ANSWER,)
    return (K.NOTE,)


def _c_bridge_leave(call: Call, e: BridgeLeave) -> tuple[Kind, ...]:
    members = call.bridges.get(e.bridge_id)
    if members is not None:
        members.discard(e.uniqueid)
        if not members:
            del call.bridges[e.bridge_id]
    if e.uniqueid == call.linkedid:
        if call.caller_bridge == e.bridge_id:
            call.caller_bridge = None
        return (K.NOTE,)
    if e.bridge_id == call.caller_bridge and e.uniqueid in call.connected_legs:
        call._answering = e.uniqueid
        return (*_holder_left(call, e.uniqueid), K.OPERATOR_LEFT)
    return (K.NOTE,)


def _holder_left(call: Call, uid: str) -> tuple[Kind, ...]:
    # S2: a hold ends at Unhold or when the holding operator's channel goes away.
    hold = call.open_hold()
    return (K.UNHOLD,) if hold is not None and hold.holder == uid else ()


def _c_hold(call: Call, e: Hold) -> tuple[Kind, ...]:
    # Hold raised on the caller's own channel is the caller holding the operator: not S2.
    if e.uniqueid == call.linkedid:
        return (K.NOTE,)
    if call.open_hold() is not None:
        return (K.NOTE,)  # a second leg holding at the same time: one caller hold
    return (K.HOLD,)


def _c_unhold(call: Call, e: Unhold) -> tuple[Kind, ...]:
    if e.uniqueid == call.linkedid or call.open_hold() is None:
        return (K.NOTE,)
    return (K.UNHOLD,)


def _c_talk_start(call: Call, e: TalkingStart) -> tuple[Kind, ...]:
    return (K.CALLER_TALK_START,) if e.uniqueid == call.linkedid else (K.NOTE,)


def _c_talk_stop(call: Call, e: TalkingStop) -> tuple[Kind, ...]:
    return (K.CALLER_TALK_STOP,) if e.uniqueid == call.linkedid else (K.NOTE,)


def _c_hangup(call: Call, e: Hangup) -> tuple[Kind, ...]:
    if e.uniqueid == call.linkedid:
        return (K.CALLER_HANGUP,)
    if e.uniqueid in call.connected_legs:
        call._answering = e.uniqueid
        return (*_holder_left(call, e.uniqueid), K.OPERATOR_LEFT)
    return _holder_left(call, e.uniqueid) or (K.NOTE,)


def _c_prompt(call: Call, e: PbxEvent) -> tuple[Kind, ...]:
    return (K.PROMPT,)


def _c_survey_answer(call: Call, e: PbxEvent) -> tuple[Kind, ...]:
    return (K.SURVEY_ANSWER,)


def _c_note(call: Call, e: PbxEvent) -> tuple[Kind, ...]:
    return (K.NOTE,)


# Each classifier and handler is registered for the event type it takes (Any: the table
# dispatches on the exact type, so no isinstance check is needed on the hot path).
_Classifier = Callable[[Call, Any], tuple[Kind, ...]]

_CLASSIFIERS: dict[type[PbxEvent], _Classifier] = {
    Newchannel: _c_newchannel,
    NewCallerid: _c_note,
    Newstate: _c_newstate,
    QueueCallerJoin: _c_queue_join,
    QueueCallerLeave: _c_queue_leave,
    QueueCallerAbandon: _c_queue_abandon,
    AgentCalled: _c_agent_called,
    AgentRingNoAnswer: _c_agent_ring_no_answer,
    AgentConnect: _c_agent_connect,
    AgentComplete: _c_agent_complete,
    DialBegin: _c_dial_begin,
    DialEnd: _c_dial_end,
    BridgeEnter: _c_bridge_enter,
    BridgeLeave: _c_bridge_leave,
    Hold: _c_hold,
    Unhold: _c_unhold,
    TalkingStart: _c_talk_start,
    TalkingStop: _c_talk_stop,
    Hangup: _c_hangup,
    PromptEvent: _c_prompt,
    SurveyAnswer: _c_survey_answer,
}

_Handler = Callable[[Call, Any], None]

_CHANNEL_EVENT_TYPES: frozenset[type[PbxEvent]] = frozenset(
    t for t in _CLASSIFIERS if issubclass(t, ChannelEvent)
)

#: Side effects of legal moves (measurements and commands), by call-level kind.
_HANDLERS: dict[Kind, _Handler] = {
    K.CALLER_NEW: Call._on_caller_new,
    K.QUEUE_JOIN: Call._on_queue_join,
    K.LEG_RINGING: Call._on_leg_ringing,
    K.ANSWER: Call._on_answer,
    K.HOLD: Call._on_hold,
    K.UNHOLD: Call._on_unhold,
    K.OPERATOR_LEFT: Call._on_operator_left,
    K.CALLER_TALK_START: Call._on_talk_start,
    K.CALLER_TALK_STOP: Call._on_talk_stop,
    K.PROMPT: Call._on_prompt,
    K.SURVEY_ANSWER: Call._on_survey_answer,
    K.ABANDON: Call._on_abandon,
    K.CALLER_HANGUP: Call._on_caller_hangup,
}
