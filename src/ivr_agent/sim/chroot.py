"""A Debian sid root on this machine: creating it, mounting into it, finding what runs in it.

Everything here is synchronous and runs as root; it is used by :mod:`ivr_agent.sim.sandbox`
from the command line, never inside the agent's event loop. Facts this relies on are in
``PBX-SANDBOX.md``: sid's index is "expired" for apt unless ``Check-Valid-Until=false``, and
Asterisk needs ``/proc`` and ``/dev`` inside the root.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

APT_OPTIONS = ("-o", "Acquire::Check-Valid-Until=false", "-q")
DEFAULT_MIRROR = "http://deb.debian.org/debian"


class ChrootError(RuntimeError):
    """A step on the Debian root failed; the message says which and where its log is."""


def host_mirror(
    sources: Sequence[Path] = (
        Path("/etc/apt/sources.list.d/debian.sources"),
        Path("/etc/apt/sources.list"),
    ),
) -> str:
    """The Debian mirror the host's own apt sources name (the only one it may reach)."""
    for path in sources:
        try:
            text = path.read_text()
        except OSError:
            continue
        # deb822 (".sources"): "URIs: http://…/debian"; one-line format: "deb http://…/debian …".
        for match in re.finditer(r"^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(\S+)", text, re.M):
            uri = match.group(1)
            if "security" not in uri and uri.startswith(("http://", "https://")):
                return uri.rstrip("/")
    return DEFAULT_MIRROR


def run_logged(argv: Sequence[str], log: Path, *, env: dict[str, str] | None = None) -> None:
    """Run ``argv`` with its output appended to ``log``; raise :class:`ChrootError` on failure."""
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        completed = subprocess.run(
            list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
    if completed.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise ChrootError(f"{argv[0]} failed (exit {completed.returncode}); log {log}:\n{tail}")


def debootstrap(root: Path, mirror: str, log: Path) -> None:
    """Create a minimal Debian sid in ``root`` (about 25 s, 230 MB)."""
    if shutil.which("debootstrap") is None:
        raise ChrootError("debootstrap is not installed: run `apt-get install -y debootstrap`")
    root.mkdir(parents=True, exist_ok=True)
    run_logged(["debootstrap", "--variant=minbase", "sid", str(root), mirror], log)


def apt_install(root: Path, packages: Sequence[str], log: Path) -> None:
    """``apt-get update`` then install ``packages`` without recommends, inside ``root``."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C.UTF-8"}
    run_logged(["chroot", str(root), "apt-get", *APT_OPTIONS, "update"], log, env=env)
    run_logged(
        [
            "chroot",
            str(root),
            "apt-get",
            *APT_OPTIONS,
            "install",
            "-y",
            "--no-install-recommends",
            *packages,
        ],
        log,
        env=env,
    )


def mounts_under(root: Path) -> list[Path]:
    """Mount points at or below ``root``, deepest first (the order to unmount them)."""
    resolved = root.resolve()
    found: list[Path] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        # Field 5 is the mount point, with spaces and such octal-escaped.
        point = Path(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4]))
        if point == resolved or resolved in point.parents:
            found.append(point)
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def mount_system(root: Path) -> None:
    """Mount ``proc`` and bind ``/dev`` into ``root`` unless they already are."""
    present = set(mounts_under(root))
    proc, dev = root.resolve() / "proc", root.resolve() / "dev"
    if proc not in present:
        subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True)
    if dev not in present:
        subprocess.run(["mount", "--bind", "/dev", str(dev)], check=True)


def unmount_all(root: Path) -> list[Path]:
    """Unmount everything below ``root``; return what is still mounted (empty on success)."""
    for point in mounts_under(root):
        done = subprocess.run(["umount", str(point)], capture_output=True)
        if done.returncode != 0:
            # Busy: detach it now, the kernel frees it when the last user goes.
            subprocess.run(["umount", "-l", str(point)], capture_output=True)
    return mounts_under(root)


def processes_in(root: Path) -> list[int]:
    """Pids of processes whose root directory is ``root`` (everything running in the chroot)."""
    resolved = str(root.resolve())
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "root") == resolved:
                pids.append(int(entry.name))
        except OSError:
            continue  # gone meanwhile, or a kernel thread
    return pids


def kill_all_in(root: Path, grace_seconds: float = 5.0) -> list[int]:
    """SIGTERM every process in ``root``, SIGKILL what outlives the grace; return survivors."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = processes_in(root)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace_seconds
        while processes_in(root) and time.monotonic() < deadline:
            time.sleep(0.1)
    return processes_in(root)


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (zombies count as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state letter follows the parenthesised command name.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
