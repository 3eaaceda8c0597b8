"""The ``ivr-agent`` command line.

Each feature registers its own subcommands with a ``register(subparsers)`` function; a
subcommand sets ``handler`` (``(args, settings) -> exit code``) with ``set_defaults``.
Settings are read once, here, after the arguments parsed: ``--help`` works with a broken
environment, and a bad setting stops every command with exit code 2 and a message naming
the variable.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TypeAlias

from ivr_agent import __version__
from ivr_agent.platform.logging import configure_logging
from ivr_agent.settings import Settings, SettingsError, load_settings

Handler = Callable[[argparse.Namespace, Settings], int]
# A string alias: argparse's action class is not subscriptable at run time on 3.11.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _registrars() -> list[Callable[[Subparsers], None]]:
    # Imported here, not at module top, so `ivr-agent --help` does not pay for every
    # feature's heavy imports (SQLAlchemy, aiohttp) before parsing.
    from ivr_agent.cli import campaigns as campaigns_cli
    from ivr_agent.cli import data as store_cli
    from ivr_agent.cli import demo, systemd_unit
    from ivr_agent.cli import doctor as doctor_cli
    from ivr_agent.cli import prompts as prompts_cli
    from ivr_agent.cli import replay as core_cli
    from ivr_agent.cli import report as report_cli
    from ivr_agent.cli import rollups as rollups_cli
    from ivr_agent.cli import run as run_cli
    from ivr_agent.cli import sim as sim_cli
    from ivr_agent.cli import tokens as tokens_cli

    # One line per feature: its module's register(subparsers) adds its subcommands.
    return [
        run_cli.register,
        tokens_cli.register,
        campaigns_cli.register,
        demo.register,
        store_cli.register,
        report_cli.register,
        rollups_cli.register,
        sim_cli.register,
        core_cli.register,
        prompts_cli.register,
        doctor_cli.register,
        systemd_unit.register,
    ]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="ivr-agent",
        description="Measure and enforce call-centre service standards beside Asterisk.",
        epilog="Configuration comes from IVR_AGENT_* environment variables (see README).",
    )
    parser.add_argument("--version", action="version", version=f"ivr-agent {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in _registrars():
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ivr-agent`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"ivr-agent: {exc}", file=sys.stderr)
        return 2
    configure_logging(
        log_format=settings.log_format, level=settings.log_level, secrets=settings.secrets()
    )
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except KeyboardInterrupt:
        return 130
