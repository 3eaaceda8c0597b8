"""Verdicts of STANDARDS.md S1–S3 and S6 for one finished call, as pure functions.

The S1 arithmetic is done exactly (integer microseconds, the cadence as an exact
fraction), so ``rings`` and ``answered_within_standard`` can never disagree with each
other or with ``ring_seconds`` through float rounding: a ring time of exactly
``max_rings × cycle`` is always ring ``max_rings + 1`` and always outside the standard.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from functools import lru_cache
from typing import TYPE_CHECKING

from .config import StandardsConfig
from .event_types import to_datetime
from .outcome import CallOutcome, HoldInterval, PromptPlayed, Silence
from .timeline import TimelineEvent

if TYPE_CHECKING:
    from .call import Call
    from .event_types import PbxEvent
    from .facts import Anomaly

_US = 1_000_000


@lru_cache(maxsize=64)
def _cycle_us(cycle_seconds: float) -> tuple[int, int]:
    # The decimal the operator wrote (5.0, 6, 3.5, 0.1), not its binary approximation,
    # as an exact fraction p/q of microseconds: the verdicts below stay in integers.
    cycle = Fraction(repr(float(cycle_seconds))) * _US
    return cycle.numerator, cycle.denominator


def rings_for(ring_us: int, cycle_seconds: float) -> int:
    """S1: rings that had started at the answer: ``floor(ring_seconds / cycle) + 1``."""
    p, q = _cycle_us(cycle_seconds)
    return max(ring_us, 0) * q // p + 1


def within_standard(ring_us: int, cycle_seconds: float, max_rings: int) -> bool:
    """S1: answered within standard ⇔ ``ring_seconds < max_rings × cycle``."""
    p, q = _cycle_us(cycle_seconds)
    return ring_us * q < max_rings * p


def ring_verdict(ring_us: int, config: StandardsConfig) -> tuple[int, bool]:
    """``(rings, answered_within_standard)`` for a ring time in microseconds."""
    return (
        rings_for(ring_us, config.ring_cycle_seconds),
        within_standard(ring_us, config.ring_cycle_seconds, config.max_rings),
    )


def silence_verdict(
    answered_us: int | None, first_talk_us: int | None, prompted_us: int | None
) -> Silence:
    """S3 from facts: when the caller first spoke after the answer, and when the silence
    watchdog's first prompt fell due (``prompted_us``; None: it never did)."""
    if answered_us is None or prompted_us is None:
        return "none"
    if first_talk_us is None:
        return "hung_up_silent"
    return "prompted_then_spoke" if first_talk_us >= prompted_us else "none"


#: S4 satisfaction question: the keys it offers and what each one means.
SATISFACTION_KEYS = {"1": "satisfied", "2": "suggestion"}
#: Every verdict of :func:`satisfaction_verdict` (the figures count each).
SATISFACTION_ANSWERS: tuple[str, ...] = ("satisfied", "suggestion", "invalid", "no_answer")
PROMPT_SATISFACTION = "satisfaction"


def satisfaction_verdict(
    prompts_played: Iterable[tuple[str, bool]], digit: str | None
) -> str | None:
    """The caller's answer to the satisfaction question, from ``(prompt, played)`` reports
    and the key pressed: ``satisfied`` (1), ``suggestion`` (2), ``invalid`` (another key),
    ``no_answer`` (asked, no key in time); ``None`` when the question was never played."""
    if not any(name == PROMPT_SATISFACTION and played for name, played in prompts_played):
        return None
    if digit is None:
        return "no_answer"
    return SATISFACTION_KEYS.get(digit, "invalid")


def reported_us(us: int) -> int:
    """``us`` rounded to the millisecond (half to even), as outcomes report seconds."""
    return round(us, -3)


def _secs(us: int) -> float:
    return us / _US


def judge(call: Call, pbx_id: str) -> CallOutcome:
    """The outcome of a finished call (``call.ended_us`` set by the tracker).

    ``extra`` carries JSON-ready side facts the contract has no key for: ``hold_severe``
    (S2: a hold over ``hold_severe_seconds``), ``queue``, ``operator_ids`` (every operator
    who took the caller, in order), ``anomalies`` (count) and ``final_state``; and
    ``satisfaction`` (:func:`satisfaction_verdict`) once the caller heard that question;
    ``queue_callback`` (S8) for a caller who pressed 1 in the queue to be called back in
    their place (``requested_at``, ``queue``, ``queued_at``: the place; such a call is not
    abandoned); ``return_call`` (S8) for a callback handed to a queue: its queue join, the
    operator's answer and the wait between (``operator_answered_at - queued_at``; to the end of the
    call when no operator answered).
    """
    config = call.config
    end_us = call.ended_us if call.ended_us is not None else call.last_us
    offered_us = call.offered_us if call.offered_us is not None else call.first_us
    wait_us = call.wait_started_us
    answered_us = call.answered_us

    ring_seconds: float | None = None
    rings: int | None = None
    within: bool | None = None
    if answered_us is not None and wait_us is not None:
        # Judge the ring time as reported (to the millisecond), so a reader can never see
        # ring_seconds 15.0 next to rings 3.
        ring_us = reported_us(max(answered_us - wait_us, 0))
        ring_seconds = _secs(ring_us)
        rings, within = ring_verdict(ring_us, config)

    # Abandoned: offered to operators, never answered, and the caller went away.
    gone_candidates = [t for t in (call.abandon_us, call.caller_hangup_us) if t is not None]
    gone_us = min(gone_candidates) if gone_candidates else None
    callback = call.direction == "callback"
    # A customer who does not answer a callback has not abandoned a queue (S5 retries it).
    # A caller who pressed 1 for a callback in their place did not give up (S8): their wait
    # goes on until an operator answers the return call (the request's stored call says so).
    requested = call.queue_callback_us is not None and answered_us is None
    abandoned = (
        not callback
        and not requested
        and answered_us is None
        and wait_us is not None
        and gone_us is not None
    )
    short_abandon = False
    if abandoned and wait_us is not None and gone_us is not None:
        short_abandon = gone_us - wait_us < round(config.short_abandon_seconds * _US)

    holds = []
    reminder_us = round(config.hold_reminder_seconds * _US)
    severe_us = round(config.hold_severe_seconds * _US)
    over = severe = False
    longest: int | None = None
    for hold in call.holds:
        hold_end = hold.end_us if hold.end_us is not None else end_us
        length = max(hold_end - hold.start_us, 0)
        longest = length if longest is None else max(longest, length)
        over = over or length > reminder_us
        severe = severe or length > severe_us
        holds.append(
            HoldInterval(
                started_at=to_datetime(hold.start_us),
                ended_at=to_datetime(hold_end),
                seconds=_secs(length),
                reminders_played=hold.reminders,
            )
        )

    talk_seconds: float | None = None
    over_max = False
    if answered_us is not None:
        talk_end = call.talk_end_us if call.talk_end_us is not None else end_us
        talk_us = max(talk_end - answered_us, 0)
        talk_seconds = _secs(talk_us)
        over_max = talk_us > round(config.call_max_seconds * _US)

    reasons = list(call.incomplete_reasons)
    if not call.caller_new_seen:
        reasons.insert(0, "the caller's channel was created before tracking began")
    if call.caller_hangup_us is None:
        reasons.append("the caller's hang-up was not seen")
    if answered_us is not None and wait_us is None:
        reasons.append("answered without a wait start: ring time unknown")

    return CallOutcome(
        call_id=call.call_id,
        pbx_id=pbx_id,
        linkedid=call.linkedid,
        direction="callback" if callback else "inbound",
        caller_number=call.caller_number,
        operator_id=call.operator_id,
        offered_at=to_datetime(offered_us),
        wait_started_at=to_datetime(wait_us) if wait_us is not None else None,
        answered_at=to_datetime(answered_us) if answered_us is not None else None,
        ended_at=to_datetime(end_us),
        ring_seconds=ring_seconds,
        rings=rings,
        answered_within_standard=within,
        abandoned=abandoned,
        short_abandon=short_abandon,
        holds=tuple(holds),
        max_hold_seconds=_secs(longest) if longest is not None else None,
        hold_over_limit=over,
        silence=(
            "none"
            if callback
            else silence_verdict(answered_us, call.first_talk_us, call.silence_fired_us)
        ),
        prompts_played=tuple(
            PromptPlayed(p.prompt, to_datetime(p.at_us), p.played, p.finished, p.to)
            for p in call.prompts
        ),
        talk_seconds=talk_seconds,
        duration_seconds=_secs(max(end_us - offered_us, 0)),
        over_max_duration=over_max,
        hung_up_by=call.hung_up_by,
        # S9: the caller hangs up first; handing the call on (a transfer) is not hanging up.
        # A return call (S8) is served by an operator like an inbound call: the same rule.
        operator_hung_up_first=(
            (not callback or call.return_answered_us is not None)
            and answered_us is not None
            and call.hung_up_by == "operator"
            and not call.transferred
        ),
        complete=not reasons,
        incomplete_reason="; ".join(reasons) if reasons else None,
        extra={
            "queue": call.queue,
            "operator_ids": list(call.operator_ids),
            "anomalies": len(call.anomalies),
            "final_state": call.state.value,
            "hold_severe": severe,
            **_satisfaction_extra(call),
            **_return_call_extra(call, end_us),
            **_queue_callback_extra(call, wait_us),
        },
    )


def _return_call_extra(call: Call, end_us: int) -> dict[str, object]:
    """S8: a return call's queue part — when it joined the admin's queue, when an operator
    answered (None: the customer left before), and the wait between (to the end if none)."""
    queued = call.return_queued_us
    if queued is None:
        return {}
    answered = call.return_answered_us
    waited = (answered if answered is not None else end_us) - queued
    return {
        "return_call": {
            "queued_at": to_datetime(queued).isoformat(),
            "operator_answered_at": None if answered is None else to_datetime(answered).isoformat(),
            "wait_seconds": _secs(max(waited, 0)),
        }
    }


def _queue_callback_extra(call: Call, wait_us: int | None) -> dict[str, object]:
    """S8: the caller asked, in the queue, to be called back in their place: when they
    asked, the queue they left, and their place (when they started waiting in it)."""
    asked = call.queue_callback_us
    if asked is None or call.answered_us is not None:
        return {}
    place = call.queue_join_us if call.queue_join_us is not None else wait_us
    return {
        "queue_callback": {
            "requested_at": to_datetime(asked).isoformat(),
            "queue": call.queue_callback_queue,
            "queued_at": None if place is None else to_datetime(place).isoformat(),
        }
    }


def _satisfaction_extra(call: Call) -> dict[str, str]:
    verdict = satisfaction_verdict(((p.prompt, p.played) for p in call.prompts), call.survey_digit)
    return {} if verdict is None else {"satisfaction": verdict}


def timeline_of(
    events: Iterable[PbxEvent], anomalies: Iterable[Anomaly]
) -> tuple[TimelineEvent, ...]:
    """A call's events (and anomalies) in event-time order, for the store."""
    timeline = [
        TimelineEvent(e.at, e.kind, getattr(e, "channel", None), e.details()) for e in events
    ]
    timeline.extend(
        TimelineEvent(to_datetime(a.at_us), "anomaly", a.channel, {"message": a.message})
        for a in anomalies
    )
    timeline.sort(key=lambda t: t.at)  # stable: anomalies follow the event they concern
    return tuple(timeline)
