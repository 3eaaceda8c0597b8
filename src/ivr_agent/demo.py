"""``ivr-agent demo``: the main job on one machine — sandbox PBX, agent, traffic, web.

It brings the Asterisk sandbox up (provisioning it the first time), starts the agent
against it with the embedded PostgreSQL, creates an ``ops`` token, and drives a continuous
realistic mix of simulated calls (late answers, holds, silent callers, abandons) until
Ctrl-C / SIGTERM, then stops everything it started. It prints the dashboard's sign-in link
(``/login#token=…``: the token stays in the browser, never in a server log).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from aiohttp import web

from ivr_agent.cli import Subparsers
from ivr_agent.logging import configure_logging, get_logger
from ivr_agent.settings import Settings, load_settings

log = get_logger(__name__)

#: One batch of traffic: a busy hotline hour compressed (kinds and weights, load mode).
TRAFFIC_MIX = "answered=60,abandoned=15,hold=15,silent=10"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def _traffic(settings: Settings, credentials: Path, batch: int, rate: float) -> None:
    """Place batches of simulated calls until cancelled."""
    from ivr_agent.sim import runner, scenario

    config = runner.RunnerConfig.from_env_file(credentials)
    round_no = 0
    while True:
        round_no += 1
        plan = scenario.load_mode(calls=batch, rate=rate, mix=TRAFFIC_MIX, seed=round_no)
        results = await runner.run(plan, config, lambda _line: None)
        done = sum(1 for r in results if r.get("completed"))
        _say(f"traffic: batch {round_no} finished, {done}/{len(results)} calls as scripted")


async def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from ivr_agent.app import build_app
    from ivr_agent.sim import sandbox
    from ivr_agent.store.db import open_database
    from ivr_agent.store.migrate import upgrade_to_head
    from ivr_agent.store.tokens import create_token

    box = sandbox.Sandbox.from_settings(settings)
    await asyncio.to_thread(sandbox.up, box, _say)
    env = sandbox.load_credentials(box).env()
    # The sandbox's AMI, validated like any setting (its secret stays masked in logs).
    settings = load_settings(ami_url=env["IVR_AGENT_AMI_URL"])
    configure_logging(
        log_format=settings.log_format, level=settings.log_level, secrets=settings.secrets()
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        db = await stack.enter_async_context(open_database(settings))
        await upgrade_to_head(db)
        token = await create_token(db, "ops", "ivr-agent demo")
        runner = web.AppRunner(build_app(settings, database=db), access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        listen = settings.http_listen
        await web.TCPSite(runner, listen.host, listen.port).start()
        traffic = asyncio.create_task(
            _traffic(settings, box.credentials_file, args.batch, args.rate)
        )
        _say(
            "\n".join(
                [
                    "",
                    "ivr-agent demo is running against the sandbox PBX.",
                    # The token rides in the fragment: the browser keeps it, the server
                    # never logs it; the login page posts it and sets a session cookie.
                    f"  dashboard:  http://{listen}/login#token={token}",
                    f"  calls API:  http://{listen}/api/calls",
                    f"  health:     http://{listen}/readyz",
                    f"  ops token:  {token}",
                    f"  try:        curl -H 'Authorization: Bearer {token}' http://{listen}/api/calls",
                    "Ctrl-C stops the traffic, the agent and the sandbox.",
                    "",
                ]
            )
        )
        await stop.wait()
        _say("stopping: traffic, agent, database")
        traffic.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await traffic
    if not args.keep_sandbox:
        await asyncio.to_thread(sandbox.down, box, _say)
    return 0


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from ivr_agent.sim import chroot, sandbox

    try:
        return asyncio.run(_demo(settings, args))
    except (sandbox.SandboxError, chroot.ChrootError) as exc:
        print(f"ivr-agent demo: {exc}", file=sys.stderr)
        return 1


def register(subparsers: Subparsers) -> None:
    """Add ``demo``."""
    parser = subparsers.add_parser(
        "demo",
        help="the main job: sandbox PBX + agent + continuous simulated traffic (needs root)",
    )
    parser.add_argument("--batch", type=int, default=20, help="calls per traffic batch")
    parser.add_argument("--rate", type=float, default=0.3, help="new calls per second")
    parser.add_argument(
        "--keep-sandbox", action="store_true", help="leave the sandbox running on exit"
    )
    parser.set_defaults(handler=_run)
