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


def test_given_two_lanes_up_when_one_is_downed_then_the_other_runs_on_until_it_is_too(
    box: sandbox.Sandbox, tmp_path: Path
) -> None:
    # Other test processes use this root's lanes right now: the test brings two lanes of its
    # own up and down in a bind mount of the root (the same files, a root directory of its
    # own for chroot, mounts and processes).
    other = tmp_path / "root"
    other.mkdir()
    subprocess.run(["mount", "--bind", str(box.root), str(other)], check=True)
    # The two highest worker lanes but this worker's own (their ports must be free; the
    # partner lanes above them are the two-PBX tests').
    spare_lane, neighbour_lane = [
        n for n in range(sandbox.WORKER_LANES - 1, 0, -1) if n != box.lane
    ][:2]
    spare = dataclasses.replace(box, root=other, state_dir=tmp_path / "state", lane=spare_lane)
    neighbour = dataclasses.replace(spare, lane=neighbour_lane)
    try:
        for lane in (spare, neighbour):
            status = sandbox.up(lane, progress)
            assert all(i["running"] for i in status["instances"].values())
            assert sandbox.version(lane, lane.pbx) is not None

        # A lane's `down` leaves the neighbour's calls alone, and the root mounted for it.
        sandbox.down(spare, progress)
        assert not any(i["running"] for i in sandbox.status(spare)["instances"].values())
        assert sandbox.version(neighbour, neighbour.pbx) is not None
        assert chroot.mounts_under(other) != []

        # The last lane's `down` leaves no process and no mount.
        sandbox.down(neighbour, progress)
        assert chroot.processes_in(other) == []
        assert chroot.mounts_under(other) == []
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
