"""Where a call is, and which moves it may make: the call's state machine as data.

Like h11's ``_state.py``, ``(state, kind) → next state`` is a table (:data:`TRANSITIONS`).
A :class:`Kind` is the call-level meaning of one PBX event once the roles of its channels
are known (:mod:`.roles`); a pair missing from the table is an illegal move, which
:meth:`.call.Call.feed` records as an :class:`IllegalTransition` anomaly naming the state.
"""

from __future__ import annotations

import enum

from .event_types import PbxEvent


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
    QUEUE_CALLBACK = "queue_callback"  # the caller asked to be called back in their place (S8)
    ABANDON = "abandon"
    CALLER_HANGUP = "caller_hangup"
    HANGUP_REQUEST = "hangup_request"  # someone asked to end the caller's or an operator's leg
    TRANSFERRED = "transferred"  # an operator handed the caller on (a transfer, S9)
    NOTE = "note"  # timeline only

    __hash__ = object.__hash__


S, K = State, Kind
LIVE_STATES = (S.OFFERED, S.WAITING, S.CONNECTED, S.ON_HOLD, S.REQUEUED)
FINAL_STATES = (S.ENDED, S.ABANDONED)


def _build_transitions() -> dict[tuple[State, Kind], State]:
    table: dict[tuple[State, Kind], State] = {}
    for state in State:
        # Timeline notes, prompt reports, late talk reports, legs that stop ringing or hang
        # up after the caller, and queue bookkeeping are harmless in every state.
        for kind in (
            K.NOTE,
            K.PROMPT,
            K.SURVEY_ANSWER,
            K.QUEUE_CALLBACK,
            K.CALLER_TALK_START,
            K.CALLER_TALK_STOP,
            K.HANGUP_REQUEST,
            K.TRANSFERRED,
        ):
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
