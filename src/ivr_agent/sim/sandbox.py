"""``ivr-agent sandbox``: a real Asterisk 22 PBX and a phones instance on this machine.

Theory of operation: a Debian sid root (:mod:`ivr_agent.sim.chroot`) is provisioned once and
kept under the data dir (:mod:`.sandbox_setup`). Two Asterisk processes run in it per lane
(:mod:`.sandbox_layout`), both bound to 127.0.0.1:

* the **PBX under test**, configured from ``docker/asterisk/`` plus the dialplan hooks the
  package ships (:mod:`ivr_agent.share`) (lane 0: AMI 5038, ARI 8088, SIP 5060,
  RTP 10000-11499), and
* the **phones**, configured from this package's ``phones/`` (lane 0: ARI 8089, SIP 5070,
  RTP 11500-12999), which the simulator drives to play callers, operators and customers.

Secrets are random, made on first provision and kept inside the root (with the pid files),
so a root shared by several checkouts (``IVR_AGENT_SANDBOX_ROOT``, e.g. a CI cache) keeps one
set of credentials and its running instances are found again; ``DATA_DIR/sandbox/agent.env``
(``agent-laneN.env``) holds the URLs the agent and the simulator use. Every operation takes
a file lock beside the root, so ``up`` and ``down`` never interleave. Requires root.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ivr_agent.sim import chroot
from ivr_agent.sim.sandbox_layout import (
    MAX_LANE,
    PBX,
    PHONES,
    WORKER_LANES,
    Credentials,
    Instance,
    Progress,
    Sandbox,
    SandboxError,
    find_repo_dir,
    lane_instances,
    partner_lane,
    require_root,
)
from ivr_agent.sim.sandbox_setup import (
    config_digest,
    configure,
    install_prompts,
    load_credentials,
    provision,
    write_private,
)

__all__ = [
    "MAX_LANE",
    "PBX",
    "PHONES",
    "WORKER_LANES",
    "Credentials",
    "Instance",
    "Sandbox",
    "SandboxError",
    "cli",
    "down",
    "find_repo_dir",
    "hang_up_all",
    "lane_instances",
    "load_credentials",
    "partner_lane",
    "require_root",
    "status",
    "up",
    "version",
]


#: Bump when the provisioning recipe changes: an older root is then completed, not reused.
@contextlib.contextmanager
def _locked(sandbox: Sandbox) -> Iterator[None]:
    sandbox.state_dir.mkdir(parents=True, exist_ok=True)
    sandbox.root.parent.mkdir(parents=True, exist_ok=True)
    with (sandbox.root.parent / f".{sandbox.root.name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- running ---------------------------------------------------------------------------------


def _cli(sandbox: Sandbox, instance: Instance, command: str, timeout: float = 10.0) -> str | None:
    """Output of ``asterisk -rx command`` on the instance, or None when it does not answer."""
    try:
        done = subprocess.run(
            ["chroot", str(sandbox.root), "asterisk", "-C", instance.conf, "-rx", command],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        return None
    return done.stdout


def cli(sandbox: Sandbox, instance: Instance, command: str, timeout: float = 10.0) -> str:
    """Run an Asterisk CLI command on a running instance; raise if it does not answer."""
    out = _cli(sandbox, instance, command, timeout)
    if out is None:
        raise SandboxError(f"the {instance.name} instance does not answer `{command}`")
    return out


def version(sandbox: Sandbox, instance: Instance) -> str | None:
    """``core show version`` of the instance, or None when it is not running."""
    out = _cli(sandbox, instance, "core show version", timeout=5.0)
    if not out or not out.startswith("Asterisk"):
        return None
    # "Asterisk 22.10.1+dfsg… built by nobody @ buildd… on …": the build blurb is noise.
    return out.strip().split(" built by ", 1)[0]


def _running_pid(sandbox: Sandbox, instance: Instance) -> int | None:
    try:
        pid = int(sandbox.pid_file(instance).read_text())
    except (OSError, ValueError):
        pid = 0
    if pid and chroot.pid_alive(pid) and pid in chroot.processes_in(sandbox.root):
        # (The pid file may name a process of another root sharing these files, e.g. a
        # bind mount of this one, or a pid reused since: only ours counts.)
        return pid
    if not sandbox.root.exists():
        return None
    # No (valid) pid file: look for the instance among the root's processes all the same.
    for candidate in chroot.processes_in(sandbox.root):
        try:
            argv = Path(f"/proc/{candidate}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"-C" in argv and instance.conf.encode() in argv and b"-rx" not in argv:
            sandbox.meta_dir.mkdir(parents=True, exist_ok=True)
            sandbox.pid_file(instance).write_text(f"{candidate}\n")
            return candidate
    return None


def _start(sandbox: Sandbox, instance: Instance) -> int:
    log = sandbox.console_log(instance).open("ab")
    argv = [
        "chroot",
        str(sandbox.root),
        "asterisk",
        "-f",
        "-U",
        "asterisk",
        "-G",
        "asterisk",
        "-C",
        instance.conf,
    ]
    # Its own session: it outlives this command and a Ctrl-C in this terminal.
    process = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    log.close()
    sandbox.meta_dir.mkdir(parents=True, exist_ok=True)
    sandbox.pid_file(instance).write_text(f"{process.pid}\n")
    return process.pid


def forget_media_cache(sandbox: Sandbox, instance: Instance) -> int:
    """Empty a stopped instance's media cache (the prompts it fetched over HTTP) and its
    astdb; how many cached files there were.

    Asterisk never evicts that cache, and it reads every entry at start: after a few days
    of test runs (about 9,000 files a lane) a PBX spent 60 s of CPU before it answered. The
    astdb holds nothing else the sandbox needs (its configuration is in files); the PBX
    fetches each prompt again on first use.
    """
    conf = (sandbox.root / instance.conf.lstrip("/")).read_text()
    dirs = dict(re.findall(r"^(astdbdir|astcachedir)\s*=>\s*(\S+)", conf, flags=re.M))
    removed = 0
    if "astcachedir" in dirs:
        for cached in (sandbox.root / dirs["astcachedir"].lstrip("/")).glob("bucket-*"):
            cached.unlink(missing_ok=True)
            removed += 1
    if "astdbdir" in dirs:
        (sandbox.root / dirs["astdbdir"].lstrip("/") / "astdb.sqlite3").unlink(missing_ok=True)
    return removed


def _wait_ready(sandbox: Sandbox, instance: Instance, pid: int, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not chroot.pid_alive(pid):
            tail = sandbox.console_log(instance).read_text(errors="replace")[-2000:]
            raise SandboxError(f"the {instance.name} Asterisk exited at start:\n{tail}")
        if _cli(sandbox, instance, "core waitfullybooted", timeout=5.0) is not None:
            found = version(sandbox, instance)
            if found:
                return found
        time.sleep(0.3)
    raise SandboxError(f"the {instance.name} Asterisk did not answer within {timeout:.0f} s")


def _wait_ari(url: str, user: str, password: str, timeout: float = 20.0) -> None:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})  # noqa: S310
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(request, timeout=3) as reply:  # noqa: S310 - local URL
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            if time.monotonic() > deadline:
                raise SandboxError(f"ARI at {url} does not answer: {exc}") from None
        time.sleep(0.3)


def up(sandbox: Sandbox, progress: Progress) -> dict[str, Any]:
    """Provision if needed, configure, start both instances, wait until they answer.

    Idempotent: instances already running are left as they are. Returns :func:`status`.
    """
    require_root()
    with _locked(sandbox):
        provision(sandbox, progress)
        chroot.mount_system(sandbox.root)
        install_prompts(sandbox, progress)
        had_secrets = (sandbox.meta_dir / "secrets.json").exists()
        creds = load_credentials(sandbox)
        if not had_secrets:
            # Instances running without our secrets (an older layout) would refuse them.
            for instance in sandbox.instances:
                _stop(sandbox, instance, progress)
        # Always (re)written: this checkout may be adopting instances another one started.
        write_private(
            sandbox.credentials_file, "".join(f"{k}={v}\n" for k, v in creds.env().items())
        )
        running = {i.name: _running_pid(sandbox, i) for i in sandbox.instances}
        digest = config_digest(sandbox)
        marker = sandbox.meta_dir / f"config{sandbox.suffix}.sha256"
        applied = marker.read_text().strip() if marker.exists() else None
        if all(running.values()) and applied != digest:
            # Running on an older configuration: a config edit must not wait for someone
            # to run `sandbox down` by hand.
            progress("configuration changed since the instances started: restarting them")
            for instance in sandbox.instances:
                _stop(sandbox, instance, progress)
            running = dict.fromkeys(running)
        if not all(running.values()):
            configure(sandbox, creds)
            marker.write_text(digest + "\n")
        for instance in sandbox.instances:
            if running[instance.name]:
                progress(f"{instance.name}: already running (pid {running[instance.name]})")
                continue
            started = time.monotonic()
            forgotten = forget_media_cache(sandbox, instance)
            if forgotten:
                progress(f"{instance.name}: {forgotten} cached media files forgotten")
            pid = _start(sandbox, instance)
            found = _wait_ready(sandbox, instance, pid)
            progress(
                f"{instance.name}: {found} (pid {pid}, up in {time.monotonic() - started:.1f} s)"
            )
        _wait_ari(
            f"http://127.0.0.1:{sandbox.pbx.http_port}/ari/asterisk/info",
            creds.ari_user,
            creds.ari_secret,
        )
        _wait_ari(
            f"http://127.0.0.1:{sandbox.phones.http_port}/ari/asterisk/info",
            creds.phones_ari_user,
            creds.phones_ari_secret,
        )
        return _status(sandbox)


def _stop(sandbox: Sandbox, instance: Instance, progress: Progress) -> None:
    pid = _running_pid(sandbox, instance)
    if pid is None:
        return
    _cli(sandbox, instance, "core stop now", timeout=10.0)
    deadline = time.monotonic() + 10.0
    while chroot.pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if chroot.pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    sandbox.pid_file(instance).unlink(missing_ok=True)
    progress(f"{instance.name}: stopped (pid {pid})")


def down(sandbox: Sandbox, progress: Progress, *, every_lane: bool = False) -> dict[str, Any]:
    """Stop this lane's instances; when nothing else runs in the root (or with
    ``every_lane``: stop every lane's instances and everything else in it), unmount
    everything below it.

    Lane by lane, because the root is shared: other checkouts, test workers and people may
    be running lanes of their own in it, and a ``down`` of lane 0 must not pull their PBX
    away mid-call. Raises :class:`SandboxError` if a process or a mount is left behind.
    """
    require_root()
    with _locked(sandbox):
        instances = _all_lanes() if every_lane else list(sandbox.instances)
        for instance in instances:
            _stop(sandbox, instance, progress)
        for instance in instances:
            sandbox.pid_file(instance).unlink(missing_ok=True)
        others = chroot.processes_in(sandbox.root) if sandbox.root.exists() else []
        if others and not every_lane:
            progress(
                f"sandbox down: lane {sandbox.lane} stopped; {len(others)} other process(es) "
                "still run in the root (other lanes): its mounts stay (--all stops them too)"
            )
            return _status(sandbox)
        survivors = chroot.kill_all_in(sandbox.root) if sandbox.root.exists() else []
        left = chroot.unmount_all(sandbox.root) if sandbox.root.exists() else []
        if survivors or left:
            raise SandboxError(f"left behind: processes {survivors}, mounts {left}")
        progress("sandbox down: no process and no mount left")
        return _status(sandbox)


def status(sandbox: Sandbox) -> dict[str, Any]:
    """What runs where: provisioned?, mounts, each instance's pid, version and ports."""
    require_root()
    with _locked(sandbox):
        return _status(sandbox)


def _status(sandbox: Sandbox) -> dict[str, Any]:
    instances = {}
    for instance in sandbox.instances:
        pid = _running_pid(sandbox, instance)
        instances[instance.name] = {
            "running": pid is not None,
            "pid": pid,
            "version": version(sandbox, instance) if pid else None,
            "config": f"{sandbox.root}{instance.etc_dir}",
            "ports": {
                "ami": instance.ami_port,
                "http_ari": instance.http_port,
                "sip_udp": instance.sip_port,
                "rtp": f"{instance.rtp_ports[0]}-{instance.rtp_ports[1]}",
            },
        }
    root_exists = sandbox.root.exists()
    return {
        "root": str(sandbox.root),
        "provisioned": sandbox.provisioned(),
        "mounts": [str(p) for p in chroot.mounts_under(sandbox.root)] if root_exists else [],
        "processes": chroot.processes_in(sandbox.root) if root_exists else [],
        "credentials_file": str(sandbox.credentials_file),
        "instances": instances,
    }


def _all_lanes() -> list[Instance]:
    return [i for lane in range(MAX_LANE + 1) for i in lane_instances(lane)]


def hang_up_all(sandbox: Sandbox) -> int:
    """Hang up every channel of the lane's PBX and phones; return how many there were.

    A run that was interrupted can leave callers queued on the PBX, where they would sit
    ahead of the next run's callers (the sandbox queue waits up to 600 s); tests start from
    an idle PBX with this.
    """
    ended = 0
    for instance in sandbox.instances:
        out = cli(sandbox, instance, "channel request hangup all")
        ended += sum(1 for line in out.splitlines() if line.startswith("Requested Hangup"))
    return ended
