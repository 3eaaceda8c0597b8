"""The callbacks API's request and response models (the API reference is built from them).

The request body is validated through :class:`NewCallback`; its field checks are the core's
(``core.phone``, ``core.callbacks``), so the API, the store and the dialer agree on what a
dialable customer number and an acceptable name are.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from ivr_agent.callbacks.queries import MAX_PAGE
from ivr_agent.core.callbacks import (
    CUSTOMER_NAME_MAX,
    CallbackKind,
    Outcome,
    Reason,
    RequestableReason,
    Status,
    check_customer_name,
)
from ivr_agent.core.ids import PBX_ID
from ivr_agent.core.phone import CUSTOMER_NUMBER, check_customer_number
from ivr_agent.platform.apidoc import Reply


def _iso_time(value: object) -> object:
    # datetime.fromisoformat, not pydantic's parser: a date alone (midnight) stays accepted,
    # and a number (a Unix time?) is refused rather than read as seconds.
    if value is None or isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time string")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO 8601 date-time, e.g. 2026-11-23T10:00:00+08:00") from None


class NewCallback(BaseModel):
    """``POST /api/callbacks``: exactly these fields; anything else is a 400 naming it."""

    model_config = ConfigDict(strict=True, extra="forbid")

    customer_number: Annotated[str, AfterValidator(check_customer_number)] = Field(
        description="Digits with an optional leading +, 5-20 digits.",
        json_schema_extra={"pattern": f"^{CUSTOMER_NUMBER.pattern}$"},
    )
    customer_name: Annotated[str | None, AfterValidator(check_customer_name)] = Field(
        default=None,
        description=f"At most {CUSTOMER_NAME_MAX} characters, no control characters.",
    )
    reason: RequestableReason | None = Field(
        default=None, description="Required, except for kind specialist (leave it out)."
    )
    reference_time: Annotated[datetime | None, BeforeValidator(_iso_time)] = Field(
        default=None,
        description="ISO 8601 (without a zone: IVR_AGENT_TIMEZONE), within 31 days of now; "
        "may be left out only for reason manual and kind specialist (then: now).",
    )
    kind: Literal["specialist"] | None = Field(
        default=None,
        description="specialist (S8): the specialist's phone (operator_id) rings first, then "
        "the customer's; due within IVR_AGENT_SPECIALIST_DUE_SECONDS (3 min).",
    )
    operator_id: str | None = Field(
        default=None,
        description="The specialist's operator id (kind specialist only), 1-6 digits.",
        pattern=r"^[0-9]{1,6}$",
    )
    pbx_id: str | None = Field(
        default=None,
        description="The PBX it is dialled through (only that PBX's active agent dials it); "
        "left out: the serving agent's own (IVR_AGENT_PBX_ID). 1-32 letters, digits, _ or -.",
        pattern=f"^{PBX_ID.pattern}$",
    )


class CallbacksQuery(BaseModel):
    """``GET /api/callbacks`` query parameters (any other is a 400 naming it)."""

    status: Status | None = None
    follow_up: bool | None = Field(
        default=None,
        description="true: only callbacks whose customer said the problem is not solved.",
    )
    from_: datetime | None = Field(
        default=None, alias="from", description="Due at or after (ISO 8601)."
    )
    to: datetime | None = Field(default=None, description="Due before (ISO 8601).")
    pbx_id: str | None = Field(
        default=None,
        description="Only these PBXs' callbacks: repeated (pbx_id=a&pbx_id=b) or a comma list "
        "(pbx_id=a,b); default every PBX's.",
    )
    limit: int = Field(default=100, ge=1, le=MAX_PAGE)
    format: Literal["json", "csv", "xlsx"] | None = Field(
        default=None,
        description="csv (UTF-8 with BOM) or xlsx: every matching callback as a streamed "
        "download (limit and offset ignored); Accept: text/csv asks for csv too.",
    )
    offset: int = Field(default=0, ge=0, le=10_000_000)


class CallbackCreated(Reply):
    """``POST /api/callbacks`` → 201."""

    callback_id: str
    due_at: datetime
    deadline: datetime
    overdue: bool
    status: Literal["pending"]


class CallbackSpecialist(Reply):
    """A specialist call-back (S8): whom it rang first, when the customer was reached."""

    operator_id: str
    reached_at: datetime | None = Field(
        description="When the customer answered and was bridged to the specialist."
    )
    late_seconds: float | None = Field(
        description="Seconds beyond the due time (deadline) the customer was reached — or, "
        "given up unreached, was still not reached; null: in time, or not judged yet."
    )
    breach: Literal["late_specialist_callback"] | None


class CallbackQueuePlace(Reply):
    """Where an in-queue callback request (S8) keeps its caller's place."""

    name: str = Field(description="The queue the caller left by pressing 1.")
    queued_at: datetime = Field(description="Their place: when they joined that queue.")
    released_at: datetime | None = Field(
        description="When their place reached the front and the return call was released."
    )
    operator: str | None = Field(
        description="The operator (queue interface) kept for them now, paused in the queue."
    )


class CallbackRecording(Reply):
    """The recording of a callback's latest attempt that has one."""

    recording_id: str
    seconds: float | None
    sha256: str | None
    status: Literal["ok", "corrupt", "missing", "purged"]
    reason: str | None


class CallbackAttempt(Reply):
    """One dialling of a callback."""

    attempt_id: str
    attempt_no: int
    channel_id: str
    pbx_id: str
    state: Literal["dialling", "answered", "finished", "failed"]
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    outcome: Outcome | None
    detail: str | None
    scores: dict[str, int]
    problem_solved: bool | None = Field(
        description='The answer to "has the problem been solved?" (null: not asked or none).'
    )
    recording_id: str | None
    result_call_id: str | None = Field(
        description="The call measured for this attempt (calls.linkedid = channel_id): for a "
        "return call, the customer's call through the queue to an operator (S8)."
    )


class Callback(Reply):
    """A callback with its attempts, survey scores, satisfaction index and recording."""

    callback_id: str
    customer_number: str
    customer_name: str | None
    reason: Reason
    kind: CallbackKind = Field(
        description="survey (S5), return_call (S8: abandoned calls and in-queue callback "
        "requests; greeted, then handed to an operator through the admin's route), or "
        "specialist (S8: the specialist's phone first, then the customer's)."
    )
    reference_time: datetime
    due_at: datetime
    deadline: datetime
    status: Status
    status_reason: str | None
    overdue: bool
    next_attempt_at: datetime | None
    attempts_made: int
    failed_attempts: int
    reschedules: int
    outcome: Outcome | None
    scores: dict[str, int]
    satisfaction_index: float | None
    problem_solved: bool | None = Field(
        description='The last answer to "has the problem been solved?" (null: none yet).'
    )
    follow_up: bool = Field(
        description="The customer said the problem is not solved: someone must follow it up."
    )
    recording: CallbackRecording | None
    source_call_id: str | None
    campaign_id: str | None = Field(description="The campaign of a campaign callback.")
    run_date: date | None = Field(description="The campaign run (local date) it belongs to.")
    specialist: CallbackSpecialist | None = Field(
        description="A specialist call-back (kind specialist): its specialist and S8 verdict."
    )
    queue: CallbackQueuePlace | None = Field(
        description="An in-queue callback request (reason queue_callback): its queue and place."
    )
    result_call_id: str | None = Field(
        description="The call of the latest attempt that has one (see the attempts)."
    )
    created_at: datetime
    attempts: list[CallbackAttempt]
    # Last: the export's columns before it keep their places.
    pbx_id: str = Field(description="The PBX it is dialled through (by that PBX's agent).")


class CallbackPage(Reply):
    """``GET /api/callbacks``: one page; ``next_offset`` is ``null`` on the last."""

    callbacks: list[Callback]
    next_offset: int | None
