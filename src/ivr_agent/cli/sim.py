"""Subcommands ``ivr-agent sandbox up|down|status`` and ``ivr-agent simulate``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from ivr_agent.settings import Settings


def register(subparsers: Any) -> None:
    """Add the ``sandbox`` and ``simulate`` subcommands to the ``ivr-agent`` parser."""
    sandbox = subparsers.add_parser(
        "sandbox",
        help="a real Asterisk 22 PBX and a phones instance on this machine (needs root)",
        description="Provision (once) a Debian sid root with Asterisk 22 under the data dir and "
        "run the PBX under test and the phones instance in it, bound to 127.0.0.1.",
    )
    sandbox.add_argument("action", choices=("up", "down", "status"))
    sandbox.add_argument("--json", action="store_true", help="print the status as JSON")
    sandbox.add_argument(
        "--all",
        action="store_true",
        dest="every_lane",
        help="down: stop every lane in the root (and whatever else runs there), not only "
        "IVR_AGENT_SANDBOX_LANE's",
    )
    sandbox.set_defaults(handler=_sandbox)

    simulate = subparsers.add_parser(
        "simulate",
        help="play callers, operators and customers from a scenario against the sandbox",
        description="Drive the sandbox phones instance through its ARI: place the scenario's "
        "calls, answer, hold and hang up as it says, and print the measured ground truth "
        "as JSON lines on stdout (progress goes to stderr).",
    )
    simulate.add_argument(
        "scenario",
        nargs="?",
        help="scenario TOML file, or the name of a shipped scenario (see --list)",
    )
    simulate.add_argument("--list", action="store_true", help="list the shipped scenarios")
    simulate.add_argument("--calls", type=int, help="load mode: place this many calls")
    simulate.add_argument("--rate", type=float, default=1.0, help="load mode: new calls per second")
    simulate.add_argument(
        "--mix",
        default="answered=70,abandoned=15,hold=15",
        help="load mode: kinds and weights, e.g. answered=70,abandoned=15,hold=10,silent=5",
    )
    simulate.add_argument("--seed", type=int, default=None, help="load mode: random seed")
    simulate.add_argument(
        "--load-desks",
        action="store_true",
        help="load mode at the PBX's ceiling: each call dials one of the sandbox's 300 load "
        "desks directly (400 800 7NNN), answered in the phones' dialplan, one ARI request "
        "per call (see benchmarks/README.md, load.py); --talk sets the answered calls' length",
    )
    simulate.add_argument(
        "--talk", type=float, default=2.0, help="--load-desks: seconds an answered call talks"
    )
    simulate.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="multiply every scenario duration by this (e.g. 0.2 for a quick run)",
    )
    simulate.add_argument(
        "--agent-callbacks",
        action="store_true",
        help="callbacks are placed by the agent: wait for them (never let the sandbox PBX "
        "place them, whatever the scenario's originate says)",
    )
    simulate.add_argument(
        "--capture",
        metavar="FILE",
        help="also record the PBX's AMI events during the run as JSON lines into FILE",
    )
    simulate.add_argument(
        "--recordings",
        metavar="DIR",
        type=Path,
        help="write what each caller heard (its phone's received audio) to DIR/<call id>.wav",
    )
    simulate.set_defaults(handler=_simulate)


def _print_status(status: dict[str, Any]) -> None:
    print(f"root:        {status['root']} (provisioned: {status['provisioned']})")
    for name, info in status["instances"].items():
        ports = info["ports"]
        where = f"ARI/HTTP 127.0.0.1:{ports['http_ari']}, SIP udp 127.0.0.1:{ports['sip_udp']}"
        if ports["ami"]:
            where = f"AMI 127.0.0.1:{ports['ami']}, " + where
        state = f"{info['version']} (pid {info['pid']})" if info["running"] else "stopped"
        print(f"{name + ':':12} {state}\n             {where}, RTP {ports['rtp']}")
    print(f"mounts:      {', '.join(status['mounts']) or 'none'}")
    print(f"credentials: {status['credentials_file']}")


def _sandbox(args: argparse.Namespace, settings: Settings) -> int:
    from ivr_agent.sim import chroot, sandbox

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        box = sandbox.Sandbox.from_settings(settings)
        if args.action == "up":
            status = sandbox.up(box, progress)
        elif args.action == "down":
            status = sandbox.down(box, progress, every_lane=args.every_lane)
        else:
            status = sandbox.status(box)
    except (sandbox.SandboxError, chroot.ChrootError) as exc:
        print(f"ivr-agent sandbox {args.action}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        _print_status(status)
    if args.action == "status":
        return 0 if all(i["running"] for i in status["instances"].values()) else 3
    return 0


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from ivr_agent.sim import runner, scenario

    if args.list:
        for name in scenario.shipped_names():
            print(name)
        return 0
    if args.load_desks:
        return _simulate_load_desks(args, settings)
    try:
        if args.calls:
            plan = scenario.load_mode(
                calls=args.calls, rate=args.rate, mix=args.mix, seed=args.seed
            )
        elif args.scenario:
            plan = scenario.load(args.scenario)
        else:
            print("ivr-agent simulate: give a SCENARIO or --calls N", file=sys.stderr)
            return 2
        plan = plan.scaled(args.time_scale)
        if args.agent_callbacks:
            plan = plan.callbacks_from_agent()
        config = runner.RunnerConfig.from_sandbox(settings)
    except (scenario.ScenarioError, runner.SimulatorError) as exc:
        print(f"ivr-agent simulate: {exc}", file=sys.stderr)
        return 2

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        with contextlib.ExitStack() as stack:
            capture = (
                stack.enter_context(open(args.capture, "w", encoding="utf-8"))
                if args.capture
                else None
            )
            results = asyncio.run(
                runner.run(plan, config, progress, capture=capture, recordings=args.recordings)
            )
    except (runner.SimulatorError, OSError) as exc:
        print(f"ivr-agent simulate: {exc}", file=sys.stderr)
        return 1
    for result in results:
        print(json.dumps(result, ensure_ascii=False))
    return 0 if all(r.get("completed") for r in results) else 1


def _simulate_load_desks(args: argparse.Namespace, settings: Settings) -> int:
    """``simulate --load-desks``: place ``--calls`` calls at ``--rate`` onto the load desks;
    print one JSON line per call (its number, kind, desk, whether the phones placed it)."""
    import secrets

    from ivr_agent.pbx.ari import AriClient
    from ivr_agent.sim import load_calls, runner

    if not args.calls:
        print("ivr-agent simulate: --load-desks needs --calls N", file=sys.stderr)
        return 2
    try:
        shape = load_calls.CallShape(talk=args.talk)
        step = load_calls.LoadStep(
            "simulate", args.rate, args.calls / args.rate, load_calls.parse_mix(args.mix), shape
        )
        config = runner.RunnerConfig.from_sandbox(settings)
    except (load_calls.LoadError, runner.SimulatorError) as exc:
        print(f"ivr-agent simulate: {exc}", file=sys.stderr)
        return 2
    run_no = secrets.randbelow(1000)
    calls = load_calls.plan_step(step, run_no, 0, args.seed if args.seed is not None else run_no)

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    async def play() -> list[load_calls.PlacedCall]:
        async with AriClient(config.phones, timeout=30.0) as ari:
            generator = load_calls.LoadGenerator(ari, run_no, progress)
            await generator.start()
            try:
                progress(f"placing {len(calls)} calls at {args.rate:g}/s onto the load desks")
                placed = await generator.run_step(step, calls)
                # The calls end on their own timers; held ones need their unhold from here.
                longest = max(shape.expected_seconds(kind) for kind in step.mix)
                progress(f"all placed; waiting {longest:.0f} s for the last ones to end")
                await asyncio.sleep(longest + 2.0)
                return placed
            finally:
                await generator.close()

    try:
        placed = asyncio.run(play())
    except (runner.SimulatorError, OSError) as exc:
        print(f"ivr-agent simulate: {exc}", file=sys.stderr)
        return 1
    for call in placed:
        line = {
            "number": call.number,
            "kind": call.kind.name.lower(),
            "desk": f"{call.desk:03d}",
            "placed": call.placed,
            "error": call.error,
        }
        print(json.dumps(line))
    return 0 if all(call.placed for call in placed) else 1
