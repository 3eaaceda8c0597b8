"""The stored reports under ``DATA_DIR/reports/`` and the producer that fills it.

A report file is named ``<kind>-<label>.<format>`` (``day-2026-11-23.xlsx``,
``week-2026-W48.pdf``, ``month-2026-11.csv``); that name is also its id in
``GET /api/reports/{id}``. An id from a URL is never joined to a path: it must match
:data:`REPORT_ID` and be one of the names the directory listing returned, and the file
served is that listing's entry.

Producing is idempotent: a report whose file exists is not made again, so a restart, a
second run of the same hour or a catch-up after downtime each write what is missing only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ivr_agent.db.database import Database
from ivr_agent.platform.logging import get_logger
from ivr_agent.reports.content import gather
from ivr_agent.reports.periods import Period, PeriodKind, closed_since
from ivr_agent.reports.render import RenderError, ReportFormat, write
from ivr_agent.settings import Settings

log = get_logger(__name__)

#: What a report id (and file name) looks like.
REPORT_ID = re.compile(
    r"(?P<kind>day|week|month)-"
    r"(?P<label>\d{4}-\d{2}-\d{2}|\d{4}-W\d{2}|\d{4}-\d{2})\.(?P<format>xlsx|csv|pdf)"
)


@dataclass(frozen=True)
class StoredReport:
    """One report file: its id, period kind and label, format, size and time written."""

    report_id: str
    kind: str
    label: str
    format: str
    bytes: int
    created_at: float
    path: Path


def report_name(period: Period, fmt: ReportFormat) -> str:
    """The file name (and id) of ``period``'s report in ``fmt``."""
    return f"{period.kind.value}-{period.label}.{fmt}"


class ReportArchive:
    """The reports directory: what is stored, and writing what is missing."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def stored(self) -> list[StoredReport]:
        """Every stored report, latest period first (then by kind and format)."""
        if not self.directory.is_dir():
            return []
        found = []
        for entry in self.directory.iterdir():
            match = REPORT_ID.fullmatch(entry.name)
            if match is None or not entry.is_file() or entry.is_symlink():
                continue  # partial files, strays
            stat = entry.stat()
            found.append(
                StoredReport(
                    report_id=entry.name,
                    kind=match["kind"],
                    label=match["label"],
                    format=match["format"],
                    bytes=stat.st_size,
                    created_at=stat.st_mtime,
                    path=entry,
                )
            )
        order = {"day": 0, "week": 1, "month": 2}
        found.sort(key=lambda r: (r.label[:7], r.label, -order[r.kind], r.format), reverse=True)
        return found

    def find(self, report_id: str) -> StoredReport | None:
        """The stored report with this id, or ``None`` (also for any id of the wrong form)."""
        if REPORT_ID.fullmatch(report_id) is None:
            return None
        return next((r for r in self.stored() if r.report_id == report_id), None)

    async def produce(
        self,
        database: Database,
        settings: Settings,
        periods: Sequence[Period],
        formats: Sequence[ReportFormat],
        *,
        now: datetime,
    ) -> list[str]:
        """Write the missing reports of ``periods`` in ``formats``; returns their ids.

        A format that fails (no Chromium for a PDF) is logged and skipped; the others are
        still written, and the failed one is tried again on the next round.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        written = []
        failed: set[ReportFormat] = set()
        for period in periods:
            missing = [
                f
                for f in formats
                if f not in failed and not (self.directory / report_name(period, f)).exists()
            ]
            if not missing:
                continue
            report = await gather(database, settings, period, now=now)
            for fmt in missing:
                name = report_name(period, fmt)
                try:
                    await write(report, fmt, self.directory / name)
                except (RenderError, OSError) as exc:
                    # One warning a round, not one per period: the cause is the same.
                    log.warning("report not written", report=name, error=str(exc))
                    failed.add(fmt)
                    continue
                written.append(name)
                log.info("report written", report=name)
        return written


def due_periods(now: datetime, settings: Settings) -> list[Period]:
    """The closed periods whose reports the agent keeps, oldest first: every day, week and
    month that ended within ``reports_catch_up_days`` of ``now`` (local time)."""
    zone = settings.zone
    horizon = now.astimezone(zone).date() - timedelta(days=settings.reports_catch_up_days)
    periods: list[Period] = []
    for kind in PeriodKind:
        periods.extend(closed_since(kind, now, zone, horizon))
    return periods
