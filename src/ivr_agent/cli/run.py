"""``ivr-agent run``: the agent itself."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from ivr_agent.cli import Subparsers
from ivr_agent.settings import Settings


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from ivr_agent.app import Options, serve
    from ivr_agent.callbacks import CalendarError
    from ivr_agent.db.errors import StoreError
    from ivr_agent.notify import DirectoryError

    try:
        asyncio.run(serve(settings, options=Options(capture=args.capture)))
    except (StoreError, CalendarError, DirectoryError) as exc:
        # The database could not be opened or migrated at start (e.g. no
        # IVR_AGENT_DATABASE_URL and no embedded PostgreSQL installed), or the holiday
        # calendar or the departments file is wrong: the reason and its fix.
        print(f"ivr-agent run: {exc}", file=sys.stderr)
        return 1
    return 0


def _ami_filters(_args: argparse.Namespace, _settings: Settings) -> int:
    from ivr_agent.core.events import SUBSCRIBED_EVENTS
    from ivr_agent.pbx.ami import eventfilter_lines

    print("; in manager.conf, under the agent's AMI user: only the events it consumes")
    print("\n".join(eventfilter_lines(SUBSCRIBED_EVENTS)))
    return 0


def _ari_user(args: argparse.Namespace, settings: Settings) -> int:
    from ivr_agent.pbx.ari_user import LONG_SECRET, AriUserError, ari_user_section

    endpoint = settings.ari_url
    if endpoint is None:
        print(
            "ivr-agent ari-user: set IVR_AGENT_ARI_URL (http://user:secret@host:8088)",
            file=sys.stderr,
        )
        return 2
    secret = endpoint.password.get_secret_value()
    try:
        section = ari_user_section(endpoint.username, secret, rounds=args.rounds)
    except (AriUserError, ValueError) as exc:
        print(f"ivr-agent ari-user: {exc}", file=sys.stderr)
        return 1
    print(
        "; save in ari.conf (or a file it includes), then run: asterisk -rx 'module reload "
        "res_ari.so'. The PBX hashes the secret on every ARI request: SHA-512 crypt's "
        f"{args.rounds} rounds (see the README, 'What the PBX needs')."
    )
    if len(secret) < LONG_SECRET:
        print(
            f"; the secret in IVR_AGENT_ARI_URL is short ({len(secret)} characters): use a "
            "random one of 32 (e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
        )
    print(section, end="")
    return 0


def _dialplan(_args: argparse.Namespace, settings: Settings) -> int:
    from ivr_agent import share

    print(
        f"; save as {share.DIALPLAN_HOOKS} beside extensions.conf (e.g. /etc/asterisk/), "
        f'put #include "{share.DIALPLAN_HOOKS}" in extensions.conf, '
        "then run: asterisk -rx 'dialplan reload'"
    )
    print(share.dialplan_hooks(settings.ari_app), end="")
    return 0


def register(subparsers: Subparsers) -> None:
    """Add ``run``, ``ami-filters``, ``ari-user`` and ``dialplan``."""
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

    filters = subparsers.add_parser(
        "ami-filters",
        help="print the manager.conf eventfilter lines for the agent's AMI user",
    )
    filters.set_defaults(handler=_ami_filters)

    ari_user = subparsers.add_parser(
        "ari-user",
        help="print the ari.conf section of the agent's ARI user (password hashed)",
    )
    ari_user.add_argument(
        "--rounds",
        type=int,
        default=1000,
        help="SHA-512 crypt rounds (default 1000, the minimum: the PBX pays them on every "
        "ARI request; a long random secret needs no more)",
    )
    ari_user.set_defaults(handler=_ari_user)

    dialplan = subparsers.add_parser(
        "dialplan",
        help="print the dialplan hook contexts to #include from extensions.conf",
    )
    dialplan.set_defaults(handler=_dialplan)
