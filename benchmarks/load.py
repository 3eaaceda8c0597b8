"""The agent at the PBX's ceiling (issue 20): ``ivr-agent run`` as its own process beside the
sandbox PBX, calls ramped up step by step to the PBX's saturation, then a step that holds
about 200 calls up at once with holds, silent callers and abandons.

Usage (from the repository root, as root; brings the sandbox lane up if needed)::

    .venv/bin/python benchmarks/load.py                                   # the full run
    .venv/bin/python benchmarks/load.py --steps 5,10 --step-seconds 10 \\
        --concurrent 40 --concurrent-seconds 20                           # quick

What runs: a PostgreSQL of its own (pgserver, in ``--work-dir``), the agent as a subprocess
(``ivr-agent run``: AMI ingest, tracker, prompts by snoop-whisper, outbox into PostgreSQL;
callback dialler off), and in this process the load generator
(:mod:`ivr_agent.sim.load_calls`): one ARI originate per call on the phones instance toward
the PBX's direct route to one of 300 load desks, which answer in plain dialplan
(:mod:`ivr_agent.sim.load_desks`). Ramp steps (``--steps``, calls/s, each ``--step-seconds``)
place short answered calls (``--talk`` s); the concurrent step places ``--concurrent-mix``
at the rate that keeps ``--concurrent`` calls up (rate = concurrency / mean call length).

Measured per step, over the seconds its calls were being placed: CPU seconds of the agent,
the PBX's Asterisk, the phones' Asterisk, PostgreSQL and this generator (psutil), the ratio
agent / PBX (target ≤ 0.10); AMI events/s (the agent's own counter); prompt lateness from
the agent's histogram ``ivr_agent_prompt_lateness_seconds`` (p50/p99 interpolated inside
its buckets, and the exact share within the 50 ms target, a bucket bound); the agent's
peak RSS; then, once every call has ended, from PostgreSQL: outcomes stored / calls placed
(by caller number, unique per call; must be 1.0), set-up delay (the originate sent → the
answer, PBX clock, the desk's 0.3 s ring included), calls up at once (from the stored
offered/ended times), and the delay from the hang-up (``ended_at``) to the row
(``created_at``, the database's clock at the insert). The saturation step is the first one
whose set-up delay p99 exceeds ``--saturated-setup`` seconds or whose calls were not all
placed on time. Writes ``load-results.json`` next to this file. Not a pytest test
(``tests/integration/test_load_smoke.py`` runs a short version).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from chaos import IVR_AGENT, Agent, Postgres, free_port, lane_lock, metric_values  # noqa: E402
from load_figures import TARGET_P99_MS, accounting, lateness, spread_ms  # noqa: E402

from ivr_agent.pbx.ari import AriClient, AriTarget  # noqa: E402
from ivr_agent.settings import load_settings  # noqa: E402
from ivr_agent.sim import runner, sandbox  # noqa: E402
from ivr_agent.sim.load_calls import (  # noqa: E402
    CallShape,
    LoadGenerator,
    LoadStep,
    PlacedCall,
    mean_seconds,
    parse_mix,
    plan_step,
)
from ivr_agent.sim.load_desks import LoadKind, desk_ids  # noqa: E402

RESULTS = Path(__file__).with_name("load-results.json")
TARGET_CPU_RATIO = 0.10
AMI_EVENTS = "ivr_agent_ami_events_total"
#: Longest wait, before the concurrent step, for the ramp's calls to end and be stored.
SETTLE_SECONDS = 120.0
#: After the last call was placed: how long its calls may take to end and be stored.
DRAIN_SECONDS = 120.0


def log(line: str) -> None:
    """Progress on stderr (stdout is the JSON result)."""
    print(f"[load {time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


# --- processes -----------------------------------------------------------------------------


class Processes:
    """CPU seconds and memory of the agent, both Asterisks, PostgreSQL and this process."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far per part (PostgreSQL: the server and all its backends)."""
        out: dict[str, float] = {}
        for name, proc in self.procs.items():
            members = [proc, *proc.children(recursive=True)] if name == "postgres" else [proc]
            total = 0.0
            for member in members:
                with contextlib.suppress(psutil.Error):
                    times = member.cpu_times()
                    total += times.user + times.system
            out[name] = total
        return out

    def agent_rss(self) -> int:
        """The agent's resident memory in bytes."""
        return int(self.procs["agent"].memory_info().rss)


def set_nice(pid: int, nice: int) -> None:
    """Give process ``pid`` and all its threads the nice value ``nice``.

    Each thread, and the process's scheduler autogroup: with autogroups on (Linux's default
    on many kernels, this VM's too) CPU time is shared between sessions first, and a
    thread's own nice value only counts inside its session. Threads it starts later inherit
    the value.
    """
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):
            os.setpriority(os.PRIO_PROCESS, int(task.name), nice)
    autogroup = Path(f"/proc/{pid}/autogroup")
    if autogroup.exists():
        with contextlib.suppress(OSError):
            autogroup.write_text(str(nice))


async def ping(pbx: AriClient, into: list[float], failed: list[str]) -> None:
    """Time ``GET /asterisk/ping`` on the PBX's ARI five times a second, into ``into``
    (seconds), until cancelled: how quickly the PBX answers any request in the same
    seconds. A prompt waits for two such answers (the snoop, the play) and their events,
    so this is the floor under the prompts' lateness that no agent can go below. A ping
    that fails is noted in ``failed`` (its error), and pinging goes on."""
    while True:
        try:
            into.append(await pbx.ping())
        except Exception as exc:  # any failure is a figure of the step
            failed.append(f"{type(exc).__name__}: {exc}"[:200])
        await asyncio.sleep(0.2)


def machine_shares(before: Any, after: Any) -> dict[str, float]:
    """How the machine's CPUs spent a step, in % of all of them: ``busy`` (user, system,
    interrupts), ``idle`` and ``steal`` (time the hypervisor gave this VM's CPUs to another
    guest: on a shared VM the same calls cost more CPU seconds in a run with much steal,
    and the figures of two runs only compare at similar steal)."""
    # guest and guest_nice are counted in user already (Linux's /proc/stat).
    fields = [name for name in after._fields if not name.startswith("guest")]
    spent = {name: getattr(after, name) - getattr(before, name) for name in fields}
    total = sum(spent.values()) or 1.0
    idle = spent.get("idle", 0.0) + spent.get("iowait", 0.0)
    steal = spent.get("steal", 0.0)
    return {
        "busy": round(100 * (total - idle - steal) / total, 1),
        "idle": round(100 * idle / total, 1),
        "steal": round(100 * steal / total, 1),
    }


# --- the run -------------------------------------------------------------------------------


class LoadRun:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        settings = load_settings()
        self.lane = settings.sandbox_lane
        self.box = sandbox.Sandbox.from_settings(settings)
        self.work = Path(args.work_dir or f"/tmp/ivr-agent-load-lane{self.lane}")
        (self.work / "runs").mkdir(parents=True, exist_ok=True)
        self.run_no = random.randrange(1000)
        self.pbx_id = f"load{self.lane}-{uuid.uuid4().hex[:6]}"

    def setup(self) -> None:
        sandbox.up(self.box, log)
        hung = sandbox.hang_up_all(self.box)
        log(f"lane {self.lane} up ({hung} stale channel(s) hung up); work dir {self.work}")
        self.pg = Postgres(self.work / "pg")
        creds = sandbox.load_credentials(self.box).env()
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_AGENT_")}
        env.update(creds)
        self.pbx_ari = AriTarget.from_url(creds["IVR_AGENT_ARI_URL"])
        env.update(
            IVR_AGENT_DATABASE_URL=self.pg.url,
            # A data dir of the run's own: a spool an earlier run left (a stopped agent's
            # backlog) would be written first, and this run's calls behind it.
            IVR_AGENT_DATA_DIR=str(self.work / "runs" / self.pbx_id),
            # http delivery from a directory of the run: every desk's 工号播报 rendered once.
            IVR_AGENT_PROMPTS_DIR=str(self.work / "prompts"),
            IVR_AGENT_OPERATOR_IDS=",".join(f"{d:03d}" for d in self.desks()),
            IVR_AGENT_PBX_ID=self.pbx_id,
            IVR_AGENT_HTTP_LISTEN=f"127.0.0.1:{port}",
            IVR_AGENT_LOG_LEVEL="warning",
            IVR_AGENT_CALLBACK_DIALER_ENABLED="false",
        )
        env.update(dict(item.split("=", 1) for item in self.args.agent_env))
        log("rendering the load desks' prompts (cached in the work dir after the first run)")
        subprocess.run(
            [str(IVR_AGENT), "prompts", "build"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=1800,
        )
        log_path = self.work / "runs" / f"{self.pbx_id}.log"
        self.agent = Agent(env, log_path, f"http://127.0.0.1:{port}")
        self.agent.start()
        if self.args.agent_nice:
            # Its threads and its session's autogroup (see set_nice); threads it starts
            # from now on inherit the value.
            assert self.agent.proc is not None
            set_nice(self.agent.proc.pid, self.args.agent_nice)
        self.agent.wait_ready()
        self.agent.create_token()
        self.agent.wait_ready()
        assert self.agent.proc is not None
        postmaster = self.pg.server.get_postmaster_info()
        self.procs = Processes(
            {
                "agent": self.agent.proc.pid,
                "pbx": int(self.box.pid_file(self.box.pbx).read_text().split()[0]),
                "phones": int(self.box.pid_file(self.box.phones).read_text().split()[0]),
                "postgres": int(postmaster.pid),
                "generator": os.getpid(),
            }
        )
        log(f"agent up (pbx id {self.pbx_id}, log {self.agent.log_path})")

    def desks(self) -> list[int]:
        """The desks the run dials (the agent renders and checks their 工号播报)."""
        return list(desk_ids())[: self.args.desks]

    def steps(self) -> list[LoadStep]:
        args = self.args
        ramp_mix = parse_mix(args.mix)
        ramp_shape = CallShape(talk=args.talk)
        made = [
            LoadStep(f"ramp-{rate:g}", rate, args.step_seconds, ramp_mix, ramp_shape)
            for rate in args.steps
        ]
        if args.concurrent:
            mix = parse_mix(args.concurrent_mix)
            greeted = args.concurrent_route == "greeted"
            if greeted and mix.get(LoadKind.ABANDONED):
                raise SystemExit(
                    "--concurrent-route greeted: the hook answers callers, so none "
                    "can abandon; leave abandoned out of --concurrent-mix"
                )
            shape = CallShape(talk=args.concurrent_talk, greeted=greeted)
            rate = args.concurrent / mean_seconds(mix, shape)
            made.append(
                LoadStep(f"concurrent-{args.concurrent}", rate, args.concurrent_seconds, mix, shape)
            )
        return made

    def metrics(self) -> str:
        status, body = self.agent.get("/metrics", token=False)
        return body.decode() if status == 200 else ""

    async def run(self) -> dict[str, Any]:
        await asyncio.to_thread(self.setup)
        try:
            return await self._traffic()
        finally:
            await asyncio.to_thread(self.agent.stop)
            with contextlib.suppress(Exception):
                self.pg.stop()

    async def _traffic(self) -> dict[str, Any]:
        config = runner.RunnerConfig.from_env_file(self.box.credentials_file)
        placed: list[PlacedCall] = []
        windows: list[dict[str, Any]] = []
        async with AriClient(config.phones, timeout=30.0) as ari:
            generator = LoadGenerator(ari, self.run_no, log)
            await generator.start()
            try:
                sequence = 0
                for index, step in enumerate(self.steps()):
                    calls = plan_step(
                        step, self.run_no, sequence, self.args.seed + index, self.args.desks
                    )
                    sequence += len(calls)
                    if index and step.name.startswith("concurrent"):
                        # Measure 200 calls up, not the tail of the saturated ramp before it.
                        await self._settle()
                    log(f"step {step.name}: {len(calls)} calls at {step.rate:.1f}/s")
                    windows.append(await self._step(generator, step, calls, placed))
                log("every call placed; waiting for the last ones to end and be stored")
                stored = await self._drain(placed)
                windows[-1]["holds_played"] = generator.holds_done
                windows[-1]["hold_errors"] = generator.hold_errors
            finally:
                await generator.close()
        return self._report(windows, placed, stored)

    async def _settle(self, limit: float = SETTLE_SECONDS) -> None:
        """Wait until the agent tracks no call and has no outcome waiting (at most
        ``limit`` seconds)."""
        began = time.time()
        while time.time() - began < limit:
            text = await asyncio.to_thread(self.metrics)
            busy = sum(metric_values(text, "ivr_agent_calls_in_progress")) + sum(
                metric_values(text, "ivr_agent_outbox_pending")
            )
            if busy == 0:
                break
            await asyncio.sleep(1.0)
        log(f"settled for {time.time() - began:.0f} s before the next step")

    async def _step(
        self, generator: LoadGenerator, step: LoadStep, calls: list[Any], placed: list[PlacedCall]
    ) -> dict[str, Any]:
        metrics_before = await asyncio.to_thread(self.metrics)
        cpu_before, t0 = self.procs.cpu(), time.time()
        machine_before = psutil.cpu_times()
        peak_rss = [self.procs.agent_rss()]
        # What the agent has in hand: outcomes waiting for PostgreSQL, calls it tracks.
        pending, tracked = [0.0], [0.0]

        async def sample_rss() -> None:
            while True:
                await asyncio.sleep(1.0)
                peak_rss.append(self.procs.agent_rss())
                text = await asyncio.to_thread(self.metrics)
                pending.append(sum(metric_values(text, "ivr_agent_outbox_pending")))
                tracked.append(sum(metric_values(text, "ivr_agent_calls_in_progress")))

        pings: list[float] = []
        ping_failures: list[str] = []
        sampler = asyncio.create_task(sample_rss())
        async with AriClient(self.pbx_ari, timeout=10.0) as pbx:
            pinger = asyncio.create_task(ping(pbx, pings, ping_failures))
            try:
                got = await generator.run_step(step, calls)
            finally:
                sampler.cancel()
                pinger.cancel()
        t1 = time.time()
        cpu_after = self.procs.cpu()
        machine = machine_shares(machine_before, psutil.cpu_times())
        metrics_after = await asyncio.to_thread(self.metrics)
        placed += got
        seconds = t1 - t0
        cpu = {k: round(cpu_after[k] - cpu_before[k], 2) for k in cpu_after}
        events = sum(metric_values(metrics_after, AMI_EVENTS)) - sum(
            metric_values(metrics_before, AMI_EVENTS)
        )
        return {
            "step": step.name,
            "offered_rate": round(step.rate, 2),
            "from": t0,
            "to": t1,
            "seconds": round(seconds, 1),
            "calls_planned": len(calls),
            "calls_placed": sum(1 for p in got if p.placed),
            "originate_errors": sorted({p.error for p in got if p.error})[:5],
            "placing_lag_p99_ms": spread_ms([p.lag for p in got]).get("p99_ms"),
            "placed_per_second": round(sum(1 for p in got if p.placed) / seconds, 1),
            "ami_events_per_second": round(events / seconds, 1),
            "cpu_seconds": cpu,
            "cpu_percent_of_one_core": {k: round(100 * v / seconds, 1) for k, v in cpu.items()},
            "cpu_ratio_agent_to_pbx": round(cpu["agent"] / cpu["pbx"], 3) if cpu["pbx"] else None,
            "machine_cpu_percent": machine,
            "prompt_lateness": lateness(metrics_before, metrics_after),
            "pbx_ari_ping": spread_ms(pings)
            | {"failed": len(ping_failures), "errors": sorted(set(ping_failures))[:3]},
            "agent_rss_peak_mib": round(max(peak_rss) / 2**20, 1),
            "outbox_pending_peak": int(max(pending)),
            "calls_tracked_peak": int(max(tracked)),
        }

    async def _drain(self, placed: list[PlacedCall]) -> dict[str, dict[str, Any]]:
        """The stored rows of the run's calls, once all are stored or nothing changed for 20 s
        (at most :data:`DRAIN_SECONDS`)."""
        import asyncpg

        wanted = {p.number for p in placed if p.placed}
        dsn = f"postgresql://postgres@/postgres?host={self.pg.socket_dir}"
        connection = await asyncpg.connect(dsn)
        try:
            deadline, last_change, seen = time.time() + DRAIN_SECONDS, time.time(), -1
            while True:
                rows = await connection.fetch(
                    "SELECT call_id, caller_number, offered_at, answered_at, ended_at, "
                    "created_at, abandoned, silence, max_hold_seconds, complete "
                    "FROM calls WHERE pbx_id = $1",
                    self.pbx_id,
                )
                found = {r["caller_number"] for r in rows}
                if len(rows) != seen:
                    seen, last_change = len(rows), time.time()
                if wanted <= found or time.time() > deadline or time.time() - last_change > 20:
                    break
                await asyncio.sleep(1.0)
            statuses = await self._recordings(connection)
        finally:
            await connection.close()
        stored: dict[str, dict[str, Any]] = {}
        for row in rows:
            item = dict(row)
            item["recording"] = statuses.get(row["call_id"])
            item["copies"] = stored.get(row["caller_number"], {}).get("copies", 0) + 1
            stored[row["caller_number"]] = item
        return stored

    async def _recordings(self, connection: Any) -> dict[str, str]:
        """Each call's recording status (ok, corrupt, missing), once the recordings stopped
        arriving for 5 s (they are fetched from the PBX after the call's row is stored)."""
        query = (
            "SELECT r.call_id, r.status FROM recordings r JOIN calls c USING (call_id) "
            "WHERE c.pbx_id = $1 AND r.kind = 'call'"
        )
        deadline, last_change, seen = time.time() + 120, time.time(), -1
        while True:
            rows = await connection.fetch(query, self.pbx_id)
            if len(rows) != seen:
                seen, last_change = len(rows), time.time()
            if time.time() > deadline or time.time() - last_change > 5:
                return {r["call_id"]: r["status"] for r in rows}
            await asyncio.sleep(1.0)

    def _report(
        self,
        windows: list[dict[str, Any]],
        placed: list[PlacedCall],
        stored: dict[str, dict[str, Any]],
    ) -> dict[str, Any]:
        for window in windows:
            mine = [p for p in placed if p.step == window["step"]]
            window.update(accounting(mine, stored, window["from"], window["to"]))
        saturated = next(
            (
                w["step"]
                for w in windows
                if (w["setup_delay"].get("p99_ms") or 0) > self.args.saturated_setup * 1000
                or w["calls_placed"] < w["calls_planned"]
                or (w["placing_lag_p99_ms"] or 0) > 1000
            ),
            None,
        )
        concurrent = next((w for w in windows if w["step"].startswith("concurrent")), None)
        all_placed = sum(1 for p in placed if p.placed)
        all_stored = sum(1 for p in placed if p.placed and p.number in stored)
        for window in windows:
            window["from"] = datetime.fromtimestamp(window["from"], UTC).isoformat()
            window["to"] = datetime.fromtimestamp(window["to"], UTC).isoformat()
        return {
            "benchmark": "load",
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
            },
            "command": " ".join(sys.argv),
            "agent_env": self.args.agent_env,
            "agent_nice": self.args.agent_nice,
            "pbx_id": self.pbx_id,
            "calls_placed": all_placed,
            "outcomes_stored": all_stored,
            "stored_per_placed": round(all_stored / all_placed, 4) if all_placed else None,
            "saturation_step": saturated,
            "targets": {"cpu_ratio_agent_to_pbx": TARGET_CPU_RATIO, "prompt_p99_ms": TARGET_P99_MS},
            "at_concurrent": None
            if concurrent is None
            else {
                "step": concurrent["step"],
                "cpu_ratio_agent_to_pbx": concurrent["cpu_ratio_agent_to_pbx"],
                "prompt_lateness": concurrent["prompt_lateness"],
                "calls_up": concurrent["calls_up"],
            },
            "steps": windows,
            "work_dir": str(self.work),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    rates = lambda text: [float(v) for v in text.split(",") if v]  # noqa: E731
    parser.add_argument("--steps", type=rates, default=rates("5,10,15,20,25,30,40"))
    parser.add_argument("--step-seconds", type=float, default=30.0)
    parser.add_argument("--talk", type=float, default=2.0, help="ramp calls: seconds talked")
    parser.add_argument("--mix", default="answered=100", help="ramp calls' kinds")
    parser.add_argument("--concurrent", type=int, default=200, help="0: no concurrent step")
    parser.add_argument("--concurrent-seconds", type=float, default=90.0)
    parser.add_argument("--concurrent-talk", type=float, default=30.0)
    parser.add_argument("--concurrent-mix", default="answered=70,hold=10,silent=10,abandoned=10")
    parser.add_argument(
        "--concurrent-route",
        choices=("direct", "greeted"),
        default="direct",
        help="greeted: the concurrent step's callers pass the greeting hook (400 800 6NNN), "
        "as hotline callers do; with --agent-env IVR_AGENT_INBOUND_RECORDER=mixmonitor the "
        "hook's MixMonitor records them",
    )
    parser.add_argument(
        "--desks", type=int, default=len(desk_ids()), help="round robin over this many desks"
    )
    parser.add_argument(
        "--agent-nice",
        type=int,
        default=0,
        help="run the agent at this nice value (e.g. -5, as systemd Nice=): beside a "
        "saturated PBX its one event-loop thread competes with hundreds of Asterisk threads",
    )
    parser.add_argument("--saturated-setup", type=float, default=1.0, help="set-up p99, s")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--agent-env",
        action="append",
        default=[],
        metavar="IVR_AGENT_X=VALUE",
        help="a setting of the agent under test (repeatable), e.g. IVR_AGENT_RECORD_INBOUND=false",
    )
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--lock-held", action="store_true", help="the lane's test lock is held")
    args = parser.parse_args(argv)
    if not 1 <= args.desks <= len(desk_ids()):
        parser.error(f"--desks must be 1-{len(desk_ids())}")
    if os.geteuid() != 0:
        raise SystemExit("needs root (the sandbox runs Asterisk in a chroot)")
    run = LoadRun(args)
    with lane_lock(run.lane, args.lock_held), contextlib.redirect_stdout(sys.stderr):
        report = asyncio.run(run.run())
    args.out.write_text(json.dumps(report, indent=1, default=str) + "\n")
    print(json.dumps(report, indent=1, default=str))
    return 0 if report["stored_per_placed"] == 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
