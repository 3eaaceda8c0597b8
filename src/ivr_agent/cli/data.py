"""``ivr-agent migrate`` and ``ivr-agent calls export``.

Both open the configured database (starting the embedded one when no URL is set) and
stop it again on exit. Results go to stdout, logs and errors to stderr; a database that
cannot be reached or migrated exits 1 with the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import datetime
from typing import TextIO

from ivr_agent.settings import Settings


def _since(value: str) -> datetime:
    # Runs while argparse parses, so a bad value exits 2 with "argument --since: …".
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 date or time: {value!r} (e.g. 2026-11-23T09:00:00+08:00)"
        ) from None


def _migrate(_args: argparse.Namespace, settings: Settings) -> int:
    from ivr_agent.db.database import open_database
    from ivr_agent.db.errors import StoreError
    from ivr_agent.db.migrate import upgrade_to_head

    async def run() -> int:
        async with open_database(settings) as db:
            result = await upgrade_to_head(db)
            where = db.display_url
        before = result.before or "empty"
        if result.changed:
            print(f"migrated {where}: {before} -> {result.after} (head)")
        else:
            print(f"{where} is already at {result.after} (head)")
        return 0

    try:
        return asyncio.run(run())
    except StoreError as exc:
        print(f"ivr-agent migrate: {exc}", file=sys.stderr)
        return 1


async def export_calls(settings: Settings, since: datetime | None, out: TextIO) -> int:
    """Write every stored call ending at or after ``since`` to ``out``, one JSON line each.

    Lines are ``CallOutcome.to_json_line()`` with the call's links (``calls.links``: the
    callback that placed it and its original call, the calls placed for it), oldest first by
    end time; returns how many were written. Finished callback attempts are merged in by end
    time as objects with ``direction: callback`` (``store.callbacks.page_callback_calls``).
    A naive ``since`` is read in the call centre's time zone (``IVR_AGENT_TIMEZONE``).
    """
    from ivr_agent.callbacks.queries import iter_callback_calls
    from ivr_agent.calls.links import linked_pages
    from ivr_agent.calls.store import outcome_pages
    from ivr_agent.core.outcome import dumps_line
    from ivr_agent.db.database import open_database

    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=settings.zone)
    count = 0

    def write(line: str) -> None:
        nonlocal count
        out.write(line + "\n")
        count += 1
        if count % 500 == 0:
            out.flush()  # stream: a consumer sees output while the export runs

    async with open_database(settings) as db:
        callbacks = aiter(
            iter_callback_calls(
                db, settings.zone, call_max_seconds=settings.call_max_seconds, since=since
            )
        )
        pending = await anext(callbacks, None)
        async for page in linked_pages(db, outcome_pages(db, since=since)):
            for call in page:
                ended = datetime.fromisoformat(call["ended_at"])
                while pending is not None and pending[0] < ended:
                    write(dumps_line(pending[1]))
                    pending = await anext(callbacks, None)
                write(dumps_line(call))
        while pending is not None:
            write(dumps_line(pending[1]))
            pending = await anext(callbacks, None)
    out.flush()
    return count


def _export(args: argparse.Namespace, settings: Settings) -> int:
    from ivr_agent.db.errors import StoreError

    try:
        asyncio.run(export_calls(settings, args.since, sys.stdout))
    except StoreError as exc:
        print(f"ivr-agent calls export: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error. Point stdout at devnull so
        # the interpreter's final flush does not complain again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``migrate`` and ``calls export``."""
    migrate = subparsers.add_parser(
        "migrate",
        help="upgrade the database schema to the newest revision (safe to repeat)",
        description="Upgrade the database schema to head. Does nothing if it is already "
        "there; several agents may run it at once.",
    )
    migrate.set_defaults(handler=_migrate)

    calls = subparsers.add_parser("calls", help="stored call outcomes")
    calls_commands = calls.add_subparsers(dest="calls_command", metavar="COMMAND", required=True)
    export = calls_commands.add_parser(
        "export",
        help="print one JSON object per finished call, oldest first",
        description="Print one JSON line per stored call (the GET /api/calls objects), "
        "oldest first by end time.",
    )
    export.add_argument(
        "--since",
        type=_since,
        metavar="ISO",
        help="only calls that ended at or after this time (ISO 8601; without a zone: "
        "IVR_AGENT_TIMEZONE)",
    )
    export.set_defaults(handler=_export)
