"""The chaos run's short version (issue 14): a minute and a half of mixed sandbox traffic
(18 calls, as many as the first three-minute version placed) and callbacks while the agent is
SIGKILLed and restarted and PostgreSQL is stopped and started.

``benchmarks/chaos.py`` runs as its own process on this test process's lane (whose lock
the sandbox fixture holds: ``--lock-held``), starts the agent as ``ivr-agent run`` beside a
PostgreSQL of its own, injects the two faults at seeded times and accounts for everything
at the end. Any violation fails the test with the run's report: a call placed with no
stored outcome or two, an outcome with no call, a callback dialled twice or outside its
window, an answered callback without its verified recording, the dashboard's counts not
the database's. The 20-minute run and the 60-minute soak are in benchmarks/README.md.
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
#: Setting up (PostgreSQL, the agent) and the drain after the traffic: well under this.
RUN_TIMEOUT_SECONDS = 900


def test_given_mixed_traffic_with_an_agent_kill_and_a_database_outage_then_nothing_is_lost(
    tmp_path: Path,
) -> None:
    running_sandbox()  # this lane up, its lock held by this process
    report_path = tmp_path / "chaos.json"
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "chaos.py"),
        # The run lasts its traffic + 60 s for the callbacks + the drain: about 3 minutes.
        *("--minutes", "1.5", "--rate", "0.2", "--seed", "7"),
        *("--faults", "agent_kill,pg_outage"),
        *("--work-dir", str(tmp_path / "work"), "--out", str(report_path)),
        "--lock-held",
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
    summary = json.dumps(
        {k: report.get(k) for k in ("faults", "inbound", "callbacks", "violations")},
        indent=1,
        ensure_ascii=False,
    )
    assert report["violation_count"] == 0, summary
    assert run.returncode == 0, run.stderr[-4000:]
    # The faults happened, and the traffic was real: every call placed is stored once.
    assert {f["kind"] for f in report["faults"]} == {"agent_kill", "pg_outage"}, summary
    inbound = report["inbound"]
    assert inbound["simulated"] >= 10, summary
    assert inbound["stored"] == inbound["reached_pbx"] - len(inbound["unobservable"]), summary
    assert report["agent_starts"] >= 2, summary
