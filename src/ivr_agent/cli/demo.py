"""``ivr-agent demo``: the main job on one machine — sandbox PBX, agent, traffic, web.

It brings the Asterisk sandbox up (provisioning it the first time), starts the agent
against it (AMI **and** ARI, prompts rendered into the sandbox's sound directory) with the
embedded PostgreSQL, creates an ``ops`` token, and drives a continuous realistic mix of
simulated calls (late answers, holds, silent callers, abandons) and callbacks until
Ctrl-C / SIGTERM, then stops everything it started. It prints the dashboard's sign-in link
(``/login#token=…``: the token stays in the browser, never in a server log).

Callbacks in the demo: every abandoned call that is not a short abandon gets its automatic
return call from the agent (S8: greeting, then the hotline queue); the simulated customer of
that number waits on the phones side and answers — an operator phone answers them from the
queue — or lets it ring. Each batch also requests one
``service_completed`` callback through the store, as an operator's system would, for a
customer who takes the full survey. The demo widens the calling windows to the whole day,
every day, with a 1-minute retry interval, so callbacks are dialled whenever it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ivr_agent.cli import Subparsers
from ivr_agent.platform.logging import configure_logging, get_logger
from ivr_agent.settings import ENV_PREFIX, Settings, load_settings

if TYPE_CHECKING:
    from ivr_agent.db.database import Database
    from ivr_agent.sim.scenario import CallbackCustomer, Scenario

log = get_logger(__name__)

#: One batch of traffic: a busy hotline hour compressed (kinds and weights, load mode).
TRAFFIC_MIX = "answered=60,abandoned=15,hold=15,silent=10"

#: Callback settings of the demo: dial whenever the demo runs (whole day, every day, public
#: holidays too) and retry after the smallest interval the settings allow, so a watcher sees
#: retries too.
DEMO_CALLBACK_SETTINGS: dict[str, Any] = {
    "callback_windows": "00:00-12:00,12:00-00:00",
    "callback_working_days": "mon-sun",
    "holidays": "",
    "callback_retry_minutes": 1,
    "callback_ring_seconds": 15,
    "callback_auto_for_abandoned": True,
    "callback_dialer_enabled": True,
}

#: Seconds a callback customer waits for the agent's call once their trigger happened.
CUSTOMER_WAIT_SECONDS = 120.0


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def demo_settings(env: Mapping[str, str]) -> Settings:
    """The agent's settings against the sandbox: its whole ``agent.env`` plus demo callbacks.

    Every ``IVR_AGENT_*`` line the sandbox wrote that names a setting is used (AMI, ARI and
    its app, the callback dial string, the prompts directory); the rest of the configuration
    comes from the environment as usual. Validated like any setting; secrets stay masked.
    """
    fields = Settings.model_fields
    values: dict[str, Any] = {}
    for key, value in env.items():
        name = key.removeprefix(ENV_PREFIX).lower()
        if key.startswith(ENV_PREFIX) and name in fields:
            values[name] = value
    values.update(DEMO_CALLBACK_SETTINGS)
    return load_settings(**values)


def batch_plan(round_no: int, batch: int, rate: float, short_abandon: float) -> Scenario:
    """One batch: load-mode calls, plus a waiting customer for each abandoned caller.

    Callers get numbers unique to the batch (``138`` + batch + call), so a retried callback
    from an earlier batch never reaches this batch's customers.
    """
    from ivr_agent.sim import scenario
    from ivr_agent.sim.waiting_customers import waiting_customers

    plan = scenario.load_mode(calls=batch, rate=rate, mix=TRAFFIC_MIX, seed=round_no)
    calls = tuple(
        replace(call, caller=f"138{round_no % 10_000:04d}{n + 1:04d}")
        for n, call in enumerate(plan.calls)
    )
    customers = waiting_customers(
        calls,
        short_abandon_seconds=short_abandon,
        wait=lambda call: (call.abandon_after or 0.0) + CUSTOMER_WAIT_SECONDS,
    )
    return replace(
        plan,
        description=f"{plan.description}, {len(customers)} callback customer(s)",
        calls=calls,
        callbacks=customers,
    )


def service_customer(round_no: int) -> CallbackCustomer:
    """The customer of the batch's ``service_completed`` callback: takes the full survey."""
    from ivr_agent.sim import scenario
    from ivr_agent.sim.waiting_customers import SERVICE_SURVEY_DIGITS

    return scenario.CallbackCustomer(
        id=f"service-callback-{round_no}",
        number=f"137{round_no % 10_000:04d}0001",
        behaviour="answer",
        answer_after=3.0,
        digits=SERVICE_SURVEY_DIGITS,
        wait=CUSTOMER_WAIT_SECONDS,
    )


async def _request_service_callback(db: Database, settings: Settings, number: str) -> None:
    """Ask for a ``service_completed`` callback, as an operator's system would after a visit."""
    from ivr_agent.callbacks import callback_config
    from ivr_agent.callbacks.jobs import CallbackRequest, create_callback

    # The customers' websocket must be up before the dialer (polling every few s) dials.
    await asyncio.sleep(2.0)
    now = datetime.now(UTC)
    await create_callback(
        db,
        CallbackRequest(number, "张先生", "service_completed", now, pbx_id=settings.pbx_id),
        callback_config(settings),
        now,
    )


async def _traffic(
    settings: Settings, db: Database, credentials: Path, batch: int, rate: float
) -> None:
    """Place batches of simulated calls and answer the agent's callbacks until cancelled."""
    from ivr_agent.sim import runner

    config = runner.RunnerConfig.from_env_file(credentials)
    round_no = 0
    while True:
        round_no += 1
        plan = batch_plan(round_no, batch, rate, settings.short_abandon_seconds)
        service = service_customer(round_no)
        plan = replace(plan, callbacks=(service, *plan.callbacks))
        request = asyncio.create_task(_request_service_callback(db, settings, service.number))
        try:
            results = await runner.run(plan, config, lambda _line: None)
        except runner.SimulatorError as exc:
            # Another simulator run holds the phones: wait for it rather than end the demo.
            _say(f"traffic: batch {round_no} not run ({exc}); retrying in 10 s")
            await asyncio.sleep(10)
            continue
        finally:
            request.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await request
        calls = [r for r in results if r.get("kind") != "callback"]
        callbacks = [r for r in results if r.get("kind") == "callback"]
        done = sum(1 for r in calls if r.get("completed"))
        reached = sum(1 for r in callbacks if r.get("channel"))
        _say(
            f"traffic: batch {round_no} finished, {done}/{len(calls)} calls as scripted, "
            f"{reached}/{len(callbacks)} callback customers called by the agent"
        )


async def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from ivr_agent.app import build_app
    from ivr_agent.db.database import open_database
    from ivr_agent.db.migrate import upgrade_to_head
    from ivr_agent.db.tokens import create_token
    from ivr_agent.sim import sandbox

    box = sandbox.Sandbox.from_settings(settings)
    await asyncio.to_thread(sandbox.up, box, _say)
    settings = demo_settings(sandbox.load_credentials(box).env())
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
            _traffic(settings, db, box.credentials_file, args.batch, args.rate)
        )
        windows = ",".join(str(w) for w in settings.callback_windows)
        _say(
            "\n".join(
                [
                    "",
                    "ivr-agent demo is running against the sandbox PBX (AMI + ARI).",
                    # The token rides in the fragment: the browser keeps it, the server
                    # never logs it; the login page posts it and sets a session cookie.
                    f"  dashboard:  http://{listen}/login#token={token}",
                    f"  calls API:  http://{listen}/api/calls",
                    f"  callbacks:  http://{listen}/api/callbacks",
                    f"  health:     http://{listen}/readyz",
                    f"  ops token:  {token}",
                    f"  try:        curl -H 'Authorization: Bearer {token}' http://{listen}/api/calls",
                    "Traffic: batches of calls (late answers, holds, silent callers, abandons);",
                    "abandoned callers and one service customer per batch are called back.",
                    f"Note: the demo widens the calling windows ({windows}, every day) and",
                    f"retries callbacks after {settings.callback_retry_minutes} min.",
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
