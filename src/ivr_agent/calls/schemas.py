"""The calls API's models: the finished-call object of DESIGN.md's contract (the same
object ``ivr-agent calls export`` prints) and its page."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from ivr_agent.core.callbacks import CallbackKind
from ivr_agent.core.outcome import Direction, Silence
from ivr_agent.platform.apidoc import Reply

#: The most calls one page of ``GET /api/calls`` holds.
MAX_PAGE = 1000


class Hold(Reply):
    """One hold of a call."""

    started_at: datetime
    ended_at: datetime | None
    seconds: float | None
    reminders_played: int


class PromptHeard(Reply):
    """A scripted prompt the call heard (or was due to hear: ``played`` says which)."""

    prompt: str
    at: datetime
    played: bool
    finished: bool | None
    to: Literal["caller", "both", "customer"]


class CallbackLink(Reply):
    """The callback attempt that placed a call: ``callback_attempts.channel_id`` is the call's
    ``linkedid`` (a specialist call-back's customer leg: ``ivr-agent-cbc-<attempt_id>``)."""

    callback_id: str
    attempt_id: str
    kind: CallbackKind
    original_call_id: str | None = Field(
        description="The call this one follows up (the callback's source_call_id): the "
        "abandoned call of a return call, the call whose caller pressed 1 in the queue, the "
        "call handed to a specialist; null when requested without one."
    )


class FollowUpCall(Reply):
    """A call placed for this call by one of its callbacks (a return call, a specialist
    call-back), oldest first."""

    call_id: str
    kind: CallbackKind
    callback_id: str


class ReturnCallFacts(Reply):
    """A return call's queue part (S8): ``wait_seconds = operator_answered_at − queued_at``
    (to the end of the call when no operator answered)."""

    queued_at: datetime
    operator_answered_at: datetime | None
    wait_seconds: float


class Call(Reply):
    """One finished call. Times are ISO 8601 with zone; seconds are floats."""

    call_id: str
    pbx_id: str
    linkedid: str
    direction: Direction
    caller_number: str | None
    operator_id: str | None
    offered_at: datetime
    wait_started_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime
    ring_seconds: float | None
    rings: int | None
    answered_within_standard: bool | None
    abandoned: bool
    short_abandon: bool
    holds: list[Hold]
    max_hold_seconds: float | None
    hold_over_limit: bool
    silence: Silence
    prompts_played: list[PromptHeard]
    talk_seconds: float | None
    duration_seconds: float | None
    over_max_duration: bool
    hung_up_by: Literal["caller", "operator", "system"] | None = Field(
        description="who ended the call first (S9); null when the PBX did not say"
    )
    operator_hung_up_first: bool = Field(
        description="the operator hung up before the caller, not by a transfer (S9 breach)"
    )
    recording_id: str | None
    complete: bool = Field(description="false when events were missed")
    incomplete_reason: str | None
    callback: CallbackLink | None = Field(
        None,
        description="a call one of our callbacks placed (absent otherwise): its callback and "
        "attempt, the kind (survey, return_call or specialist: S8) and the original call",
    )
    follow_up_calls: list[FollowUpCall] = Field(
        default_factory=list,
        description="the calls our callbacks placed for this one (its return call, its "
        "specialist call-back; absent when none), each linking back with callback",
    )
    return_call: ReturnCallFacts | None = Field(
        None,
        description="a return call (S8, single-call reads only): when it joined the queue, "
        "when an operator answered (null: the customer left first), and the wait between",
    )


class CallPage(Reply):
    """``GET /api/calls``: one page, oldest first; ``next_after`` is ``null`` on the last."""

    calls: list[Call]
    next_after: str | None = Field(description="The cursor for the next page (``after``).")


class CallsQuery(BaseModel):
    """``GET /api/calls`` query parameters."""

    since: datetime | None = Field(
        default=None, description="Calls ending at or after (ISO 8601; no zone: local)."
    )
    limit: int = Field(default=100, ge=1, le=MAX_PAGE)
    after: str | None = Field(default=None, description="``next_after`` of the previous page.")
    format: Literal["json", "csv", "xlsx"] | None = Field(
        default=None,
        description="csv (UTF-8 with BOM) or xlsx: every matching call as a streamed "
        "download (limit and after ignored); Accept: text/csv asks for csv too.",
    )
