"""``ivr-agent rollups rebuild``: refill the summary's roll-up tables from ``calls``.

The roll-ups (migration 0014) are kept exact by triggers as outcomes and call records are
stored; they count some figures with settings (``IVR_AGENT_HOLD_SEVERE_SECONDS``,
``IVR_AGENT_CALL_TARGET_SECONDS``, ``IVR_AGENT_WRAP_UP_MINUTES``) and cut time at a grain
that fits ``IVR_AGENT_TIMEZONE``. After changing one of those, rebuild them: until then the
summary counts from ``calls`` (the same figures, slower). Calls and records are stored
again once the rebuild has committed (they wait meanwhile).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import timedelta

from ivr_agent.cli import Subparsers
from ivr_agent.settings import Settings


def _rebuild(_args: argparse.Namespace, settings: Settings) -> int:
    from ivr_agent.core.buckets import zone_grain_seconds
    from ivr_agent.db.database import open_database
    from ivr_agent.db.errors import StoreError
    from ivr_agent.metrics import rebuild_rollups

    grain = zone_grain_seconds(settings.timezone)

    async def run() -> int:
        async with open_database(settings) as db:
            return await rebuild_rollups(
                db,
                grain_seconds=grain,
                zone=settings.timezone,
                hold_severe_seconds=settings.hold_severe_seconds,
                call_target_seconds=settings.call_target_seconds,
                wrap_up=timedelta(minutes=settings.wrap_up_minutes),
                callback_service_due_minutes=settings.callback_service_due_minutes,
            )

    started = time.monotonic()
    try:
        rows = asyncio.run(run())
    except StoreError as exc:
        print(f"ivr-agent rollups rebuild: {exc}", file=sys.stderr)
        return 1
    print(
        f"roll-ups rebuilt: {rows} rows (grain {grain} s for {settings.timezone}) "
        f"in {time.monotonic() - started:.1f} s"
    )
    return 0


def register(subparsers: Subparsers) -> None:
    """Add ``rollups rebuild``."""
    parser = subparsers.add_parser(
        "rollups",
        help="the summary's roll-up tables",
        description="The roll-up tables the summary, history and reports read.",
    )
    actions = parser.add_subparsers(dest="rollups_command", metavar="COMMAND", required=True)
    rebuild = actions.add_parser(
        "rebuild",
        help="refill the roll-ups from the stored calls with the current settings",
        description="Empty and refill the roll-up tables from calls, with the grain of "
        "IVR_AGENT_TIMEZONE and the current hold, call-length and wrap-up settings.",
    )
    rebuild.set_defaults(handler=_rebuild)
