"""The call record API's models: a record as written (validated the same from the JSON API
and the wrap-up form) and as stored."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from ivr_agent.core.phone import check_customer_number
from ivr_agent.core.records import MAX_SHORT, MAX_TEXT, RecordStatus, RecordType
from ivr_agent.platform.apidoc import Reply
from ivr_agent.records.store import RecordEntry


def _blank_is_none(value: object) -> object:
    # A form sends "" for a field left empty; the API may send null: both mean "not given".
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _limited(limit: int) -> AfterValidator:
    def check(value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if len(value) > limit:
            raise ValueError(f"longer than {limit} characters")
        return value

    return AfterValidator(check)


def _required(value: str | None) -> str:
    if not value:
        raise ValueError("is required (not blank)")
    return value


def _contact(value: str | None) -> str | None:
    return None if value is None else check_customer_number(value.strip())


StrictText = Annotated[str, Field(strict=True)]
Text = Annotated[StrictText, _limited(MAX_TEXT)]
Short = Annotated[StrictText | None, BeforeValidator(_blank_is_none), _limited(MAX_SHORT)]


class RecordBody(BaseModel):
    """``POST /api/calls/{call_id}/record``: the call's record. A correction may name the
    ``record_id`` it replaces in ``supersedes`` (then it must be the latest: 409 otherwise);
    without it the write goes on top of the latest version."""

    model_config = ConfigDict(extra="forbid")

    type: RecordType = Field(
        description="consultation 咨询 | complaint 投诉 | suggestion 建议 | business 业务办理"
    )
    summary: Annotated[Text, AfterValidator(_required)] = Field(
        json_schema_extra={"maxLength": MAX_TEXT, "minLength": 1}
    )
    result: Text = Field(default="", json_schema_extra={"maxLength": MAX_TEXT})
    status: RecordStatus = Field(
        default="open", description="open 待处理 | in_progress 处理中 | done 已完成"
    )
    follow_up_owner: Short = Field(
        default=None, description="The operator id following up (default: the call's operator)."
    )
    expected_completion: Annotated[AwareDatetime | None, BeforeValidator(_blank_is_none)] = None
    contact_number: Annotated[
        StrictText | None, BeforeValidator(_blank_is_none), AfterValidator(_contact)
    ] = Field(
        default=None,
        description="The customer's number, 5-20 digits (default: the caller's number).",
    )
    contact_name: Short = None
    supersedes: Annotated[str | None, BeforeValidator(_blank_is_none)] = Field(
        default=None, description="The record_id a correction replaces (the call's latest)."
    )
    specialist_id: Annotated[StrictText | None, BeforeValidator(_blank_is_none)] = Field(
        default=None,
        pattern=r"^[0-9]{1,6}$",
        description="Hand the problem to this specialist (operator id, 1-6 digits; S8): "
        "their phone rings, then the contact's, due within IVR_AGENT_SPECIALIST_DUE_SECONDS "
        "(a specialist call-back, as POST /api/callbacks kind specialist). Once per call and "
        "specialist while their call-back is open.",
    )

    def entry(self) -> RecordEntry:
        """The store's form of this body."""
        return RecordEntry(**self.model_dump())


class CallRecord(Reply):
    """One version of a call's record."""

    record_id: str
    call_id: str
    version: int
    supersedes: str | None
    type: RecordType
    summary: str
    result: str
    follow_up_owner: str | None
    status: RecordStatus
    expected_completion: datetime | None
    contact_number: str | None
    contact_name: str | None
    entered_by: str
    entered_role: str
    created_at: datetime
    superseded: bool


class WrapUpState(Reply):
    """S8: when the record was due and whether it is late (``late_wrap_up``)."""

    ended_at: datetime
    due_at: datetime = Field(description="ended_at + IVR_AGENT_WRAP_UP_MINUTES")
    first_entered_at: datetime | None = Field(
        description="Version 1's time: what S8 judges (corrections do not move it)."
    )
    late: bool = Field(description="first_entered_at (or now, when none yet) later than due_at")


class SpecialistHandOver(Reply):
    """A specialist call-back the call was handed over with (S8); ``GET
    /api/callbacks/{callback_id}`` has the rest."""

    callback_id: str
    operator_id: str
    status: Literal["pending", "in_progress", "completed", "declined", "unreachable", "cancelled"]
    outcome: str | None
    due_at: datetime
    deadline: datetime


class CallRecordBundle(Reply):
    """``GET/POST /api/calls/{call_id}/record``: the current record, every version, the
    wrap-up state, the specialist call-backs it handed over."""

    call_id: str
    record: CallRecord | None
    history: list[CallRecord]
    wrap_up: WrapUpState
    specialist_callbacks: list[SpecialistHandOver]
