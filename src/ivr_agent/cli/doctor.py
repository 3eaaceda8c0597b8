"""``ivr-agent doctor``: check the PBX and the agent's own setup before (or while) it runs."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from ivr_agent.cli import Subparsers
from ivr_agent.platform.logging import configure_logging
from ivr_agent.settings import Settings


def _doctor(args: argparse.Namespace, settings: Settings) -> int:
    from ivr_agent import share
    from ivr_agent.doctor import HooksFile, diagnose, exit_status, render

    if args.hooks is None:
        hooks = HooksFile(share.dialplan_hooks(settings.ari_app), "the shipped hooks")
    else:
        try:
            hooks = HooksFile(args.hooks.read_text(encoding="utf-8"), str(args.hooks))
        except (OSError, UnicodeDecodeError) as exc:
            print(f"ivr-agent doctor: cannot read --hooks {args.hooks}: {exc}", file=sys.stderr)
            return 2
    # The report says what went wrong; the connections' own retry warnings would only
    # repeat it between its lines.
    configure_logging(log_format=settings.log_format, level="error", secrets=settings.secrets())
    checks = asyncio.run(diagnose(settings, hooks))
    print(render(checks), end="")
    return exit_status(checks)


def register(subparsers: Subparsers) -> None:
    """Add ``doctor``."""
    parser = subparsers.add_parser(
        "doctor",
        help="check the PBX and the agent's setup: one line per check, OK/WARN/FAIL and the fix",
        description="Check, with the agent's own settings and credentials, what it needs from "
        "the PBX (AMI classes, timestampevents, the event filter, ARI, the dialplan hooks, "
        "TALK_DETECT, the prompt files as the PBX sees them, the clock) and from its "
        "database. Exit status 1 when any check fails.",
    )
    parser.add_argument(
        "--hooks",
        type=Path,
        metavar="FILE",
        help="the hook file your PBX includes, if it is not the one `ivr-agent dialplan` "
        "prints: its [contexts] must exist on the PBX",
    )
    parser.set_defaults(handler=_doctor)
