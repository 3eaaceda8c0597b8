"""``ivr-agent tokens create|list|revoke``: issue, list and revoke API tokens."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ivr_agent.cli import Subparsers
from ivr_agent.cli.database import in_database
from ivr_agent.settings import Settings

if TYPE_CHECKING:
    from ivr_agent.db.tokens import TokenInfo


#: ``--expires-in`` units: minutes, hours, days, weeks.
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def lifetime(text: str) -> timedelta:
    """``90d``, ``12h``, ``30m``, ``2w`` → a timedelta; ``argparse`` shows the error."""
    match = re.fullmatch(r"\s*([1-9][0-9]{0,5})\s*([mhdw])\s*", text.lower())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a lifetime: a number and a unit, m h d or w (e.g. 90d, 12h)"
        )
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def _create(args: argparse.Namespace, settings: Settings) -> int:
    from ivr_agent.db.errors import StoreError
    from ivr_agent.db.tokens import DEFAULT_TOKEN_DAYS, create_token

    days = None if args.no_expiry else (DEFAULT_TOKEN_DAYS if args.days is None else args.days)
    try:
        token = in_database(
            settings,
            lambda db: create_token(
                db,
                args.role,
                args.name,
                days=days,
                lifetime=args.expires_in,
                operator_id=args.operator_id,
            ),
        )
    except (StoreError, ValueError) as exc:
        print(f"ivr-agent tokens create: {exc}", file=sys.stderr)
        return 1
    # The token alone on stdout, so scripts can capture it; it is never shown again.
    print(token)
    return 0


def _when(value: datetime | None, empty: str) -> str:
    return empty if value is None else value.isoformat(timespec="seconds")


def _line(info: TokenInfo) -> str:
    return "\t".join(
        (
            info.token_id,
            # An operator token shows whose calls it sees (operator:007); the columns stay.
            info.role if info.operator_id is None else f"{info.role}:{info.operator_id}",
            info.state,
            _when(info.created_at, "-"),
            _when(info.expires_at, "never"),
            _when(info.revoked_at, "-"),
            info.label or "",
        )
    )


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from ivr_agent.db.errors import StoreError
    from ivr_agent.db.tokens import list_tokens

    try:
        infos = in_database(settings, list_tokens)
    except StoreError as exc:
        print(f"ivr-agent tokens list: {exc}", file=sys.stderr)
        return 1
    print("token_id\trole\tstate\tcreated_at\texpires_at\trevoked_at\tlabel")
    for info in infos:
        if args.all or info.state == "valid":
            print(_line(info))
    return 0


def _revoke(args: argparse.Namespace, settings: Settings) -> int:
    from ivr_agent.db.errors import StoreError
    from ivr_agent.db.tokens import revoke_token

    try:
        info = in_database(settings, lambda db: revoke_token(db, args.token))
    except (StoreError, LookupError) as exc:
        message = exc.args[0] if isinstance(exc, LookupError) and exc.args else exc
        print(f"ivr-agent tokens revoke: {message}", file=sys.stderr)
        return 1
    print(f"revoked {info.token_id} ({info.role}) at {_when(info.revoked_at, '-')}")
    return 0


def register(subparsers: Subparsers) -> None:
    """Add ``tokens create``, ``tokens list`` and ``tokens revoke``."""
    tokens = subparsers.add_parser(
        "tokens", help="API tokens for ops, QA, operator and admin users"
    )
    commands = tokens.add_subparsers(dest="tokens_command", metavar="COMMAND", required=True)
    create = commands.add_parser(
        "create",
        help="print a new bearer token (stored hashed; shown only this once)",
    )
    create.add_argument("--role", required=True, choices=("ops", "qa", "admin", "operator"))
    create.add_argument(
        "--operator-id",
        metavar="ID",
        help="the operator (工号) an operator token acts for: it sees only that one's calls",
    )
    # --name and --expires-in are the documented spellings; --label and --days, the first
    # ones, stay as aliases so that scripts written for them keep working.
    create.add_argument("--name", "--label", dest="name", help="who or what the token is for")
    expiry = create.add_mutually_exclusive_group()
    expiry.add_argument(
        "--expires-in",
        type=lifetime,
        metavar="DURATION",
        # The default and the bound are db/tokens.py's (not imported here: --help stays light).
        help="refused after this long: 90d, 12h, 30m, 2w (default 90d, at most 3650d)",
    )
    expiry.add_argument("--days", type=int, metavar="N", help="the same as --expires-in Nd")
    expiry.add_argument(
        "--no-expiry", action="store_true", help="never expires (revoke it when done)"
    )
    create.set_defaults(handler=_create)
    listing = commands.add_parser(
        "list", help="the valid tokens: id, role, state, created, expires, revoked, label"
    )
    listing.add_argument("--all", action="store_true", help="also revoked and expired tokens")
    listing.set_defaults(handler=_list)
    revoke = commands.add_parser(
        "revoke",
        help="refuse a token from now on and end its browser sessions",
    )
    revoke.add_argument(
        "token",
        metavar="ID|PREFIX|TOKEN",
        help="the token's id, a unique prefix of it (6+ characters), or the token itself",
    )
    revoke.set_defaults(handler=_revoke)
