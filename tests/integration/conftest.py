"""Integration fixtures: the real Asterisk 22 sandbox (PBX under test + phones instance).

The sandbox is brought up once per test session (provisioned first if needed, about a
minute) and left running afterwards: `ivr-agent sandbox down` stops it. Without root or
debootstrap the tests cannot run: they skip locally and FAIL in CI (``CI=true``).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ivr_agent.settings import load_settings
from ivr_agent.sim import runner, sandbox
from ivr_agent.sim.capture import read_capture
from ivr_agent.sim.scenario import Scenario

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"the Asterisk sandbox is required in CI: {reason}")
    pytest.skip(f"no Asterisk sandbox: {reason}")


@pytest.fixture(scope="session")
def box() -> sandbox.Sandbox:
    """A running sandbox (both instances answering); fails in CI if it cannot be had."""
    if os.geteuid() != 0:
        _unavailable("needs root")
    the_box = sandbox.Sandbox.from_settings(load_settings())
    if not the_box.provisioned() and shutil.which("debootstrap") is None:
        _unavailable("not provisioned and debootstrap is not installed")
    try:
        sandbox.up(the_box, lambda line: print(line, file=sys.stderr))
    except (sandbox.SandboxError, sandbox.chroot.ChrootError) as exc:
        _unavailable(str(exc))
    return the_box


@dataclass(frozen=True)
class Run:
    """A finished simulator run: its ground truth and the PBX's AMI events meanwhile."""

    results: list[dict[str, Any]]
    ami: list[dict[str, Any]]


def simulate(box: sandbox.Sandbox, scenario: Scenario, name: str) -> Run:
    """Run ``scenario`` against the sandbox, capturing the PBX's AMI stream to test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    config = runner.RunnerConfig.from_env_file(box.credentials_file)
    capture_path = ARTIFACTS / f"{name}.jsonl"
    with capture_path.open("w", encoding="utf-8") as capture:
        results = asyncio.run(
            runner.run(scenario, config, lambda line: print(line, file=sys.stderr), capture=capture)
        )
    (ARTIFACTS / f"{name}.truth.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results)
    )
    return Run(results=results, ami=read_capture(capture_path))
