"""What each legal move of a call measures, and which IVR commands it asks for.

:data:`HANDLERS` maps a call-level :class:`~.transitions.Kind` to its handler;
:meth:`.call.Call.feed` runs one only when :data:`~.transitions.TRANSITIONS` allows the
move, before the call takes its next state (a handler sees the state the move starts from).
Each handler gets the call, the event and the operator leg the move is about (only answers
and operators leaving have one, see :class:`.roles.Meaning`).

The S3 silence watchdog lives here too. Its first stage is a virtual timer judged in event
time (:meth:`.call.Call.advance`), so a replay reaches the verdict the live run reached; the
prompts it asks for are commands the IVR layer may or may not manage to play.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .commands import (
    GREETING_PROMPTS,
    PROMPT_HOLD_END_APOLOGY,
    PROMPT_HOLD_REMINDER,
    PROMPT_LONG_WAIT_APOLOGY,
    PROMPT_OPERATOR_INTRO,
    PROMPT_SILENCE_FIRST,
    PROMPT_SILENCE_LAST,
    CancelTimers,
)
from .event_types import (
    HangupRequest,
    Hold,
    PbxEvent,
    PromptEvent,
    PromptPhase,
    QueueCallbackRequest,
    QueueCallerJoin,
    SoftHangupRequest,
    SurveyAnswer,
    TalkingStop,
    to_datetime,
)
from .facts import HoldFact, PromptFact
from .standards import ring_verdict
from .transitions import Kind, State

if TYPE_CHECKING:
    from .call import Call

K = Kind
_US = 1_000_000

# ------------------------------------------------------------------------- handlers --


def on_caller_new(call: Call, event: PbxEvent, leg: str | None) -> None:
    call.caller_new_seen = True
    call.offered_us = event.at_us


def on_queue_join(call: Call, event: QueueCallerJoin, leg: str | None) -> None:
    call.in_queue_flow = True
    call.queue = call.queue or event.queue
    if call.direction == "callback" and call.return_queued_us is None:
        # S8: a return call handed to the admin's queue after its greeting. From here it is
        # measured like an inbound caller's wait; it is recorded from the queue join (the
        # callback's own recording covered the answer and the greeting), so the whole call
        # is on record (S5).
        call.return_queued_us = event.at_us
        call.record(event.at_us)
    if call.answered_us is None and (
        call.queue_join_us is None or event.at_us < call.queue_join_us
    ):
        call.queue_join_us = event.at_us


def on_leg_ringing(call: Call, event: PbxEvent, leg: str | None) -> None:
    if call.answered_us is None and (
        call.first_ring_us is None or event.at_us < call.first_ring_us
    ):
        call.first_ring_us = event.at_us


def on_answer(call: Call, event: PbxEvent, leg: str | None) -> None:
    at = event.at_us
    known = call.legs.get(leg) if leg else None
    op = known.operator_id if known else None
    if leg:
        call.connected_legs.add(leg)
    call.talk_end_us = None
    if call.state is State.ON_HOLD:
        close_hold(call, at, call_goes_on=True)
    first = call.answered_us is None
    if first:
        call.answered_us = at
    if call.direction == "callback":
        if call.return_queued_us is None or op is None:
            return  # the customer answered: no operator prompts, no S3 watchdog
        # S8: an operator took the return call from the queue: served like an inbound
        # caller from here (who took it, the operator's introduction, silence timing); it
        # is recorded since its queue join, and no wait apology (the customer was called).
        if call.return_answered_us is None:
            call.return_answered_us = at
        if op != call.operator_id:
            _took_the_caller(call, op)
            call.play(PROMPT_OPERATOR_INTRO, at, variables=(("operator_id", op),))
        arm_silence(call, at)
        return
    new_operator = first or (op is not None and op != call.operator_id)
    if op:
        _took_the_caller(call, op)
    if first:
        # The one decision "the caller met an operator", for the inbound recorder too.
        call.record(at)
        _apologise_for_the_wait(call, at)
    if new_operator:
        # 工号播报: every operator who takes the caller says who they are (S4).
        call.play(PROMPT_OPERATOR_INTRO, at, variables=(("operator_id", op or ""),))
    if call.talk_open_us is not None:
        # Talking as the operator answers: TALK_DETECT's start fell before the answer mark
        # (a loaded PBX stamps the answer late), and its stop may never come if the call
        # ends mid-sentence. The caller is not silent.
        _caller_spoke(call, at)
    # Silence counts from the (latest) connection; a Local-channel swap re-arms it at the
    # same instant, so it costs nothing.
    arm_silence(call, at)


def _took_the_caller(call: Call, op: str) -> None:
    call.operator_id = op
    if not call.operator_ids or call.operator_ids[-1] != op:
        call.operator_ids.append(op)


def _apologise_for_the_wait(call: Call, answered_us: int) -> None:
    wait = call.wait_started_us
    if wait is not None:
        rings, _ = ring_verdict(answered_us - wait, call.config)
        if rings >= call.config.apology_min_rings:
            call.play(PROMPT_LONG_WAIT_APOLOGY, answered_us)


def on_hold(call: Call, event: Hold, leg: str | None) -> None:
    at = event.at_us
    first_due = at + round(call.config.hold_reminder_seconds * _US)
    call.holds.append(HoldFact(at, event.uniqueid, next_reminder_us=first_due))
    call.play(PROMPT_HOLD_REMINDER, first_due, timer="hold")
    pause_silence(call, at)


def on_unhold(call: Call, event: PbxEvent, leg: str | None) -> None:
    close_hold(call, event.at_us, call_goes_on=True)


def on_transferred(call: Call, event: PbxEvent, leg: str | None) -> None:
    call.transferred = True  # S9: handing the caller on is not hanging up on them


def on_operator_left(call: Call, event: PbxEvent, leg: str | None) -> None:
    if leg:
        call.connected_legs.discard(leg)
    if not call.connected_legs and call.answered_us is not None:
        if call.caller_hangup_us is None:  # else the talk ended with the caller
            call.talk_end_us = event.at_us
        # Nobody to talk to any more (survey, transfer ringing): no silence prompts.
        pause_silence(call, event.at_us)


def on_talk_start(call: Call, event: PbxEvent, leg: str | None) -> None:
    call.talk_open_us = event.at_us
    if call.answered_us is not None and event.at_us >= call.answered_us:
        _caller_spoke(call, event.at_us)


def on_talk_stop(call: Call, event: TalkingStop, leg: str | None) -> None:
    # The stop is reported ~2.5 s after the talk ended: the talk ended at its start +
    # Duration. Without a start, the talk began Duration before… at the latest.
    duration_us = (event.duration_ms or 0) * 1000
    start = call.talk_open_us if call.talk_open_us is not None else event.at_us - duration_us
    call.talk_open_us = None
    end = start + duration_us
    if call.answered_us is not None and end > call.answered_us:
        _caller_spoke(call, max(start, call.answered_us))


def _caller_spoke(call: Call, at_us: int) -> None:
    if call.first_talk_us is None or at_us < call.first_talk_us:
        call.first_talk_us = at_us
    stop_silence(call, at_us)


def on_prompt(call: Call, event: PromptEvent, leg: str | None) -> None:
    _record_prompt(call, event)
    effect = _PROMPT_EFFECTS.get((event.prompt, event.phase))
    if effect is not None:
        effect(call, event)


def on_survey_answer(call: Call, event: SurveyAnswer, leg: str | None) -> None:
    call.survey_digit = event.digit


def on_queue_callback(call: Call, event: QueueCallbackRequest, leg: str | None) -> None:
    """S8: the caller pressed 1 at the in-queue offer: a return call in their place is
    promised, so leaving the queue is no abandon (the first request counts)."""
    if call.queue_callback_us is None:
        call.queue_callback_us = event.at_us
        call.queue_callback_queue = event.queue or call.queue


def on_abandon(call: Call, event: PbxEvent, leg: str | None) -> None:
    if call.abandon_us is None or event.at_us < call.abandon_us:
        call.abandon_us = event.at_us


def on_hangup_request(call: Call, event: HangupRequest, leg: str | None) -> None:
    """S9: the first request to end the caller's channel or an operator's answered leg
    says who hung up first — the PBX (``SoftHangupRequest``: an application, ARI, the
    other side's end), else the party on that leg. Later requests are the consequence."""
    if call.hung_up_by is not None:
        return
    if isinstance(event, SoftHangupRequest):
        call.hung_up_by = "system"
    else:
        call.hung_up_by = "caller" if leg is None else "operator"


def on_caller_hangup(call: Call, event: PbxEvent, leg: str | None) -> None:
    at = event.at_us
    call.caller_hangup_us = at
    close_hold(call, at, call_goes_on=False)
    if call.answered_us is not None and call.talk_end_us is None:
        call.talk_end_us = at
    call.advance(at)
    call.silence_due_us = None
    call.commands.append(CancelTimers(call.call_id, "all", to_datetime(at)))


# -------------------------------------------------------------------------- prompts --


def _record_prompt(call: Call, event: PromptEvent) -> None:
    fact = None
    if event.phase == "finished":
        for candidate in reversed(call.prompts):
            if candidate.prompt == event.prompt and candidate.finished is None:
                fact = candidate
                break
    if fact is None:
        fact = PromptFact(event.prompt, event.at_us, event.played, to=event.to)
        call.prompts.append(fact)
    if event.phase == "finished":
        # A prompt that started and was then cut (the hold ended, the caller spoke) was
        # played, not finished; one that never started stays played=False.
        fact.finished = event.played


def _after_answer(call: Call, at_us: int) -> bool:
    return call.answered_us is not None and at_us >= call.answered_us


def _hold_reminder_started(call: Call, event: PromptEvent) -> None:
    # S2: the reminder counts for the hold it was heard in, even when its report arrives
    # after that hold ended.
    if event.played:
        hold = call.open_hold() or _hold_at(call, event.at_us)
        if hold is not None:
            hold.reminders += 1


def _hold_at(call: Call, at_us: int) -> HoldFact | None:
    for hold in call.holds:
        if hold.start_us <= at_us <= (hold.end_us if hold.end_us is not None else at_us):
            return hold
    return None


def _silence_first_started(call: Call, event: PromptEvent) -> None:
    at = event.at_us
    if event.played and _after_answer(call, at):
        if call.silence_fired_us is None or at < call.silence_fired_us:
            call.silence_fired_us = at
        call.silence_due_us = None


def _silence_first_finished(call: Call, event: PromptEvent) -> None:
    # Still silent after the first prompt: the last one, then the IVR hangs up (S3).
    at = event.at_us
    if (
        event.played
        and _after_answer(call, at)
        and call.first_talk_us is None
        and not call.silence_stopped
    ):
        due = at + round(call.config.silence_hangup_seconds * _US)
        call.play(PROMPT_SILENCE_LAST, due, timer="silence", hangup_after=True)


def _greeting_started(call: Call, event: PromptEvent) -> None:
    # S3: silence counts from the end of the greeting, not from the answer.
    if _after_answer(call, event.at_us) and not call.silence_stopped:
        pause_silence(call, event.at_us)


def _greeting_finished(call: Call, event: PromptEvent) -> None:
    at = event.at_us
    if (
        _after_answer(call, at)
        and not call.silence_stopped
        and call.silence_fired_us is None
        and call.open_hold() is None
    ):
        arm_silence(call, at)


_PromptEffect = Callable[["Call", PromptEvent], None]

#: What a prompt report changes besides the prompt list, by ``(prompt, phase)``.
_PROMPT_EFFECTS: dict[tuple[str, PromptPhase], _PromptEffect] = {
    **{(prompt, "started"): _greeting_started for prompt in GREETING_PROMPTS},
    **{(prompt, "finished"): _greeting_finished for prompt in GREETING_PROMPTS},
    (PROMPT_HOLD_REMINDER, "started"): _hold_reminder_started,
    (PROMPT_SILENCE_FIRST, "started"): _silence_first_started,
    (PROMPT_SILENCE_FIRST, "finished"): _silence_first_finished,
}
# The hold reminder and the first silence prompt are no greeting: each report has one effect.
assert not GREETING_PROMPTS & {PROMPT_HOLD_REMINDER, PROMPT_SILENCE_FIRST}

# ---------------------------------------------------------- S2 holds, S3 watchdog --


def close_hold(call: Call, at_us: int, *, call_goes_on: bool) -> None:
    """End the hold in progress at ``at_us`` (if any): cancel its reminders, apologise for a
    long one and re-arm the silence watchdog when the call goes on."""
    hold = call.open_hold()
    if hold is None:
        return
    hold.end_us = max(at_us, hold.start_us)
    hold.next_reminder_us = None
    call.cancel("hold", at_us)
    over = hold.end_us - hold.start_us > round(call.config.hold_reminder_seconds * _US)
    if over and call_goes_on:
        call.play(PROMPT_HOLD_END_APOLOGY, at_us)
    if call_goes_on and not call.silence_stopped:
        arm_silence(call, at_us)  # the watchdog paused while the caller was held


def arm_silence(call: Call, anchor_us: int) -> None:
    """Start the watchdog's wait for the caller's first word from ``anchor_us`` (unless the
    caller spoke already or the first prompt fired)."""
    if call.silence_stopped or call.silence_fired_us is not None:
        return
    call.silence_due_us = anchor_us + round(call.config.silence_prompt_seconds * _US)
    call.play(PROMPT_SILENCE_FIRST, call.silence_due_us, timer="silence")


def pause_silence(call: Call, at_us: int) -> None:
    """Stop the watchdog's wait until it is armed again (greeting, hold, nobody to talk to)."""
    if call.silence_due_us is not None:
        call.silence_due_us = None
        call.cancel("silence", at_us)


def stop_silence(call: Call, at_us: int) -> None:
    """The caller spoke: the watchdog is done for this call."""
    was_active = call.silence_due_us is not None or (
        call.silence_fired_us is not None and not call.silence_stopped
    )
    call.silence_due_us = None
    call.silence_stopped = True
    if was_active:
        call.cancel("silence", at_us)


_Handler = Callable[["Call", Any, "str | None"], None]

#: Side effects of legal moves (measurements and commands), by call-level kind.
HANDLERS: dict[Kind, _Handler] = {
    K.CALLER_NEW: on_caller_new,
    K.QUEUE_JOIN: on_queue_join,
    K.LEG_RINGING: on_leg_ringing,
    K.ANSWER: on_answer,
    K.HOLD: on_hold,
    K.UNHOLD: on_unhold,
    K.OPERATOR_LEFT: on_operator_left,
    K.TRANSFERRED: on_transferred,
    K.HANGUP_REQUEST: on_hangup_request,
    K.CALLER_TALK_START: on_talk_start,
    K.CALLER_TALK_STOP: on_talk_stop,
    K.PROMPT: on_prompt,
    K.SURVEY_ANSWER: on_survey_answer,
    K.QUEUE_CALLBACK: on_queue_callback,
    K.ABANDON: on_abandon,
    K.CALLER_HANGUP: on_caller_hangup,
}
