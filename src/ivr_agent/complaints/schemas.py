"""The complaint API's models: a complaint as registered, a transition as asked for, and a
complaint with its timeline as answered."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from ivr_agent.core.callbacks import check_customer_name
from ivr_agent.core.complaints import MAX_NOTE, ComplaintState, EventKind, Transition
from ivr_agent.core.ids import is_uuid
from ivr_agent.core.phone import check_customer_number
from ivr_agent.platform.apidoc import Reply

#: Longest department id (an id of the departments directory).
MAX_DEPARTMENT = 100


def _blank_is_none(value: object) -> object:
    # A form sends "" for a field left empty; the API may send null: both mean "not given".
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _text(value: str) -> str:
    value = value.strip()
    if len(value) > MAX_NOTE:
        raise ValueError(f"longer than {MAX_NOTE} characters")
    return value


def _required(value: str) -> str:
    if not value:
        raise ValueError("is required (not blank)")
    return value


def _number(value: str | None) -> str | None:
    return None if value is None else check_customer_number(value.strip())


def _name(value: str | None) -> str | None:
    return check_customer_name(value)


def _call_id(value: str | None) -> str | None:
    if value is not None and not is_uuid(value):
        raise ValueError("must be a call id (a UUID)")
    return value


def _department(value: str | None) -> str | None:
    if value is not None and len(value.strip()) > MAX_DEPARTMENT:
        raise ValueError(f"longer than {MAX_DEPARTMENT} characters")
    return None if value is None else value.strip()


Strict = Annotated[str, Field(strict=True)]
Optional = Annotated[Strict | None, BeforeValidator(_blank_is_none)]
Note = Annotated[Strict, AfterValidator(_text)]
Department = Annotated[Optional, AfterValidator(_department)]


class NewComplaintBody(BaseModel):
    """``POST /api/complaints``: a complaint to register. With ``call_id`` the call's record
    or caller gives the contact left out; with ``department_id`` it is assigned at once."""

    model_config = ConfigDict(extra="forbid")

    summary: Annotated[Note, AfterValidator(_required)] = Field(
        description="What the customer complains about."
    )
    customer_number: Annotated[Optional, AfterValidator(_number)] = Field(
        default=None, description="The number the resolved-complaint callback dials."
    )
    customer_name: Annotated[Optional, AfterValidator(_name)] = None
    call_id: Annotated[Optional, AfterValidator(_call_id)] = Field(
        default=None, description="The call the complaint was made in (one complaint per call)."
    )
    department_id: Department = Field(
        default=None, description="The handling department (an id of the departments file)."
    )
    note: Note = ""


class TransitionBody(BaseModel):
    """``POST /api/complaints/{id}/events``: a transition and its note."""

    model_config = ConfigDict(extra="forbid")

    transition: Transition = Field(
        description="assign (to department_id) | feedback (from the department) | resolve | "
        "confirm (by the customer) | reopen"
    )
    note: Note = Field(default="", description="Why, or what the department said.")
    department_id: Department = Field(
        default=None, description="Required for assign: the handling department."
    )


class TimelineEvent(Reply):
    """One step of a complaint's timeline."""

    event_id: int
    at: datetime
    actor: str = Field(description="token:<id>, chaser, notifier or callback")
    kind: EventKind
    note: str
    details: dict[str, Any]


class ComplaintSummary(Reply):
    """A complaint as listed."""

    complaint_id: str
    call_id: str | None
    record_id: str | None
    customer_number: str | None
    customer_name: str | None
    summary: str
    department_id: str | None
    state: ComplaintState
    created_by: str
    created_at: datetime
    updated_at: datetime
    silent_since: datetime = Field(
        description="When the wait for someone to act began (registration, assignment, "
        "last feedback or reopening)."
    )
    resolved_at: datetime | None
    chased_at: datetime | None
    escalated_at: datetime | None
    callback_id: str | None = Field(description="The complaint_resolved callback, if any.")
    overdue: bool = Field(
        description="Open and silent_since more than IVR_AGENT_COMPLAINT_CHASE_DAYS ago."
    )


class ComplaintDetail(ComplaintSummary):
    """A complaint with its timeline, oldest first."""

    timeline: list[TimelineEvent]


class ComplaintPage(Reply):
    """``GET /api/complaints``: latest registered first."""

    complaints: list[ComplaintSummary]
    next_offset: int | None


class ComplaintsQuery(BaseModel):
    """``GET /api/complaints`` query parameters (any other is a 400 naming it)."""

    state: ComplaintState | None = None
    department: str | None = Field(default=None, description="Handling department id.")
    from_: datetime | None = Field(
        default=None, alias="from", description="Registered at or after (ISO 8601)."
    )
    to: datetime | None = Field(default=None, description="Registered before (ISO 8601).")
    overdue: bool | None = Field(default=None, description="Open and silent too long.")
    escalated: bool | None = Field(default=None, description="Escalated at least once.")
    limit: int = Field(default=100, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=10_000_000)
