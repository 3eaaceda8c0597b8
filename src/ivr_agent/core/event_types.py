"""Frozen, typed PBX events: what the tracker consumes, whatever fed it.

Field names follow the Asterisk 22 AMI event documentation: a channel snapshot is
``Channel``, ``ChannelState``, ``ChannelStateDesc``, ``CallerIDNum``, ``CallerIDName``,
``ConnectedLineNum``, ``Uniqueid``, ``Linkedid`` …; events about two channels carry the
second one with the ``Dest`` prefix (``DestChannel``, ``DestUniqueid`` …). :mod:`.events`
parses them from raw AMI field dicts; the IVR layer may also build a :class:`PromptEvent`
itself.

Times are kept as integer microseconds since the epoch (``at_us``): differences are exact,
so a ring time of exactly 15 s is 15 s, not 14.999999 s, and replays are bit-identical.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

PromptPhase = Literal["started", "finished"]
PromptAudience = Literal["caller", "both", "customer"]


def to_datetime(at_us: int) -> datetime:
    """UTC datetime of an event time in epoch microseconds (exact, no float rounding)."""
    return _EPOCH + timedelta(microseconds=at_us)


def to_us(moment: datetime) -> int:
    """Epoch microseconds of an aware datetime (the inverse of :func:`to_datetime`)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


# --------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------

_DETAIL_FIELDS: dict[type[Any], tuple[str, ...]] = {}


@dataclass(frozen=True, slots=True, kw_only=True)
class PbxEvent:
    """Base of every event the tracker consumes: when it happened and which call it is in."""

    kind: ClassVar[str] = "PbxEvent"
    #: Epoch microseconds from the AMI ``Timestamp`` header.
    at_us: int
    #: Uniqueid of the oldest channel of the call: the key calls are grouped by.
    linkedid: str

    @property
    def at(self) -> datetime:
        """The event time as an aware UTC datetime."""
        return to_datetime(self.at_us)

    def dedupe_key(self) -> tuple[Any, ...]:
        """Identity of this event: the same key twice is the same PBX event received twice."""
        return (self.kind, self.at_us, self.linkedid)

    def details(self) -> dict[str, Any]:
        """Event-specific fields (not time, call or channel) for the call's timeline."""
        names = _DETAIL_FIELDS.get(type(self))
        if names is None:
            skip = {"at_us", "linkedid", "channel", "uniqueid"}
            names = tuple(f.name for f in fields(self) if f.name not in skip)
            _DETAIL_FIELDS[type(self)] = names
        return {n: v for n in names if (v := getattr(self, n)) is not None}


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEvent(PbxEvent):
    """An event about one channel (the unprefixed channel snapshot)."""

    channel: str
    uniqueid: str
    state: str | None = None
    caller_num: str | None = None
    caller_name: str | None = None

    def dedupe_key(self) -> tuple[Any, ...]:
        """Same PBX event ⇔ same event name, channel and microsecond."""
        return (self.kind, self.at_us, self.uniqueid)


@dataclass(frozen=True, slots=True, kw_only=True)
class Newchannel(ChannelEvent):
    """A channel was created. The call's first channel has ``uniqueid == linkedid``."""

    kind: ClassVar[str] = "Newchannel"
    context: str | None = None
    exten: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Newstate(ChannelEvent):
    """A channel changed state (``state`` is ``ChannelStateDesc``: Ring, Ringing, Up …)."""

    kind: ClassVar[str] = "Newstate"
    connected_num: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NewCallerid(ChannelEvent):
    """A channel's caller id changed."""

    kind: ClassVar[str] = "NewCallerid"


@dataclass(frozen=True, slots=True, kw_only=True)
class Hold(ChannelEvent):
    """``channel`` put its peer on hold (raised on the channel that sent the re-INVITE)."""

    kind: ClassVar[str] = "Hold"
    music_class: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Unhold(ChannelEvent):
    """``channel`` took its peer off hold."""

    kind: ClassVar[str] = "Unhold"


@dataclass(frozen=True, slots=True, kw_only=True)
class TalkingStart(ChannelEvent):
    """``ChannelTalkingStart``: TALK_DETECT heard speech on ``channel``."""

    kind: ClassVar[str] = "ChannelTalkingStart"


@dataclass(frozen=True, slots=True, kw_only=True)
class TalkingStop(ChannelEvent):
    """``ChannelTalkingStop``: speech ended (reported ~2.5 s late); it lasted ``duration_ms``."""

    kind: ClassVar[str] = "ChannelTalkingStop"
    duration_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Hangup(ChannelEvent):
    """A channel hung up; ``cause`` is the Q.850 cause code."""

    kind: ClassVar[str] = "Hangup"
    cause: int | None = None
    cause_txt: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HangupRequest(ChannelEvent):
    """``HangupRequest``: the channel's own party asked to end it (a SIP BYE: the person on
    that phone hung up)."""

    kind: ClassVar[str] = "HangupRequest"
    cause: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SoftHangupRequest(HangupRequest):
    """``SoftHangupRequest``: the PBX asked to end the channel (an application, ARI, the
    dialplan, or the other side of its bridge having hung up)."""

    kind: ClassVar[str] = "SoftHangupRequest"


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeEnter(ChannelEvent):
    """``channel`` entered bridge ``bridge_id``."""

    kind: ClassVar[str] = "BridgeEnter"
    bridge_id: str
    bridge_num_channels: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeLeave(ChannelEvent):
    """``channel`` left bridge ``bridge_id``."""

    kind: ClassVar[str] = "BridgeLeave"
    bridge_id: str
    bridge_num_channels: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueCallerJoin(ChannelEvent):
    """The caller ``channel`` joined ``queue`` and waits for an operator."""

    kind: ClassVar[str] = "QueueCallerJoin"
    queue: str | None = None
    position: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueCallerLeave(ChannelEvent):
    """The caller left ``queue`` (connected, timed out, or hung up)."""

    kind: ClassVar[str] = "QueueCallerLeave"
    queue: str | None = None
    position: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueCallerAbandon(ChannelEvent):
    """The caller hung up while waiting in ``queue``."""

    kind: ClassVar[str] = "QueueCallerAbandon"
    queue: str | None = None
    position: int | None = None
    original_position: int | None = None
    hold_time: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentEvent(ChannelEvent):
    """Base of app_queue member events: caller unprefixed, member channel ``Dest``-prefixed."""

    queue: str | None = None
    interface: str | None = None
    member_name: str | None = None
    dest_channel: str | None = None
    dest_uniqueid: str | None = None

    def dedupe_key(self) -> tuple[Any, ...]:
        """ringall rings several members in the same microsecond: the member is part of it."""
        return (self.kind, self.at_us, self.uniqueid, self.dest_uniqueid, self.interface)


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentCalled(AgentEvent):
    """A queue member's leg starts ringing for the caller."""

    kind: ClassVar[str] = "AgentCalled"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentRingNoAnswer(AgentEvent):
    """A queue member did not answer within the queue's ring timeout."""

    kind: ClassVar[str] = "AgentRingNoAnswer"
    ring_time_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentConnect(AgentEvent):
    """A queue member answered and is being bridged to the caller."""

    kind: ClassVar[str] = "AgentConnect"
    ring_time_ms: int | None = None
    hold_time: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentComplete(AgentEvent):
    """The caller's conversation with a queue member ended (``reason``: caller|agent|transfer)."""

    kind: ClassVar[str] = "AgentComplete"
    hold_time: int | None = None
    talk_time: int | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DialEvent(PbxEvent):
    """Base of Dial events: the caller side may be absent (an originated leg has none)."""

    channel: str | None = None
    uniqueid: str | None = None
    caller_num: str | None = None
    dest_channel: str
    dest_uniqueid: str
    dest_caller_num: str | None = None

    def dedupe_key(self) -> tuple[Any, ...]:
        """One dialling channel may ring several destinations at once."""
        return (self.kind, self.at_us, self.uniqueid, self.dest_uniqueid)


@dataclass(frozen=True, slots=True, kw_only=True)
class DialBegin(DialEvent):
    """``channel`` (may be None) starts ringing ``dest_channel``."""

    kind: ClassVar[str] = "DialBegin"
    dial_string: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DialEnd(DialEvent):
    """Dialling ``dest_channel`` ended with ``dial_status`` (ANSWER, NOANSWER, BUSY, CANCEL …)."""

    kind: ClassVar[str] = "DialEnd"
    dial_status: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptEvent(PbxEvent):
    """A scripted prompt the IVR layer played (or skipped) into the call.

    Arrives as AMI ``UserEvent: IvrAgentPrompt`` (headers ``Prompt``, ``Phase``
    started|finished, ``Played`` yes|no, ``Linkedid``, optional ``To`` caller|both|customer
    (who heard it; default caller), ``Channel``/``Uniqueid``), or
    is built by the IVR layer directly and fed to the tracker. ``played=False`` with phase
    ``finished`` means the prompt was due but could not be played.
    """

    kind: ClassVar[str] = "UserEvent"
    prompt: str
    phase: PromptPhase
    played: bool = True
    to: PromptAudience = "caller"
    channel: str | None = None
    uniqueid: str | None = None

    def dedupe_key(self) -> tuple[Any, ...]:
        """The same prompt phase on the same call at the same microsecond."""
        return (self.kind, self.at_us, self.linkedid, self.prompt, self.phase)


@dataclass(frozen=True, slots=True, kw_only=True)
class SurveyAnswer(PbxEvent):
    """The key the caller pressed after the satisfaction question (``None``: none in time).

    Arrives as AMI ``UserEvent: IvrAgentSurvey`` (header ``Digit``) with the caller's channel
    snapshot, emitted by the dialplan after the agent's (or the fallback's) question.
    """

    kind: ClassVar[str] = "IvrAgentSurvey"
    digit: str | None = None
    channel: str | None = None
    uniqueid: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueCallbackRequest(PbxEvent):
    """The caller pressed 1 at the in-queue callback offer and left the queue with a promise
    of a return call in their place (S8, issue 18).

    Arrives as AMI ``UserEvent: IvrAgentQueueCallback`` (header ``Queue``: the queue left)
    with the caller's channel snapshot, raised by the dialplan hook
    ``ivr-agent-queue-callback`` on the caller's channel; never from the AMI action.
    """

    kind: ClassVar[str] = "IvrAgentQueueCallback"
    queue: str | None = None
    channel: str | None = None
    uniqueid: str | None = None
