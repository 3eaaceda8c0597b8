"""Compare the agent's call outcomes with the simulator's ground truth.

The simulator measures every timing on the phones side (the wait from the caller's own
line: when it began hearing ringback, see ``ivr_agent.sim.ear``); the agent measures on the
PBX side from AMI. Tolerances are those of issues 4 and 13: ring, hold and talk seconds within
0.5 s; rings, answered_within_standard, abandoned, short_abandon, silence and hold_over_limit
exactly equal.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from ivr_agent.core.config import StandardsConfig

SECONDS_TOLERANCE = 0.5


def expected_silence(truth: dict[str, Any], config: StandardsConfig) -> str:
    """S3 as the simulator's ground truth implies it (speech timed on the phones side)."""
    if truth.get("answered_at") is None:
        return "none"
    answered = datetime.fromisoformat(truth["answered_at"])
    spoken = [
        datetime.fromisoformat(s["started_at"])
        for s in truth.get("speech") or []
        if s.get("started_at") and datetime.fromisoformat(s["ended_at"]) > answered
    ]
    deadline = config.silence_prompt_seconds
    if not spoken:
        return "hung_up_silent" if (truth.get("talk_seconds") or 0) >= deadline else "none"
    first = (min(spoken) - answered).total_seconds()
    return "prompted_then_spoke" if first >= deadline else "none"


#: The simulator's name for who ended a call → the outcome's (``pbx`` is the agent or PBX).
HUNG_UP_BY = {"caller": "caller", "operator": "operator", "pbx": "system"}


def truth_number(truth: dict[str, Any]) -> str:
    """The number the agent's outcome is keyed by for this ground-truth call."""
    return str(
        truth["customer_number"] if truth.get("kind") == "callback" else truth["caller_number"]
    )


def assert_matches_truth(
    outcomes: dict[str, dict[str, Any]],
    truths: list[dict[str, Any]],
    config: StandardsConfig,
    scenario: str,
    *,
    judge_hung_up_by: bool = True,
) -> None:
    """Every ground-truth call has an outcome (keyed by number) that agrees with it.

    ``judge_hung_up_by`` False: leave who hung up first out (captures recorded before the
    agent consumed the hang-up requests; tests/unit/test_core_hung_up_by.py judges those)."""
    for truth in truths:
        ours = outcomes.get(truth_number(truth))
        assert ours is not None, f"{scenario}: no outcome for {truth_number(truth)}"
        if truth.get("kind") == "callback":
            assert (ours["direction"], ours["abandoned"], ours["silence"]) == (
                "callback",
                False,
                "none",
            )
            assert (ours["answered_at"] is not None) is (truth["outcome"] == "answered")
            if truth.get("ring_seconds") is not None:
                assert ours["ring_seconds"] == pytest.approx(
                    truth["ring_seconds"], abs=SECONDS_TOLERANCE
                )
                assert ours["talk_seconds"] == pytest.approx(
                    truth["talk_seconds"], abs=SECONDS_TOLERANCE
                )
            continue
        where = f"{scenario}/{truth.get('id')}"
        assert ours["complete"] is True, where
        assert ours["operator_id"] == truth.get("operator_id"), where
        assert ours["abandoned"] is truth["abandoned"], where
        assert ours["rings"] == truth["rings"], where
        for key in ("ring_seconds", "talk_seconds"):
            if truth[key] is None:
                assert ours[key] is None, f"{where}: {key}"
            else:
                assert ours[key] == pytest.approx(truth[key], abs=SECONDS_TOLERANCE), (
                    f"{where}: {key}"
                )
        if truth["ring_seconds"] is not None:
            within = truth["ring_seconds"] < config.service_level_seconds
            assert ours["answered_within_standard"] is within, where
        holds = [h["seconds"] for h in truth.get("holds") or []]
        assert [h["seconds"] for h in ours["holds"]] == pytest.approx(
            holds, abs=SECONDS_TOLERANCE
        ), where
        assert ours["hold_over_limit"] is any(h > config.hold_reminder_seconds for h in holds)
        assert ours["silence"] == expected_silence(truth, config), (
            f"{where}: silence {ours['silence']!r}; the phones said {truth.get('speech')}, "
            f"answered {truth.get('answered_at')}; the agent's prompts {ours['prompts_played']}"
        )
        if truth["abandoned"] and truth.get("abandoned_after") is not None:
            short = truth["abandoned_after"] < config.short_abandon_seconds
            assert ours["short_abandon"] is short, where
        if judge_hung_up_by and truth.get("hung_up_by") is not None:
            # S9, from the phones' side: who sent the first BYE, or the PBX ("pbx"). An
            # operator who handed the caller over (a transfer) did not hang up on them.
            party = HUNG_UP_BY[truth["hung_up_by"]]
            assert ours["hung_up_by"] == party, where
            handed_over = truth.get("handover") is not None
            first = party == "operator" and ours["answered_at"] is not None and not handed_over
            assert ours["operator_hung_up_first"] is first, where
