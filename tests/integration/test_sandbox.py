"""The sandbox itself: Asterisk 22 answers, and `down` leaves nothing behind."""

from __future__ import annotations

import re
import subprocess

import pytest

from ivr_agent.sim import chroot, sandbox

from .sandbox_support import progress, running_sandbox

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def box() -> sandbox.Sandbox:
    """The running sandbox (skips locally, fails in CI, when it cannot be had)."""
    return running_sandbox()


def _rx(box: sandbox.Sandbox, conf: str | None, command: str) -> str:
    argv = ["chroot", str(box.root), "asterisk"]
    if conf:
        argv += ["-C", conf]
    done = subprocess.run([*argv, "-rx", command], capture_output=True, text=True, check=True)
    return done.stdout


def test_given_sandbox_up_when_asking_core_show_version_then_both_run_asterisk_22(
    box: sandbox.Sandbox,
) -> None:
    # A plain `asterisk -rx` in the root reaches the PBX (standard run directory) ...
    assert _rx(box, None, "core show version").startswith("Asterisk 22.")
    # ... and each instance answers through its own asterisk.conf.
    assert _rx(box, sandbox.PBX.conf, "core show version").startswith("Asterisk 22.")
    assert _rx(box, sandbox.PHONES.conf, "core show version").startswith("Asterisk 22.")


def test_given_sandbox_up_then_ami_has_timestamps_and_least_privilege_user(
    box: sandbox.Sandbox,
) -> None:
    settings = _rx(box, None, "manager show settings")
    assert re.search(r"Timestamp events:\s+Yes", settings)
    user = _rx(box, None, "manager show user ivr-agent")
    read = next(line for line in user.splitlines() if line.strip().startswith("read perm"))
    write = next(line for line in user.splitlines() if line.strip().startswith("write perm"))
    assert set(read.split(":", 1)[1].strip().split(",")) == {
        "call",
        "agent",
        "user",
        "dtmf",
        "reporting",
    }
    assert set(write.split(":", 1)[1].strip().split(",")) == {
        "originate",
        "call",
        "user",
    }  # user: UserEvent (prompt reports)


def test_given_sandbox_up_then_queue_members_are_reachable_operators(
    box: sandbox.Sandbox,
) -> None:
    queue = _rx(box, None, "queue show hotline")
    assert queue.count("Not in use") == 10
    assert "Invalid" not in queue
    assert "Unavailable" not in queue


def test_given_sandbox_up_when_down_then_no_process_and_no_mount_is_left(
    box: sandbox.Sandbox,
) -> None:
    try:
        sandbox.down(box, progress)
        assert chroot.processes_in(box.root) == []
        assert chroot.mounts_under(box.root) == []
        status = sandbox.status(box)
        assert not any(i["running"] for i in status["instances"].values())
    finally:
        # Leave the sandbox as the session fixture promised it to the other tests.
        sandbox.up(box, progress)
    assert sandbox.version(box, sandbox.PBX) is not None
