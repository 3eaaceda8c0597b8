"""``ivr-agent campaigns create|list|show|pause|resume``: regular callback campaigns (S5).

``create`` reads the customer list from a CSV or XLSX file; a list with bad rows is refused
whole (exit 1), every bad row named on stderr. The running agents' schedulers create the
runs (a campaign created on one of its days is dialled that day).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivr_agent.cli import Subparsers
from ivr_agent.cli.database import in_database
from ivr_agent.settings import Settings

if TYPE_CHECKING:
    pass


def _today(settings: Settings) -> date:
    return datetime.now(UTC).astimezone(settings.zone).date()


def _days(text: str) -> tuple[int, ...]:
    from ivr_agent.core.campaigns import parse_days

    try:
        return parse_days(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--days {text!r}: {exc}") from None


def _windows(text: str) -> Any:
    from ivr_agent.core.campaigns import parse_windows

    try:
        return parse_windows(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--windows {text!r}: {exc}") from None


def _fail(command: str, message: object) -> int:
    print(f"ivr-agent campaigns {command}: {message}", file=sys.stderr)
    return 1


def _create(args: argparse.Namespace, settings: Settings) -> int:
    from ivr_agent.campaigns import CampaignExists, NewCampaign, create_campaign, read_customer_file
    from ivr_agent.core.campaigns import CustomerListError, check_campaign_name
    from ivr_agent.db.errors import StoreError

    try:
        name = check_campaign_name(args.name)
    except ValueError as exc:
        return _fail("create", f"--name: {exc}")
    try:
        customers = read_customer_file(args.customers)
    except CustomerListError as exc:
        print(f"ivr-agent campaigns create: {args.customers}: {exc.args[0]}", file=sys.stderr)
        for row in exc.rows:
            print(f"  {row}", file=sys.stderr)
        return 1
    except OSError as exc:
        return _fail("create", f"--customers: cannot read {args.customers}: {exc.strerror}")
    new = NewCampaign(name, args.days, args.windows, customers)
    today = _today(settings)
    try:
        campaign_id = in_database(settings, lambda db: create_campaign(db, new, today))
    except (StoreError, CampaignExists) as exc:
        return _fail("create", exc)
    # The id alone on stdout, so scripts can capture it.
    print(campaign_id)
    days = ",".join(str(d) for d in args.days)
    print(f"{len(customers)} customers, days {days}", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from ivr_agent.campaigns import list_campaigns
    from ivr_agent.db.errors import StoreError

    today = _today(settings)
    try:
        found = in_database(settings, lambda db: list_campaigns(db, settings.zone, today))
    except StoreError as exc:
        return _fail("list", exc)
    print("campaign_id\tname\tdays\twindows\tactive\tcustomers\truns\tnext_run")
    for c in found:
        days = ",".join(str(d) for d in c["days"])
        windows = c["calling_windows"] or "(settings)"
        active = "active" if c["active"] else "paused"
        fields = (c["campaign_id"], c["name"], days, windows, active)
        print("\t".join((*fields, str(c["customers"]), str(c["run_count"]), c["next_run"] or "-")))
    return 0


def _show(args: argparse.Namespace, settings: Settings) -> int:
    from ivr_agent.campaigns import get_campaign
    from ivr_agent.db.errors import StoreError

    today = _today(settings)
    try:
        found = in_database(
            settings, lambda db: get_campaign(db, args.campaign_id, settings.zone, today)
        )
    except StoreError as exc:
        return _fail("show", exc)
    if found is None:
        return _fail("show", f"no campaign {args.campaign_id}")
    # The same object as GET /api/campaigns/{id}: figures overall and per run, with formulas.
    print(json.dumps(found, ensure_ascii=False, indent=2))
    return 0


def _set_active(active: bool) -> Callable[[argparse.Namespace, Settings], int]:
    command = "resume" if active else "pause"

    def handler(args: argparse.Namespace, settings: Settings) -> int:
        from ivr_agent.campaigns import CampaignNotFound, set_active
        from ivr_agent.db.errors import StoreError

        now = datetime.now(UTC)
        try:
            cancelled = in_database(
                settings, lambda db: set_active(db, args.campaign_id, active, now)
            )
        except (StoreError, CampaignNotFound) as exc:
            message = exc.args[0] if isinstance(exc, LookupError) and exc.args else exc
            return _fail(command, message)
        print(f"{command}d {args.campaign_id}; {cancelled} pending callbacks cancelled")
        return 0

    return handler


def register(subparsers: Subparsers) -> None:
    """Add ``campaigns create``, ``list``, ``show``, ``pause`` and ``resume``."""
    campaigns = subparsers.add_parser(
        "campaigns", help="regular callback campaigns (S5: a customer list dialled on set days)"
    )
    commands = campaigns.add_subparsers(dest="campaigns_command", metavar="COMMAND", required=True)
    create = commands.add_parser(
        "create", help="create a campaign from a CSV/XLSX customer list; prints its id"
    )
    create.add_argument("--name", required=True, help="unique name of the campaign")
    create.add_argument(
        "--days",
        required=True,
        type=_days,
        metavar="1,15",
        help="days of the month it runs on (29-31: the last day of a shorter month)",
    )
    create.add_argument(
        "--customers",
        required=True,
        type=Path,
        metavar="FILE",
        help="CSV (UTF-8 or GB18030) or XLSX; header row with number/电话 and name/姓名",
    )
    create.add_argument(
        "--windows",
        type=_windows,
        metavar="HH:MM-HH:MM,…",
        help="its own calling windows (default: IVR_AGENT_CALLBACK_WINDOWS)",
    )
    create.set_defaults(handler=_create)
    listing = commands.add_parser("list", help="every campaign: days, windows, state, runs")
    listing.set_defaults(handler=_list)
    show = commands.add_parser(
        "show", help="one campaign as JSON, with its figures overall and per run"
    )
    show.add_argument("campaign_id", metavar="ID")
    show.set_defaults(handler=_show)
    for active, text in (
        (False, "stop new runs and cancel its pending callbacks"),
        (True, "run again"),
    ):
        command = commands.add_parser("resume" if active else "pause", help=text)
        command.add_argument("campaign_id", metavar="ID")
        command.set_defaults(handler=_set_active(active))
