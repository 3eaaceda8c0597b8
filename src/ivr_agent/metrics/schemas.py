"""The metrics API's models: the S1–S6 summary (each figure with its formula) and the
breaches list."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from ivr_agent.platform.apidoc import Reply

#: The most breaches one answer lists.
MAX_BREACHES = 200


#: The ``pbx_id`` query parameter, as every route with a PBX filter takes it.
PBX_FILTER = (
    "Only these PBXs' (IVR_AGENT_PBX_ID): repeated (pbx_id=a&pbx_id=b) or a comma list "
    "(pbx_id=a,b); default every PBX's."
)


class Figure(Reply):
    """One figure: its value (``null`` for a ratio over nothing) and how it was computed."""

    value: float | None
    formula: str


class FigureSettings(Reply):
    """The settings in force when the figures were computed."""

    ring_cycle_seconds: float
    max_rings: int
    service_level_seconds: float
    short_abandon_seconds: float
    exclude_short_abandons: bool
    hold_limit_seconds: float
    hold_severe_seconds: float
    call_max_seconds: float
    call_target_seconds: float
    service_level_target: float
    timezone: str
    callback_service_due_minutes: float
    wrap_up_minutes: float
    complaint_rate_target: float
    complaint_chase_days: float


class OperatorQa(Reply):
    """An operator's QA averages (latest score version of each scored call)."""

    operator_id: str | None
    qa_scored_calls: int
    qa_satisfaction_index: float
    qa_indices: dict[str, float]


class OperatorGroup(Reply):
    """``group_by=operator``: one operator's figures (``operator_id`` null = unanswered)."""

    operator_id: str | None
    figures: dict[str, Figure]
    qa: OperatorQa | None
    qa_formula: str


class PeriodGroup(Reply):
    """``group_by=hour|day|week|month``: the figures of one local hour, day, week or month."""

    start: datetime
    end: datetime
    figures: dict[str, Figure]


class DepartmentCount(Reply):
    """Complaints of one handling department (``null``: not assigned yet)."""

    department_id: str | None
    count: int


class ComplaintStatistics(Reply):
    """S7's daily complaint summary of the interval (counts, not figures)."""

    by_department: list[DepartmentCount]
    by_state: dict[str, int]
    records_by_type: dict[str, int]
    formula: str


class Summary(Reply):
    """``GET /api/metrics/summary``: the figures of ``[from, to)``, optionally per group."""

    from_: datetime = Field(alias="from")
    to: datetime
    group_by: Literal["operator", "hour", "day", "week", "month"] | None
    pbx_ids: list[str] | None = Field(description="The PBXs counted (null: every PBX).")
    settings: FigureSettings
    figures: dict[str, Figure] = Field(description="S1-S6 and, in the total only, S5 and S7.")
    complaint_statistics: ComplaintStatistics = Field(
        description="S7: the interval's complaints by department and state, and its calls' "
        "records by type."
    )
    groups: list[OperatorGroup | PeriodGroup] | None = Field(
        default=None, description="Only with group_by."
    )


class SummaryQuery(BaseModel):
    """``GET /api/metrics/summary`` query parameters."""

    from_: datetime | None = Field(
        default=None,
        alias="from",
        description="ISO 8601 (no zone: IVR_AGENT_TIMEZONE); default the start of today.",
    )
    to: datetime | None = Field(default=None, description="Default: the end of from's day.")
    group_by: Literal["operator", "hour", "day", "week", "month"] | None = Field(
        default=None, description="Weeks start on Monday; buckets in IVR_AGENT_TIMEZONE."
    )
    pbx_id: str | None = Field(default=None, description=PBX_FILTER)


class Breach(Reply):
    """A call that broke a standard."""

    call_id: str
    ended_at: datetime
    operator_id: str | None
    caller_number: str | None
    kinds: list[str]
    ring_seconds: float | None
    max_hold_seconds: float | None
    talk_seconds: float | None


class Breaches(Reply):
    """``GET /api/metrics/breaches``: latest first."""

    from_: datetime = Field(alias="from")
    to: datetime
    breaches: list[Breach]


class BreachesQuery(BaseModel):
    """``GET /api/metrics/breaches`` query parameters."""

    from_: datetime | None = Field(default=None, alias="from")
    to: datetime | None = None
    limit: int = Field(default=20, ge=1, le=MAX_BREACHES)


#: The most points one history answers with (a leap year by hour is 8,784).
MAX_HISTORY_POINTS = 10_000


class HistoryPoint(Reply):
    """One bucket of a history: its local bounds and its figures' values (``null``: a ratio
    over nothing, e.g. a bucket without calls)."""

    start: datetime
    end: datetime
    figures: dict[str, float | None]


class HistoryFigure(Reply):
    """A figure a history charts: its name on the pages and how it is computed."""

    label: str
    formula: str


class History(Reply):
    """``GET /api/metrics/history``: every bucket of ``[from, to)``, oldest first."""

    from_: datetime = Field(alias="from")
    to: datetime
    group_by: Literal["hour", "day", "week", "month"]
    operator: str | None
    pbx_ids: list[str] | None = Field(description="The PBXs counted (null: every PBX).")
    settings: FigureSettings
    figures: dict[str, HistoryFigure]
    points: list[HistoryPoint]


class HistoryQuery(BaseModel):
    """``GET /api/metrics/history`` query parameters."""

    from_: datetime | None = Field(
        default=None,
        alias="from",
        description="ISO 8601 (no zone: IVR_AGENT_TIMEZONE); default 30 days before today.",
    )
    to: datetime | None = Field(default=None, description="Default: the end of today.")
    group_by: Literal["hour", "day", "week", "month"] = Field(
        default="day", description="Weeks start on Monday; buckets in IVR_AGENT_TIMEZONE."
    )
    operator: str | None = Field(
        default=None, description="Only this operator's calls (工号); default all calls."
    )
    pbx_id: str | None = Field(default=None, description=PBX_FILTER)
