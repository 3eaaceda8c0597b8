"""``ivr-agent report``: one period's report as an XLSX, CSV or PDF file.

``--period day|week|month`` and ``--date D`` pick the period containing the local date D
(weeks start on Monday, in ``IVR_AGENT_TIMEZONE``); without ``--date``, the last closed
period (yesterday, last week, last month). The figures are those of
``GET /api/metrics/summary`` for the same ``from``/``to``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from ivr_agent.cli import Subparsers
from ivr_agent.settings import Settings


def _date(value: str) -> date:
    # Runs while argparse parses, so a bad value exits 2 with "argument --date: …".
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 date: {value!r} (e.g. 2026-11-23)"
        ) from None


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from ivr_agent.db.database import open_database
    from ivr_agent.db.errors import StoreError
    from ivr_agent.reports import PeriodKind, RenderError, containing, gather, last_closed, write

    kind = PeriodKind(args.period)
    zone = settings.zone
    now = datetime.now(UTC)
    period = (
        last_closed(kind, now, zone) if args.date is None else containing(kind, args.date, zone)
    )
    output: Path = args.output

    async def run() -> None:
        async with open_database(settings) as db:
            report = await gather(db, settings, period, now=now)
        await write(report, args.format, output)

    try:
        asyncio.run(run())
    except (StoreError, RenderError, OSError) as exc:
        print(f"ivr-agent report: {exc}", file=sys.stderr)
        return 1
    print(
        f"{kind} {period.label} [{period.start.isoformat()}, {period.end.isoformat()}) -> {output}"
    )
    return 0


def register(subparsers: Subparsers) -> None:
    """Add ``report``."""
    parser = subparsers.add_parser(
        "report",
        help="write a day's, week's or month's report (XLSX, CSV or PDF)",
        description="Write the report of the period containing --date (default: the last "
        "closed one) in the call centre's time zone: the summary figures with their "
        "formulas, per operator, the breaches, the callbacks (and the monthly assessment).",
    )
    parser.add_argument("--period", choices=("day", "week", "month"), required=True)
    parser.add_argument("--date", type=_date, default=None, help="a local date, YYYY-MM-DD")
    parser.add_argument("--format", choices=("xlsx", "csv", "pdf"), required=True)
    parser.add_argument("--output", type=Path, required=True, help="the file to write")
    parser.set_defaults(handler=_report)
