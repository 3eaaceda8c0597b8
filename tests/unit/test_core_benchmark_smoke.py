"""The ingest benchmark still runs end to end (tiny sizes), so its published figures can be
reproduced with the command in benchmarks/README.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_given_tiny_sizes_when_benchmark_runs_then_it_reports_every_figure() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "ingest.py"),
            "--events",
            "3000",
            "--rounds",
            "1",
            "--concurrent",
            "50",
            "--memory-calls",
            "200",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    for label in ("gc_default", "gc_tuned"):
        figures = results[label]
        assert figures["bare_events_per_s"] > 0
        assert figures["ingest_events_per_s"] > 0
        assert figures["calls_finished"] > 0
        assert figures["events_dispatched"] == 3000
    assert results["memory_concurrent"]["calls_in_flight"] == 50
    assert results["memory_flat"]["calls"] > 150
