"""``ivr-agent tokens create --role ops|qa|admin``: issue an API token."""

from __future__ import annotations

import argparse
import asyncio
import sys

from ivr_agent.cli import Subparsers
from ivr_agent.settings import Settings


def _create(args: argparse.Namespace, settings: Settings) -> int:
    from ivr_agent.db.database import open_database
    from ivr_agent.db.errors import StoreError
    from ivr_agent.db.migrate import upgrade_to_head
    from ivr_agent.db.tokens import create_token

    async def run() -> str:
        async with open_database(settings) as db:
            if settings.auto_migrate:
                await upgrade_to_head(db)
            return await create_token(db, args.role, args.label)

    try:
        token = asyncio.run(run())
    except StoreError as exc:
        print(f"ivr-agent tokens create: {exc}", file=sys.stderr)
        return 1
    # The token alone on stdout, so scripts can capture it; it is never shown again.
    print(token)
    return 0


def register(subparsers: Subparsers) -> None:
    """Add ``tokens create``."""
    tokens = subparsers.add_parser("tokens", help="API tokens for ops, QA and admin users")
    commands = tokens.add_subparsers(dest="tokens_command", metavar="COMMAND", required=True)
    create = commands.add_parser(
        "create",
        help="print a new bearer token (stored hashed; shown only this once)",
    )
    create.add_argument("--role", required=True, choices=("ops", "qa", "admin"))
    create.add_argument("--label", help="who or what the token is for")
    create.set_defaults(handler=_create)
