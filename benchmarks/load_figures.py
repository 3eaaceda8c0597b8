"""The load benchmark's figures (benchmarks/load.py): percentiles, the agent's Prometheus
histograms between two scrapes, and a step's calls against their stored rows."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ivr_agent.sim.load_calls import PlacedCall

LATENESS = "ivr_agent_prompt_lateness_seconds"
#: AMI event Timestamp (PBX clock) → its command reaching the agent's IVR: the part of a
#: prompt's lateness spent before the agent could act on the event.
ARRIVAL_SKEW = "ivr_agent_command_arrival_skew_seconds"
TARGET_P99_MS = 50.0


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def spread_ms(values: list[float]) -> dict[str, Any]:
    """n, p50, p99, max of seconds, in milliseconds."""
    if not values:
        return {"n": 0}
    p50, p99 = percentile(values, 50), percentile(values, 99)
    assert p50 is not None
    assert p99 is not None
    return {
        "n": len(values),
        "p50_ms": round(p50 * 1000, 1),
        "p99_ms": round(p99 * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


def histogram(text: str, name: str, only: str | None = None) -> dict[float, float]:
    """Cumulative bucket counts of histogram ``name`` summed over its labels (or of the
    series whose labels contain ``only``, e.g. ``prompt="hold_reminder"``): le → count."""
    out: dict[float, float] = {}
    for line in text.splitlines():
        if not line.startswith(name + "_bucket{"):
            continue
        labels, value = line.rsplit(" ", 1)
        if only is not None and only not in labels:
            continue
        le = labels.split('le="', 1)[1].split('"', 1)[0]
        bound = float("inf") if le == "+Inf" else float(le)
        out[bound] = out.get(bound, 0.0) + float(value)
    return out


def label_values(text: str, name: str, label: str) -> list[str]:
    """The values label ``label`` takes in histogram ``name``'s series."""
    found = set()
    for line in text.splitlines():
        if line.startswith(name + "_bucket{") and f'{label}="' in line:
            found.add(line.split(f'{label}="', 1)[1].split('"', 1)[0])
    return sorted(found)


def histogram_quantile(buckets: dict[float, float], q: float) -> float | None:
    """Prometheus' ``histogram_quantile``: linear inside the bucket holding rank q."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return lower
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, count
    return lower


def lateness(before: str, after: str) -> dict[str, Any]:
    """The prompts that started between two scrapes: count, p50/p99, share within target;
    the same per prompt, and the AMI arrival skew of their commands."""
    figures = _spread(before, after, LATENESS)
    if figures["n"]:
        figures["meets_target"] = figures["within_50ms"] >= 0.99
        figures["by_prompt"] = {
            prompt: _spread(before, after, LATENESS, f'prompt="{prompt}"')
            for prompt in label_values(after, LATENESS, "prompt")
        }
        figures["command_arrival_skew"] = _spread(before, after, ARRIVAL_SKEW)
    return figures


def _spread(before: str, after: str, name: str, only: str | None = None) -> dict[str, Any]:
    was, now = histogram(before, name, only), histogram(after, name, only)
    diff = {b: now[b] - was.get(b, 0.0) for b in now}
    total = diff.get(float("inf"), 0.0)
    if total <= 0:
        return {"n": 0}
    p50, p99 = histogram_quantile(diff, 0.5), histogram_quantile(diff, 0.99)
    within = diff.get(TARGET_P99_MS / 1000, 0.0) / total
    return {
        "n": int(total),
        "p50_ms": None if p50 is None else round(p50 * 1000, 1),
        "p99_ms": None if p99 is None else round(p99 * 1000, 1),
        "within_50ms": round(within, 4),
    }


def accounting(
    placed: list[PlacedCall], stored: dict[str, dict[str, Any]], start: float, end: float
) -> dict[str, Any]:
    """A step's calls against their stored rows."""
    sent = {p.number: p for p in placed if p.placed}
    rows = [stored[n] for n in sent if n in stored]
    setup = [
        r["answered_at"].timestamp() - sent[r["caller_number"]].sent_at
        for r in rows
        if r["answered_at"] is not None
    ]
    to_row = [(r["created_at"] - r["ended_at"]).total_seconds() for r in rows]
    return {
        "outcomes_stored": len(rows),
        "stored_per_placed": round(len(rows) / len(sent), 4) if sent else None,
        "missing": sorted(set(sent) - stored.keys())[:10],
        "stored_twice": sorted(n for n in sent if stored.get(n, {}).get("copies", 0) > 1)[:10],
        "answered": sum(1 for r in rows if r["answered_at"] is not None),
        "abandoned": sum(1 for r in rows if r["abandoned"]),
        "held_over_10s": sum(1 for r in rows if (r["max_hold_seconds"] or 0) > 10),
        "silent_hung_up": sum(1 for r in rows if r["silence"] == "hung_up_silent"),
        "incomplete": sum(1 for r in rows if not r["complete"]),
        # Every answered call is recorded: how its recording was kept (none: no row yet).
        "recordings": dict(
            sorted(
                Counter(
                    r.get("recording") or "none" for r in rows if r["answered_at"] is not None
                ).items()
            )
        ),
        "setup_delay": spread_ms(setup),
        "hangup_to_row": spread_ms(to_row),
        "calls_up": calls_up(rows, start, end),
    }


def calls_up(rows: list[dict[str, Any]], start: float, end: float) -> dict[str, Any]:
    """Calls up at once (offered → ended) sampled every 0.5 s over the step's second half."""
    spans = [(r["offered_at"].timestamp(), r["ended_at"].timestamp()) for r in rows]
    if not spans:
        return {}
    instants = [start + (end - start) * (0.5 + 0.5 * i / 40) for i in range(41)]
    counts = [sum(1 for a, b in spans if a <= t < b) for t in instants]
    return {"mean_second_half": round(sum(counts) / len(counts), 1), "peak": max(counts)}
