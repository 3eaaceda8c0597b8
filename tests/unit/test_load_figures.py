"""The load benchmark's figures from the agent's Prometheus text: the lateness histogram
between two scrapes, its quantiles (as Prometheus' histogram_quantile), the 50 ms share."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def figures() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "load_figures", ROOT / "benchmarks" / "load_figures.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("load_figures", module)
    spec.loader.exec_module(module)
    return module


def scrape(counts: dict[str, dict[str, int]]) -> str:
    """Prometheus text of the lateness histogram: prompt → le → cumulative count."""
    lines = ["# TYPE ivr_agent_prompt_lateness_seconds histogram"]
    for prompt, buckets in counts.items():
        for le, count in buckets.items():
            lines.append(
                f'ivr_agent_prompt_lateness_seconds_bucket{{le="{le}",prompt="{prompt}"}} {count}'
            )
    return "\n".join(lines) + "\n"


def test_given_two_scrapes_then_only_the_prompts_between_them_count() -> None:
    before = scrape({"hold_reminder": {"0.025": 5, "0.05": 5, "0.1": 5, "+Inf": 5}})
    after = scrape(
        {
            "hold_reminder": {"0.025": 55, "0.05": 95, "0.1": 104, "+Inf": 105},
            "operator_intro": {"0.025": 0, "0.05": 0, "0.1": 0, "+Inf": 0},
        }
    )
    got = figures().lateness(before, after)
    assert got["n"] == 100
    assert got["within_50ms"] == 0.9
    assert got["p50_ms"] == pytest.approx(25.0)  # the 50th of 100 is the 0.025 bucket's last
    assert got["p99_ms"] == pytest.approx(100.0)  # 99th: inside (0.05, 0.1], at its top
    assert got["meets_target"] is False


def test_given_no_prompt_between_scrapes_then_no_figures() -> None:
    text = scrape({"hold_reminder": {"0.05": 3, "+Inf": 3}})
    assert figures().lateness(text, text) == {"n": 0}


def test_given_a_rank_inside_a_bucket_then_the_quantile_is_interpolated() -> None:
    buckets = {0.01: 0.0, 0.05: 10.0, float("inf"): 10.0}
    assert figures().histogram_quantile(buckets, 0.5) == pytest.approx(0.03)
