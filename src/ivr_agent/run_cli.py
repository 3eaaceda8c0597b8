"""``ivr-agent run``: the agent itself."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from ivr_agent.cli import Subparsers
from ivr_agent.settings import Settings


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from ivr_agent.app import Options, serve

    asyncio.run(serve(settings, options=Options(capture=args.capture)))
    return 0


def register(subparsers: Subparsers) -> None:
    """Add ``run``."""
    parser = subparsers.add_parser(
        "run", help="run the agent: listen to the PBX, act on calls, serve the web API"
    )
    parser.add_argument(
        "--capture",
        type=Path,
        metavar="FILE.jsonl",
        help="also append every received AMI event (raw fields + receive time) to FILE",
    )
    parser.set_defaults(handler=_run)
