"""PBX events parsed from raw AMI field dicts at the edge: the one dispatch table.

``PARSERS`` is the one dispatch table (AMI event name → parser); ``SUBSCRIBED_EVENTS`` is
derived from it, so the AMI connection's event filter can never drift from what the tracker
consumes. ``parse_ami`` returns ``None`` for events the tracker does not consume and raises
:class:`MalformedEvent` (never a bare ``KeyError``) for a consumed event lacking a field the
tracker needs. With ``timestampevents=yes`` every event has ``Timestamp: <epoch
seconds>.<microseconds>``; that is the only clock the core knows.

The typed events themselves are in :mod:`.event_types`; they are importable from here too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

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
    PromptAudience,
    PromptEvent,
    PromptPhase,
    QueueCallbackRequest,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
    SoftHangupRequest,
    SurveyAnswer,
    TalkingStart,
    TalkingStop,
    Unhold,
    to_datetime,
    to_us,
)

__all__ = [
    "MUTE_MUSIC_CLASS",
    "MUTE_USER_EVENT",
    "PARSERS",
    "PROMPT_USER_EVENT",
    "QUEUE_CALLBACK_USER_EVENT",
    "QUEUE_MEMBER_CONTEXT",
    "SNOOP_CHANNEL_PREFIX",
    "SUBSCRIBED_EVENTS",
    "SURVEY_USER_EVENT",
    "AgentCalled",
    "AgentComplete",
    "AgentConnect",
    "AgentEvent",
    "AgentRingNoAnswer",
    "BridgeEnter",
    "BridgeLeave",
    "ChannelEvent",
    "DialBegin",
    "DialEnd",
    "DialEvent",
    "Fields",
    "Hangup",
    "HangupRequest",
    "Hold",
    "MalformedEvent",
    "NewCallerid",
    "Newchannel",
    "Newstate",
    "Parser",
    "PbxEvent",
    "PromptAudience",
    "PromptEvent",
    "PromptPhase",
    "QueueCallbackRequest",
    "QueueCallerAbandon",
    "QueueCallerJoin",
    "QueueCallerLeave",
    "SoftHangupRequest",
    "SurveyAnswer",
    "TalkingStart",
    "TalkingStop",
    "Unhold",
    "parse_ami",
    "parse_timestamp",
    "sent_from_a_channel",
    "to_datetime",
    "to_us",
]

#: ``UserEvent`` name the IVR layer uses to report prompts (AMI action ``UserEvent`` or the
#: dialplan application ``UserEvent()``).
PROMPT_USER_EVENT = "IvrAgentPrompt"

#: ``UserEvent`` name of the satisfaction answer (header ``Digit``; empty: no key pressed),
#: sent by the dialplan hook ``ivr-agent-after-queue`` on the caller's channel. Accepted only
#: when raised on a channel (:func:`sent_from_a_channel`): never from the AMI action.
SURVEY_USER_EVENT = "IvrAgentSurvey"

#: ``UserEvent`` name of an operator's mute key (header ``State``: on or off), sent by the
#: dialplan hook ``ivr-agent-mute`` on the operator's channel. S2 handles a mute like a hold,
#: so it is read as a :class:`Hold` (``music_class`` :data:`MUTE_MUSIC_CLASS`) or an
#: :class:`Unhold` of that channel; accepted only when raised on a channel.
MUTE_USER_EVENT = "IvrAgentMute"
#: ``UserEvent`` name of an in-queue callback request (header ``Queue``), sent by the dialplan
#: hook ``ivr-agent-queue-callback`` on the caller's channel when they press 1 at the offer
#: (S8); accepted only when raised on a channel: an AMI client could otherwise order return
#: calls to any number.
QUEUE_CALLBACK_USER_EVENT = "IvrAgentQueueCallback"
#: The ``music_class`` of a hold that is an operator's mute (no music: the caller hears none).
MUTE_MUSIC_CLASS = "ivr-agent-mute"


class MalformedEvent(ValueError):
    """A consumed AMI event lacks a field the tracker needs, or has a bad value in it.

    ``event`` is the AMI event name (``"?"`` when even ``Event`` is missing), ``field`` the
    offending header, ``reason`` what was wrong. The AMI edge catches this once, counts and
    logs it, and keeps the connection.
    """

    def __init__(self, event: str, field: str, reason: str) -> None:
        super().__init__(f"AMI event {event!r}: field {field!r} {reason}")
        self.event = event
        self.field = field
        self.reason = reason


def parse_timestamp(value: str) -> int:
    """``"1700000000.123456"`` → epoch microseconds; ``ValueError`` when it is not that shape."""
    sec, _, frac = value.partition(".")
    if not sec.isdigit() or (frac and not frac.isdigit()) or len(frac) > 9:
        raise ValueError(value)
    # Asterisk writes exactly six digits ("%ld.%06lu"); pad or cut defensively.
    return int(sec) * 1_000_000 + int((frac + "000000")[:6])


# --------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------

Fields = Mapping[str, Any]


def _text(value: Any) -> str | None:
    # panoramisk turns a repeated header into a list; the first value is the event's own.
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:
        return None
    text = str(value)
    return text or None


# The helpers below take a fast path for the usual case (a non-empty ``str``), and fall back
# to :func:`_text` for lists, other types and empty values: parsing is on the ingest hot path.


def _req(f: Fields, event: str, key: str) -> str:
    value = f.get(key)
    if value.__class__ is str and value:
        return value
    text = _text(value)
    if text is None:
        raise MalformedEvent(event, key, "is missing or empty")
    return text


def _opt(f: Fields, key: str) -> str | None:
    value = f.get(key)
    text = value if value.__class__ is str else _text(value)
    # Asterisk writes "<unknown>" for an unset caller id: that is no value.
    if text and text != "<unknown>":
        return text
    return None


def _int(f: Fields, key: str) -> int | None:
    # Tolerant on purpose: a bad optional number must not cost the whole event.
    value = f.get(key)
    if value.__class__ is str and value.isdigit() and value.isascii():
        return int(value)
    text = _text(value)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _at(f: Fields, event: str) -> int:
    value = f.get("Timestamp")
    # Fast path for Asterisk's own "%ld.%06lu".
    if value.__class__ is str and len(value) > 7 and value[-7] == ".":
        digits = value[:-7] + value[-6:]
        if digits.isdigit() and digits.isascii():
            return int(digits)
    text = _text(value)
    if text is None:
        raise MalformedEvent(event, "Timestamp", "is missing (set timestampevents=yes)")
    try:
        return parse_timestamp(text)
    except ValueError:
        raise MalformedEvent(event, "Timestamp", f"is not epoch seconds: {text[:40]!r}") from None


def _chan(f: Fields, event: str) -> dict[str, Any]:
    return {
        "at_us": _at(f, event),
        "linkedid": _req(f, event, "Linkedid"),
        "channel": _req(f, event, "Channel"),
        "uniqueid": _req(f, event, "Uniqueid"),
        "state": _opt(f, "ChannelStateDesc"),
        "caller_num": _opt(f, "CallerIDNum"),
        "caller_name": _opt(f, "CallerIDName"),
    }


def _newchannel(f: Fields) -> PbxEvent:
    return Newchannel(**_chan(f, "Newchannel"), context=_opt(f, "Context"), exten=_opt(f, "Exten"))


def _newstate(f: Fields) -> PbxEvent:
    return Newstate(**_chan(f, "Newstate"), connected_num=_opt(f, "ConnectedLineNum"))


def _newcallerid(f: Fields) -> PbxEvent:
    return NewCallerid(**_chan(f, "NewCallerid"))


def _hold(f: Fields) -> PbxEvent:
    return Hold(**_chan(f, "Hold"), music_class=_opt(f, "MusicClass"))


def _unhold(f: Fields) -> PbxEvent:
    return Unhold(**_chan(f, "Unhold"))


def _talk_start(f: Fields) -> PbxEvent:
    return TalkingStart(**_chan(f, "ChannelTalkingStart"))


def _talk_stop(f: Fields) -> PbxEvent:
    return TalkingStop(**_chan(f, "ChannelTalkingStop"), duration_ms=_int(f, "Duration"))


def _hangup(f: Fields) -> PbxEvent:
    return Hangup(**_chan(f, "Hangup"), cause=_int(f, "Cause"), cause_txt=_opt(f, "Cause-txt"))


def _hangup_request(f: Fields) -> PbxEvent:
    return HangupRequest(**_chan(f, "HangupRequest"), cause=_int(f, "Cause"))


def _soft_hangup_request(f: Fields) -> PbxEvent:
    return SoftHangupRequest(**_chan(f, "SoftHangupRequest"), cause=_int(f, "Cause"))


def _bridge_enter(f: Fields) -> PbxEvent:
    return BridgeEnter(
        **_chan(f, "BridgeEnter"),
        bridge_id=_req(f, "BridgeEnter", "BridgeUniqueid"),
        bridge_num_channels=_int(f, "BridgeNumChannels"),
    )


def _bridge_leave(f: Fields) -> PbxEvent:
    return BridgeLeave(
        **_chan(f, "BridgeLeave"),
        bridge_id=_req(f, "BridgeLeave", "BridgeUniqueid"),
        bridge_num_channels=_int(f, "BridgeNumChannels"),
    )


def _queue_join(f: Fields) -> PbxEvent:
    return QueueCallerJoin(
        **_chan(f, "QueueCallerJoin"), queue=_opt(f, "Queue"), position=_int(f, "Position")
    )


def _queue_leave(f: Fields) -> PbxEvent:
    return QueueCallerLeave(
        **_chan(f, "QueueCallerLeave"), queue=_opt(f, "Queue"), position=_int(f, "Position")
    )


def _queue_abandon(f: Fields) -> PbxEvent:
    return QueueCallerAbandon(
        **_chan(f, "QueueCallerAbandon"),
        queue=_opt(f, "Queue"),
        position=_int(f, "Position"),
        original_position=_int(f, "OriginalPosition"),
        hold_time=_int(f, "HoldTime"),
    )


def _agent(f: Fields, event: str) -> dict[str, Any]:
    values = _chan(f, event)
    values.update(
        queue=_opt(f, "Queue"),
        interface=_opt(f, "Interface"),
        member_name=_opt(f, "MemberName"),
        dest_channel=_opt(f, "DestChannel"),
        dest_uniqueid=_opt(f, "DestUniqueid"),
    )
    return values


def _agent_called(f: Fields) -> PbxEvent:
    return AgentCalled(**_agent(f, "AgentCalled"))


def _agent_ring_no_answer(f: Fields) -> PbxEvent:
    return AgentRingNoAnswer(**_agent(f, "AgentRingNoAnswer"), ring_time_ms=_int(f, "RingTime"))


def _agent_connect(f: Fields) -> PbxEvent:
    return AgentConnect(
        **_agent(f, "AgentConnect"), ring_time_ms=_int(f, "RingTime"), hold_time=_int(f, "HoldTime")
    )


def _agent_complete(f: Fields) -> PbxEvent | None:
    if _opt(f, "Linkedid") is None:
        # Seen in the sandbox: when the caller hung up first, Asterisk 22 may send
        # AgentComplete without the caller's channel snapshot (sometimes with the operator's
        # Dest* snapshot, sometimes with none). The caller's Hangup already told the tracker
        # everything this event could; without the caller's side it is not judged.
        return None
    return AgentComplete(
        **_agent(f, "AgentComplete"),
        hold_time=_int(f, "HoldTime"),
        talk_time=_int(f, "TalkTime"),
        reason=_opt(f, "Reason"),
    )


def _dial(f: Fields, event: str) -> dict[str, Any]:
    # The calling side is optional in Asterisk (an originated leg has no caller): group by
    # the caller's Linkedid when present, else by the destination's.
    linkedid = _opt(f, "Linkedid") or _req(f, event, "DestLinkedid")
    return {
        "at_us": _at(f, event),
        "linkedid": linkedid,
        "channel": _opt(f, "Channel"),
        "uniqueid": _opt(f, "Uniqueid"),
        "caller_num": _opt(f, "CallerIDNum"),
        "dest_channel": _req(f, event, "DestChannel"),
        "dest_uniqueid": _req(f, event, "DestUniqueid"),
        "dest_caller_num": _opt(f, "DestCallerIDNum"),
    }


def _dial_begin(f: Fields) -> PbxEvent:
    return DialBegin(**_dial(f, "DialBegin"), dial_string=_opt(f, "DialString"))


def _dial_end(f: Fields) -> PbxEvent:
    return DialEnd(**_dial(f, "DialEnd"), dial_status=_opt(f, "DialStatus"))


_AUDIENCES: dict[str, PromptAudience] = {"caller": "caller", "both": "both", "customer": "customer"}
_TRUE = frozenset({"yes", "true", "1", "on"})
_FALSE = frozenset({"no", "false", "0", "off"})


def sent_from_a_channel(f: Fields) -> bool:
    """Whether a ``UserEvent`` was raised on a channel (the dialplan's ``UserEvent()``), not
    sent with the AMI ``UserEvent`` action.

    Asterisk writes a channel's ``UserEvent`` as the channel snapshot (``Channel`` …
    ``Uniqueid``, ``Linkedid``) followed by ``UserEvent: <name>`` and the application's
    headers. The AMI action writes ``UserEvent: <name>`` first and then every header the
    client sent, in its order: whatever an AMI client adds — a ``Channel``, a ``Uniqueid``,
    a ``Linkedid`` copied from the real call — comes after ``UserEvent``. And a header the
    dialplan's arguments repeat after the snapshot reaches us joined to the snapshot's own
    value by a newline (:mod:`ivr_agent.pbx.ami`), so the snapshot's ``Uniqueid`` and
    ``Linkedid`` must be single values. Both hold in every capture and in the live stream,
    which keeps the headers in the order the PBX wrote them.
    """
    uniqueid, linkedid = f.get("Uniqueid"), f.get("Linkedid")
    if not isinstance(uniqueid, str) or not isinstance(linkedid, str):
        return False
    if not uniqueid or "\n" in uniqueid or "\n" in linkedid:
        return False
    for key in f:
        if key == "Uniqueid":
            return True
        if key == "UserEvent":
            return False
    return False


def _from_the_dialplan(f: Fields, event: str, what: str) -> None:
    """Refuse a report only the dialplan hook may raise on a channel (``what`` it reports)
    when it came from the AMI action instead: any holder of the ``user`` write class can
    send the same UserEvent, and that is a forgery."""
    if not sent_from_a_channel(f):
        raise MalformedEvent(
            event,
            "UserEvent",
            "was not raised on a channel by the dialplan hook (an AMI UserEvent action?): "
            f"ignored, it cannot report {what}",
        )


def _survey_answer(f: Fields) -> PbxEvent:
    event = f"UserEvent/{SURVEY_USER_EVENT}"
    # Only the dialplan hook, on the caller's channel, reports the answer.
    _from_the_dialplan(f, event, "a satisfaction answer")
    digit = _opt(f, "Digit")
    if digit is not None and (len(digit) != 1 or digit not in "0123456789*#"):
        raise MalformedEvent(event, "Digit", f"must be one keypad key or empty, not {digit[:20]!r}")
    return SurveyAnswer(
        at_us=_at(f, event),
        linkedid=_req(f, event, "Linkedid"),
        digit=digit,
        channel=_opt(f, "Channel"),
        uniqueid=_opt(f, "Uniqueid"),
    )


def _mute(f: Fields) -> PbxEvent:
    event = f"UserEvent/{MUTE_USER_EVENT}"
    # Only the dialplan hook, on the operator's channel, reports a mute: an AMI client could
    # otherwise start "holds" (and the prompts they bring) on anyone's call.
    _from_the_dialplan(f, event, "a mute")
    state = (_opt(f, "State") or "").lower()
    if state == "on":
        return Hold(**_chan(f, event), music_class=MUTE_MUSIC_CLASS)
    if state == "off":
        return Unhold(**_chan(f, event))
    raise MalformedEvent(event, "State", f"must be on or off, not {state[:20]!r}")


def _queue_callback(f: Fields) -> PbxEvent:
    event = f"UserEvent/{QUEUE_CALLBACK_USER_EVENT}"
    _from_the_dialplan(f, event, "an in-queue callback request")
    queue = _opt(f, "Queue")
    return QueueCallbackRequest(
        at_us=_at(f, event),
        linkedid=_req(f, event, "Linkedid"),
        queue=queue or None,
        channel=_opt(f, "Channel"),
        uniqueid=_opt(f, "Uniqueid"),
    )


def _user_event(f: Fields) -> PbxEvent | None:
    name = _text(f.get("UserEvent"))
    if name == SURVEY_USER_EVENT:
        return _survey_answer(f)
    if name == QUEUE_CALLBACK_USER_EVENT:
        return _queue_callback(f)
    if name == MUTE_USER_EVENT:
        return _mute(f)
    if name != PROMPT_USER_EVENT:
        return None  # other applications' UserEvents are not ours to judge
    event = f"UserEvent/{PROMPT_USER_EVENT}"
    phase = _req(f, event, "Phase").lower()
    if phase not in ("started", "finished"):
        raise MalformedEvent(event, "Phase", f"must be started or finished, not {phase[:20]!r}")
    played_text = (_opt(f, "Played") or "yes").lower()
    if played_text not in _TRUE | _FALSE:
        raise MalformedEvent(event, "Played", f"must be yes or no, not {played_text[:20]!r}")
    to = _AUDIENCES.get((_opt(f, "To") or "caller").lower())
    if to is None:
        raise MalformedEvent(event, "To", "must be caller, both or customer")
    return PromptEvent(
        at_us=_at(f, event),
        linkedid=_req(f, event, "Linkedid"),
        prompt=_req(f, event, "Prompt"),
        phase="started" if phase == "started" else "finished",
        played=played_text in _TRUE,
        to=to,
        channel=_opt(f, "Channel"),
        uniqueid=_opt(f, "Uniqueid"),
    )


Parser = Callable[[Fields], "PbxEvent | None"]

#: The one dispatch table: AMI event name → parser. Everything else is derived from it.
PARSERS: Mapping[str, Parser] = {
    "Newchannel": _newchannel,
    "Newstate": _newstate,
    "NewCallerid": _newcallerid,
    "DialBegin": _dial_begin,
    "DialEnd": _dial_end,
    "QueueCallerJoin": _queue_join,
    "QueueCallerLeave": _queue_leave,
    "QueueCallerAbandon": _queue_abandon,
    "AgentCalled": _agent_called,
    "AgentRingNoAnswer": _agent_ring_no_answer,
    "AgentConnect": _agent_connect,
    "AgentComplete": _agent_complete,
    "BridgeEnter": _bridge_enter,
    "BridgeLeave": _bridge_leave,
    "Hold": _hold,
    "Unhold": _unhold,
    "ChannelTalkingStart": _talk_start,
    "ChannelTalkingStop": _talk_stop,
    "Hangup": _hangup,
    # Who hung up first (S9): the party's own request, or the PBX's.
    "HangupRequest": _hangup_request,
    "SoftHangupRequest": _soft_hangup_request,
    "UserEvent": _user_event,
}

#: The agent's own snoop channels (prompt whisper, inbound recording) are new calls to
#: Asterisk (a snoop gets its own Linkedid) but no call of the call centre: never tracked,
#: or each would be stored as a phantom call.
SNOOP_CHANNEL_PREFIX = "Snoop/"

#: The Local channels through which the agent pauses and unpauses the operator kept for an
#: in-queue callback request (hook ``ivr-agent-queue-member``): no call of the call centre.
QUEUE_MEMBER_CONTEXT = "@ivr-agent-queue-member-"

#: AMI event names the agent subscribes to (its event filter), derived from ``PARSERS``.
SUBSCRIBED_EVENTS: frozenset[str] = frozenset(PARSERS)


def parse_ami(fields: Fields) -> PbxEvent | None:
    """Typed event for a raw AMI event dict; ``None`` when the tracker does not consume it
    (an event it has no use for, or one about the agent's own ``Snoop/`` channels or its
    ``ivr-agent-queue-member`` Local channels).

    Raises :class:`MalformedEvent` naming the field when a consumed event lacks ``Timestamp``,
    ``Linkedid``, ``Uniqueid``, ``Channel`` (or ``DestChannel``/``DestUniqueid`` on Dial
    events), or when ``Event`` itself is missing. Optional fields that are missing or not
    numbers become ``None``.
    """
    name = _text(fields.get("Event"))
    if name is None:
        raise MalformedEvent("?", "Event", "is missing")
    parser = PARSERS.get(name)
    if parser is None:
        return None
    channel = _text(fields.get("Channel"))
    if channel is not None and channel.startswith(SNOOP_CHANNEL_PREFIX):
        return None
    if any(
        QUEUE_MEMBER_CONTEXT in (_text(fields.get(k)) or "") for k in ("Channel", "DestChannel")
    ):
        return None
    return parser(fields)
