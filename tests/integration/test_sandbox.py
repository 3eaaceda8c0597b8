"""The sandbox itself: Asterisk 22 answers, and `down` leaves nothing behind."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

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
    # Each instance of the lane answers through its own asterisk.conf ...
    assert _rx(box, box.pbx.conf, "core show version").startswith("Asterisk 22.")
    assert _rx(box, box.phones.conf, "core show version").startswith("Asterisk 22.")
    if box.lane == 0:
        # ... and a plain `asterisk -rx` in the root reaches lane 0's PBX (standard run dir).
        assert _rx(box, None, "core show version").startswith("Asterisk 22.")


def test_given_sandbox_up_then_ami_has_timestamps_and_least_privilege_user(
    box: sandbox.Sandbox,
) -> None:
    settings = _rx(box, box.pbx.conf, "manager show settings")
    assert re.search(r"Timestamp events:\s+Yes", settings)
    user = _rx(box, box.pbx.conf, "manager show user ivr-agent")
    read = next(line for line in user.splitlines() if line.strip().startswith("read perm"))
    write = next(line for line in user.splitlines() if line.strip().startswith("write perm"))
    assert set(read.split(":", 1)[1].strip().split(",")) == {
        "call",
        "agent",
        "user",
        "dtmf",
        "reporting",
    }
    # call: the Status listing after a reconnect; user: UserEvent (prompt reports). No
    # originate: callbacks are placed through ARI.
    assert set(write.split(":", 1)[1].strip().split(",")) == {"call", "user"}


def test_given_sandbox_up_then_queue_members_are_reachable_operators(
    box: sandbox.Sandbox,
) -> None:
    queue = _rx(box, box.pbx.conf, "queue show hotline")
    assert queue.count("Not in use") == 10
    assert "Invalid" not in queue
    assert "Unavailable" not in queue


def test_given_a_lane_up_when_down_then_no_process_and_no_mount_is_left(
    box: sandbox.Sandbox, tmp_path: Path
) -> None:
    # `down` stops everything in its root, and other test processes use this root's other
    # lanes right now: the test brings a lane of its own up and down in a bind mount of the
    # root (the same files, a root directory of its own for chroot, mounts and processes).
    other = tmp_path / "root"
    other.mkdir()
    subprocess.run(["mount", "--bind", str(box.root), str(other)], check=True)
    spare = dataclasses.replace(
        box, root=other, state_dir=tmp_path / "state", lane=sandbox.MAX_LANE
    )
    try:
        status = sandbox.up(spare, progress)
        assert all(i["running"] for i in status["instances"].values())
        assert sandbox.version(spare, spare.pbx) is not None
        assert chroot.processes_in(other) != []

        sandbox.down(spare, progress)
        assert chroot.processes_in(other) == []
        assert chroot.mounts_under(other) == []
        assert not any(i["running"] for i in sandbox.status(spare)["instances"].values())
    finally:
        chroot.kill_all_in(other)
        chroot.unmount_all(other)
    # The lane the other tests use is untouched.
    assert sandbox.version(box, box.pbx) is not None
    assert sandbox.version(box, box.phones) is not None


def test_given_a_lane_then_every_port_differs_from_every_other_lane() -> None:
    seen: dict[int, str] = {}
    for lane in range(sandbox.MAX_LANE + 1):
        for instance in sandbox.lane_instances(lane):
            ports = [instance.http_port, instance.sip_port, *range(*instance.rtp_ports)]
            if instance.ami_port is not None:
                ports.append(instance.ami_port)
            for port in ports:
                assert port not in seen, f"{instance.name} reuses {port} of {seen[port]}"
                seen[port] = instance.name
