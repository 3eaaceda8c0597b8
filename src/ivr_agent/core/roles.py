"""Roles: which channel of a call is the caller, which are operator legs, and what an event
means for the call once that is known.

The same AMI event means different things on the caller's channel and on an operator's leg
(a ``Hangup`` of the caller ends the call, of a ringing leg it means nothing). The caller is
the call's first channel (``Uniqueid == Linkedid``); when that channel was originated (a
``DialBegin`` with no calling channel toward it) the call is a callback and the "caller" is
the customer. Operator legs are the channels rung for the caller: ``AgentCalled``
destinations (queue), ``DialBegin`` destinations (``Dial()``, Local-channel halves, consult
calls); the operator connected to the caller is the leg that ``AgentConnect``/``DialEnd
ANSWER``/``Newstate Up`` named, or that shares the caller's bridge (transfers).

:func:`classify` keeps the call's registry of channels, legs and bridges up to date and
returns a :class:`Meaning`: zero or more call-level :class:`~.transitions.Kind` values and,
for an answer or an operator leaving, the leg it is about. It measures nothing: what a
legal move measures is :mod:`.measures`' job.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from .event_types import (
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
    DialEvent,
    Hangup,
    HangupRequest,
    Hold,
    NewCallerid,
    Newchannel,
    Newstate,
    PbxEvent,
    PromptEvent,
    QueueCallbackRequest,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
    SoftHangupRequest,
    SurveyAnswer,
    TalkingStart,
    TalkingStop,
    Unhold,
)
from .phone import is_dialable
from .transitions import Kind

if TYPE_CHECKING:
    from .call import Call

K = Kind

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


@dataclass(slots=True)
class Leg:
    """A non-caller channel of the call that rang for an operator."""

    uniqueid: str
    channel: str | None
    operator_id: str | None
    via_queue: bool
    dialer: str | None  # uniqueid of the channel that dialled it (None: the queue)


class Meaning(NamedTuple):
    """What one event means for the call: its kinds, in order, and the operator leg an
    ``ANSWER`` or ``OPERATOR_LEFT`` among them is about (``None`` otherwise)."""

    kinds: tuple[Kind, ...]
    leg: str | None = None


# The usual answers, built once (classification runs for every event).
NOTE = Meaning((K.NOTE,))
_NOTHING = Meaning(())
_CALLER_NEW = Meaning((K.CALLER_NEW,))
_QUEUE_JOIN = Meaning((K.QUEUE_JOIN,))
_QUEUE_LEAVE = Meaning((K.QUEUE_LEAVE,))
_ABANDON = Meaning((K.ABANDON,))
_LEG_RINGING = Meaning((K.LEG_RINGING,))
_HANGUP_REQUEST = Meaning((K.HANGUP_REQUEST,))
_LEG_NO_ANSWER = Meaning((K.LEG_NO_ANSWER,))
_HOLD = Meaning((K.HOLD,))
_UNHOLD = Meaning((K.UNHOLD,))
_TALK_START = Meaning((K.CALLER_TALK_START,))
_TALK_STOP = Meaning((K.CALLER_TALK_STOP,))
_CALLER_HANGUP = Meaning((K.CALLER_HANGUP,))
_PROMPT = Meaning((K.PROMPT,))
_SURVEY_ANSWER = Meaning((K.SURVEY_ANSWER,))
_QUEUE_CALLBACK = Meaning((K.QUEUE_CALLBACK,))


def classify(call: Call, event: PbxEvent) -> Meaning:
    """Call-level meaning of ``event``; keeps the call's channel, leg and bridge registry."""
    cls = type(event)
    if cls in _CHANNEL_EVENT_TYPES:
        chan: ChannelEvent = event  # type: ignore[assignment]  # (no cast() call: hot path)
        uid = chan.uniqueid
        call.channels_up.add(uid)
        if cls is Hangup:
            call.channels_down.add(uid)
        if uid == call.linkedid:
            if call.caller_channel is None:
                call.caller_channel = chan.channel
            if (
                chan.caller_num
                and call.direction == "inbound"
                and (call.caller_number is None or cls is NewCallerid or cls is Newchannel)
            ):
                call.caller_number = chan.caller_num
    elif (cls is DialBegin or cls is DialEnd) and call.caller_number is None:
        # Tracking began after the caller's own channel events (an agent restarted mid-call):
        # the caller's side of a Dial event still carries its number.
        dial: DialEvent = event  # type: ignore[assignment]
        if dial.uniqueid == call.linkedid and dial.caller_num and call.direction == "inbound":
            call.caller_number = dial.caller_num
    classifier = _CLASSIFIERS.get(cls)
    if classifier is None:
        return NOTE
    return classifier(call, event)


def _register_leg(
    call: Call,
    uid: str | None,
    channel: str | None,
    op: str | None,
    queue: bool,
    dialer: str | None,
) -> None:
    if uid is None or uid == call.linkedid:
        return
    call.channels_up.add(uid)
    leg = call.legs.get(uid)
    if leg is None:
        call.legs[uid] = Leg(uid, channel, op, queue, dialer)
    elif op and not leg.operator_id:
        leg.operator_id = op


def _answer_leg_in_caller_bridge(call: Call) -> Meaning:
    members = call.bridges.get(call.caller_bridge or "", set())
    for uid in sorted(members):
        if uid in call.legs and uid not in call.connected_legs:
            return Meaning((K.ANSWER,), uid)
    return NOTE


# --------------------------------------------------------------------- classifiers --


def _c_newchannel(call: Call, e: Newchannel) -> Meaning:
    return _CALLER_NEW if e.uniqueid == call.linkedid else NOTE


def _c_newstate(call: Call, e: Newstate) -> Meaning:
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
        return Meaning((K.ANSWER,), e.uniqueid)
    return NOTE


def _c_queue_join(call: Call, e: QueueCallerJoin) -> Meaning:
    return _QUEUE_JOIN if e.uniqueid == call.linkedid else NOTE


def _c_queue_leave(call: Call, e: PbxEvent) -> Meaning:
    return _QUEUE_LEAVE


def _c_queue_abandon(call: Call, e: QueueCallerAbandon) -> Meaning:
    return _ABANDON if e.uniqueid == call.linkedid else NOTE


def _agent_leg(call: Call, e: AgentEvent) -> str | None:
    op = operator_id_from(e.interface) or operator_id_from(e.dest_channel)
    call.in_queue_flow = True
    _register_leg(call, e.dest_uniqueid, e.dest_channel, op, True, None)
    return e.dest_uniqueid


def _c_agent_called(call: Call, e: AgentCalled) -> Meaning:
    _agent_leg(call, e)
    return _LEG_RINGING


def _c_agent_ring_no_answer(call: Call, e: AgentRingNoAnswer) -> Meaning:
    _agent_leg(call, e)
    return _LEG_NO_ANSWER


def _c_agent_connect(call: Call, e: AgentConnect) -> Meaning:
    uid = _agent_leg(call, e)
    if uid is not None and uid in call.connected_legs:
        return NOTE  # the bridge already told us
    return Meaning((K.ANSWER,), uid)


def _c_agent_complete(call: Call, e: AgentComplete) -> Meaning:
    uid = _agent_leg(call, e)
    # S9: the queue says its member transferred the caller (a blind transfer: to another
    # operator, or a hand-over to the satisfaction question). That holds also when the
    # member's BridgeLeave came first, which the PBX sends in either order.
    transferred = (K.TRANSFERRED,) if e.reason == "transfer" else ()
    if uid is None or uid not in call.connected_legs:
        return Meaning(transferred) if transferred else NOTE
    return Meaning((*transferred, K.OPERATOR_LEFT), uid)


def _c_dial_begin(call: Call, e: DialBegin) -> Meaning:
    if e.uniqueid is None and e.dest_uniqueid == call.linkedid:
        # Nobody dials the call's first channel except an Originate: the PBX is calling a
        # customer (S5 callback). Its number is the dial string's resource ("139…@trunk").
        call.direction = "callback"
        number = (e.dial_string or "").split("@", 1)[0].rsplit("/", 1)[-1]
        if is_dialable(number):
            call.caller_number = number
        return _LEG_RINGING
    by_caller = e.uniqueid in (None, call.linkedid)
    _register_leg(
        call, e.dest_uniqueid, e.dest_channel, operator_id_from(e.dest_channel), False, e.uniqueid
    )
    if e.uniqueid is not None:
        call.channels_up.add(e.uniqueid)
    # A leg dialled by another leg (Local channel half, consult call) is not the caller
    # being offered to an operator.
    return _LEG_RINGING if by_caller else NOTE


def _c_dial_end(call: Call, e: DialEnd) -> Meaning:
    by_caller = e.uniqueid in (None, call.linkedid)
    if not by_caller:
        return NOTE
    if e.dial_status == "ANSWER":
        if call.in_queue_flow or e.dest_uniqueid in call.connected_legs:
            return NOTE
        _register_leg(
            call,
            e.dest_uniqueid,
            e.dest_channel,
            operator_id_from(e.dest_channel),
            False,
            e.uniqueid,
        )
        return Meaning((K.ANSWER,), e.dest_uniqueid)
    return _LEG_NO_ANSWER


def _c_bridge_enter(call: Call, e: BridgeEnter) -> Meaning:
    call.bridges.setdefault(e.bridge_id, set()).add(e.uniqueid)
    if e.uniqueid == call.linkedid:
        call.caller_bridge = e.bridge_id
        return _answer_leg_in_caller_bridge(call)
    if e.bridge_id == call.caller_bridge and e.uniqueid in call.legs:
        if e.uniqueid in call.connected_legs:
            return NOTE
        return Meaning((K.ANSWER,), e.uniqueid)
    return NOTE


def _c_bridge_leave(call: Call, e: BridgeLeave) -> Meaning:
    members = call.bridges.get(e.bridge_id)
    if members is not None:
        members.discard(e.uniqueid)
        if not members:
            del call.bridges[e.bridge_id]
    if e.uniqueid == call.linkedid:
        if call.caller_bridge == e.bridge_id:
            call.caller_bridge = None
        return NOTE
    if e.bridge_id == call.caller_bridge and e.uniqueid in call.connected_legs:
        return Meaning((*_holder_left(call, e.uniqueid).kinds, K.OPERATOR_LEFT), e.uniqueid)
    return NOTE


def _holder_left(call: Call, uid: str) -> Meaning:
    # S2: a hold ends at Unhold or when the holding operator's channel goes away.
    hold = call.open_hold()
    return _UNHOLD if hold is not None and hold.holder == uid else _NOTHING


def _c_hold(call: Call, e: Hold) -> Meaning:
    # Hold raised on the caller's own channel is the caller holding the operator: not S2.
    if e.uniqueid == call.linkedid:
        return NOTE
    if call.open_hold() is not None:
        return NOTE  # a second leg holding at the same time: one caller hold
    return _HOLD


def _c_unhold(call: Call, e: Unhold) -> Meaning:
    if e.uniqueid == call.linkedid or call.open_hold() is None:
        return NOTE
    return _UNHOLD


def _c_talk_start(call: Call, e: TalkingStart) -> Meaning:
    return _TALK_START if e.uniqueid == call.linkedid else NOTE


def _c_talk_stop(call: Call, e: TalkingStop) -> Meaning:
    return _TALK_STOP if e.uniqueid == call.linkedid else NOTE


def _c_hangup(call: Call, e: Hangup) -> Meaning:
    if e.uniqueid == call.linkedid:
        return _CALLER_HANGUP
    if e.uniqueid in call.connected_legs:
        return Meaning((*_holder_left(call, e.uniqueid).kinds, K.OPERATOR_LEFT), e.uniqueid)
    holder_left = _holder_left(call, e.uniqueid)
    return holder_left if holder_left.kinds else NOTE


def _c_hangup_request(call: Call, e: HangupRequest) -> Meaning:
    # S9: only the caller's channel and an operator's answered leg say who ended the call
    # (legs that rang and were cancelled, Local halves and consult calls do not).
    if e.uniqueid == call.linkedid:
        return _HANGUP_REQUEST
    if e.uniqueid in call.connected_legs:
        return Meaning((K.HANGUP_REQUEST,), e.uniqueid)
    return NOTE


def _c_prompt(call: Call, e: PbxEvent) -> Meaning:
    return _PROMPT


def _c_survey_answer(call: Call, e: PbxEvent) -> Meaning:
    return _SURVEY_ANSWER


def _c_queue_callback(call: Call, e: PbxEvent) -> Meaning:
    # Only the caller's own channel asks for a callback in their place.
    return _QUEUE_CALLBACK if getattr(e, "uniqueid", None) == call.caller_uniqueid else NOTE


def _c_note(call: Call, e: PbxEvent) -> Meaning:
    return NOTE


# Each classifier is registered for the event type it takes (Any: the table dispatches on
# the exact type, so no isinstance check is needed on the hot path).
_Classifier = Callable[["Call", Any], Meaning]

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
    HangupRequest: _c_hangup_request,
    SoftHangupRequest: _c_hangup_request,
    PromptEvent: _c_prompt,
    SurveyAnswer: _c_survey_answer,
    QueueCallbackRequest: _c_queue_callback,
}

_CHANNEL_EVENT_TYPES: frozenset[type[PbxEvent]] = frozenset(
    t for t in _CLASSIFIERS if issubclass(t, ChannelEvent)
)
