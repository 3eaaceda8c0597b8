"""Helpers for the tests that need the real Asterisk 22 sandbox (PBX under test + phones).

The sandbox is brought up once per test process (provisioned first if needed, about 35 s)
and left running afterwards: `ivr-agent sandbox down` stops it. Without root or debootstrap
the tests cannot run: they skip locally and FAIL in CI (``CI=true``).

Each test process drives a lane of its own (``IVR_AGENT_SANDBOX_LANE``: a PBX + phones pair
on ports of its own, see :func:`ivr_agent.sim.sandbox.lane_instances`); under pytest-xdist
worker ``gwN`` takes lane N (tests/conftest.py sets it), so workers never see each other's
calls. Every agent under test acts on all calls of its PBX: one process per lane at a time.
A test that needs a second PBX brings up its partner lane for its duration
(:func:`partner_sandbox`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import functools
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ivr_agent.pbx.capture import read_capture
from ivr_agent.settings import load_settings
from ivr_agent.sim import chroot, runner, sandbox
from ivr_agent.sim.scenario import Scenario
from tests.support.artifacts import ARTIFACTS

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def progress(line: str) -> None:
    """Show sandbox and simulator progress in the test output (stderr)."""
    print(line, file=sys.stderr)


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"the Asterisk sandbox is required in CI: {reason}")
    pytest.skip(f"no Asterisk sandbox: {reason}")


def lane() -> int:
    """The sandbox lane of this test process."""
    return load_settings().sandbox_lane


def _pbx_lock(lane_no: int) -> Path:
    #: One test process at a time drives a lane: every agent under test answers AMI events
    #: and Stasis calls of its whole PBX, so two runs side by side would act on each other's
    #: calls.
    return Path(f"/tmp/ivr-agent-sandbox-tests-lane{lane_no}.lock")


def _hold_pbx_lock(lane_no: int) -> Any:
    """Lock ``lane_no`` for this process (waiting while another holds it); the handle, whose
    closing releases it."""
    lock_path = _pbx_lock(lane_no)
    handle = lock_path.open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        progress(f"waiting for another test process to finish with the sandbox ({lock_path})")
        fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


_LOCK_HANDLES: list[Any] = []


@functools.cache
def _up() -> sandbox.Sandbox | str:
    if os.geteuid() != 0:
        return "needs root"
    box = sandbox.Sandbox.from_settings(load_settings())
    # Held until this process exits (the handle is never closed).
    _LOCK_HANDLES.append(_hold_pbx_lock(box.lane))
    if not box.provisioned() and shutil.which("debootstrap") is None:
        return "not provisioned and debootstrap is not installed"
    try:
        sandbox.up(box, progress)
    except (sandbox.SandboxError, chroot.ChrootError) as exc:
        return str(exc)
    return box


def running_sandbox() -> sandbox.Sandbox:
    """The sandbox, up and answering; skips (fails in CI) when it cannot be had."""
    box = _up()
    if isinstance(box, str):
        _unavailable(box)
        raise AssertionError("unreachable")
    return box


@contextlib.contextmanager
def partner_sandbox() -> Iterator[sandbox.Sandbox]:
    """A second PBX lane for this test process (two-PBX tests), up and idle for the block
    and stopped after it: lane ``IVR_AGENT_SANDBOX_PARTNER_LANE``, else this process's lane
    + 9 (:func:`ivr_agent.sim.sandbox.partner_lane`: a lane no test process drives as its
    own). Locked like any lane; ``sandbox down --all`` (``.ci/run``'s exit) stops it too.
    Skips (fails in CI) when it cannot be had."""
    own = running_sandbox()
    try:
        lane_no = sandbox.partner_lane(own.lane, load_settings().sandbox_partner_lane)
    except sandbox.SandboxError as exc:
        _unavailable(str(exc))
        raise AssertionError("unreachable") from None
    box = dataclasses.replace(own, lane=lane_no)
    with _hold_pbx_lock(lane_no):
        try:
            sandbox.up(box, progress)
        except (sandbox.SandboxError, chroot.ChrootError) as exc:
            _unavailable(f"partner lane {lane_no}: {exc}")
        try:
            left = sandbox.hang_up_all(box)
            if left:
                progress(f"hung up {left} channel(s) an earlier run left on lane {lane_no}")
            yield box
        finally:
            sandbox.down(box, progress)


@dataclass(frozen=True)
class Run:
    """A finished simulator run: its ground truth and the PBX's AMI events meanwhile."""

    results: list[dict[str, Any]]
    ami: list[dict[str, str]]


def simulate(box: sandbox.Sandbox, scenario: Scenario, name: str) -> Run:
    """Run ``scenario`` against the sandbox, capturing the PBX's AMI stream to test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    config = runner.RunnerConfig.from_env_file(box.credentials_file)
    capture_path = ARTIFACTS / f"{name}.jsonl"
    with capture_path.open("w", encoding="utf-8") as capture:
        results = asyncio.run(runner.run(scenario, config, progress, capture=capture))
    (ARTIFACTS / f"{name}.truth.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results)
    )
    return Run(results=results, ami=list(read_capture(capture_path)))


async def simulate_when_free(
    scenario: Scenario, config: runner.RunnerConfig
) -> list[dict[str, Any]]:
    """Run ``scenario`` (no capture), waiting up to 10 min while another simulator run holds
    this lane's phones instance."""
    deadline = time.monotonic() + 600
    while True:
        try:
            return await runner.run(scenario, config, progress)
        except runner.SimulatorError as exc:
            if "another simulator run" not in str(exc) or time.monotonic() > deadline:
                raise
            progress(f"{exc}; retrying in 5 s")
            await asyncio.sleep(5)


async def until(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``check`` every 50 ms; the seconds it took. Fails the test after ``timeout``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started
