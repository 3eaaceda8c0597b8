"""``ivr-agent run``: the agent itself."""

from __future__ import annotations

import argparse
import asyncio

from ivr_agent.cli import Subparsers
from ivr_agent.settings import Settings


def _run(_args: argparse.Namespace, settings: Settings) -> int:
    from ivr_agent.app import serve

    asyncio.run(serve(settings))
    return 0


def register(subparsers: Subparsers) -> None:
    """Add ``run``."""
    parser = subparsers.add_parser(
        "run", help="run the agent: listen to the PBX, act on calls, serve the web API"
    )
    parser.set_defaults(handler=_run)
