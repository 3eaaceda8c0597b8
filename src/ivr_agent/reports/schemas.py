"""The report routes' response models."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from ivr_agent.platform.apidoc import Reply


class StoredReport(Reply):
    """One stored report file."""

    report_id: str = Field(description="Opaque id, e.g. day-2026-11-23.xlsx")
    period: Literal["day", "week", "month"]
    label: str = Field(description="2026-11-23, 2026-W48 or 2026-11 (local time)")
    format: Literal["xlsx", "csv", "pdf"]
    bytes: int
    created_at: datetime
    url: str


class ReportList(Reply):
    """``GET /api/reports``: latest period first."""

    reports: list[StoredReport]
