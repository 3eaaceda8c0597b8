"""The campaigns API's request and response models (the API reference is built from them).

The customer list of ``POST /api/campaigns`` is checked as a whole by the core's rules
(``core.campaigns.customer_list``), so every bad customer is named in one answer, by its
position in the list, as the CLI names the rows of a file.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ivr_agent.core.campaigns import (
    CAMPAIGN_NAME_MAX,
    MAX_CUSTOMERS,
    check_campaign_name,
    format_windows,
    parse_days,
    parse_windows,
)
from ivr_agent.platform.apidoc import Reply


def _days(value: list[int] | str) -> list[int]:
    return list(parse_days(value))


def _windows(value: str | None) -> str | None:
    return None if value is None else format_windows(parse_windows(value))


class CampaignCustomer(BaseModel):
    """One customer of the list: checked with the others (bad ones are named together)."""

    model_config = ConfigDict(extra="forbid")

    number: str | int = Field(
        description="Digits with an optional leading +, 5-20 digits; spaces and - are removed."
    )
    name: str | None = Field(default=None, description="At most 64 characters.")


class NewCampaign(BaseModel):
    """``POST /api/campaigns``: exactly these fields; anything else is a 400 naming it."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, AfterValidator(check_campaign_name)] = Field(
        description=f"Unique, at most {CAMPAIGN_NAME_MAX} characters."
    )
    days: Annotated[list[int] | str, AfterValidator(_days)] = Field(
        description='Days of the month it runs on, e.g. [1, 15] or "1,15"; 29-31 run on '
        "the last day of a shorter month."
    )
    calling_windows: Annotated[str | None, AfterValidator(_windows)] = Field(
        default=None,
        description="Its own calling windows, HH:MM-HH:MM comma list (e.g. "
        "10:30-11:30,15:00-17:30); null: IVR_AGENT_CALLBACK_WINDOWS.",
    )
    customers: list[CampaignCustomer] = Field(
        min_length=1,
        max_length=MAX_CUSTOMERS,
        description="The list; a number listed twice is one customer.",
    )


class CampaignChange(BaseModel):
    """``PATCH /api/campaigns/{campaign_id}``: pause (false) or resume (true)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    active: bool


class Figure(Reply):
    """One figure: its value (``null`` for a ratio over nothing) and how it was computed."""

    value: float | None
    formula: str


class CampaignSummary(Reply):
    """A campaign as listed."""

    campaign_id: str
    name: str
    days: list[int]
    calling_windows: str | None
    active: bool
    starts_on: date
    next_run: date | None
    customers: int
    run_count: int
    created_at: datetime


class CampaignRun(Reply):
    """One run (the campaign on one of its days) with its figures."""

    run_date: date
    created_at: datetime
    figures: dict[str, Figure]


class Campaign(CampaignSummary):
    """A campaign with the figures of all its runs and of each run (newest first)."""

    figures: dict[str, Figure]
    runs: list[CampaignRun]


class CampaignList(Reply):
    """``GET /api/campaigns``."""

    campaigns: list[CampaignSummary]


class CampaignCreated(Reply):
    """``POST /api/campaigns`` → 201."""

    campaign_id: str
    name: str
    days: list[int]
    calling_windows: str | None
    customers: int
    starts_on: date


class CampaignChanged(Reply):
    """``PATCH /api/campaigns/{campaign_id}`` → 200."""

    campaign_id: str
    active: bool
    cancelled_callbacks: int
