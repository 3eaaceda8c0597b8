"""The load benchmark's short version (issue 20): a small ramp and a small concurrent step
with holds, silent callers and abandons, against the sandbox's load desks.

``benchmarks/load.py`` runs as its own process on this test process's lane (whose lock the
sandbox fixture holds: ``--lock-held``), starts ``ivr-agent run`` beside a PostgreSQL of
its own, places the calls and reads back what was stored. The test asserts what must hold
at any size: every placed call has exactly one stored outcome, each kind of call happened,
and the report carries every figure of every step. The figures themselves (saturation,
CPU ratio, prompt lateness at 200 calls) are the full run's, in benchmarks/README.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.sandbox_support import lane, running_sandbox

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
#: Setting up (PostgreSQL, the agent, 10 desks' prompts) and draining: well under this.
RUN_TIMEOUT_SECONDS = 300
STEP_FIELDS = {
    "offered_rate",
    "calls_placed",
    "placed_per_second",
    "ami_events_per_second",
    "cpu_seconds",
    "cpu_ratio_agent_to_pbx",
    "prompt_lateness",
    "agent_rss_peak_mib",
    "outcomes_stored",
    "stored_per_placed",
    "setup_delay",
    "hangup_to_row",
    "calls_up",
    "machine_cpu_percent",
    "pbx_ari_ping",
}


def test_given_a_small_ramp_and_a_concurrent_step_then_every_placed_call_is_stored_once(
    tmp_path: Path,
) -> None:
    running_sandbox()  # this lane up, its lock held by this process
    report_path = tmp_path / "load.json"
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "load.py"),
        *("--steps", "2,4", "--step-seconds", "5", "--desks", "10"),
        *("--concurrent", "12", "--concurrent-seconds", "10", "--concurrent-talk", "4"),
        # Seed 1 draws every kind into the concurrent step (4 answered, 2 held, 3 silent,
        # 1 abandoning: plan_step's draw is seeded, the same every run).
        *("--concurrent-mix", "answered=1,hold=1,silent=1,abandoned=1", "--seed", "1"),
        *("--work-dir", str(tmp_path / "work"), "--out", str(report_path), "--lock-held"),
    ]
    env = {**os.environ, "IVR_AGENT_SANDBOX_LANE": str(lane())}
    run = subprocess.run(
        command,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    assert report_path.exists(), f"no report (exit {run.returncode}):\n{run.stderr[-4000:]}"
    report = json.loads(report_path.read_text(encoding="utf-8"))
    steps = report["steps"]
    brief = json.dumps({k: v for k, v in report.items() if k != "steps"}, indent=1)
    assert run.returncode == 0, brief + run.stderr[-3000:]
    assert [s["step"] for s in steps] == ["ramp-2", "ramp-4", "concurrent-12"], brief
    assert report["calls_placed"] >= 40, brief
    assert report["outcomes_stored"] == report["calls_placed"], brief
    for step in steps:
        assert step.keys() >= STEP_FIELDS, step
        assert step["stored_per_placed"] == 1.0, step
        assert step["stored_twice"] == [], step
        assert step["cpu_seconds"]["agent"] > 0, step
        assert step["cpu_seconds"]["pbx"] > 0, step
        assert step["ami_events_per_second"] > 0, step
        assert step["hangup_to_row"]["n"] == step["outcomes_stored"], step
        # The PBX answered the benchmark's pings through the step (the lateness floor).
        assert step["pbx_ari_ping"]["n"] >= 1, step
        assert 0 < step["machine_cpu_percent"]["busy"] <= 100, step
    # The concurrent step's kinds reached the agent as they should: a hold over 10 s, a
    # silent caller hung up by the agent after its prompts, a caller who gave up.
    concurrent = steps[-1]
    assert concurrent["held_over_10s"] >= 1, concurrent
    assert concurrent["silent_hung_up"] >= 1, concurrent
    assert concurrent["abandoned"] >= 1, concurrent
    assert concurrent["prompt_lateness"]["n"] >= 1, concurrent
    assert report["at_concurrent"]["step"] == "concurrent-12", brief
