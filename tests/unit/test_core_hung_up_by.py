"""Who hung up first (S9), judged from the AMI stream, against the simulator's ground truth.

Each capture of the sandbox has the phones' own account of who ended the call (``hung_up_by``
in ``<scenario>.truth.jsonl``: ``caller``, ``operator``, or ``pbx``). Replaying the capture
through the core must say the same, from the first ``HangupRequest`` (the party's own
BYE) or ``SoftHangupRequest`` (the PBX) on the caller's channel or an answered operator leg.
Captures recorded through the agent's older event filter hold neither event: their calls
say ``null`` (unknown), never a guess.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ivr_agent.core.breaches import OPERATOR_HUNG_UP_FIRST, standard_breaches
from ivr_agent.core.config import StandardsConfig
from ivr_agent.core.outcome import CallOutcome
from ivr_agent.core.replay import Replay

CAPTURES = Path(__file__).resolve().parents[1] / "fixtures" / "captures"
SCENARIOS = sorted(
    p.name.removesuffix(".truth.jsonl")
    for p in CAPTURES.glob("*.truth.jsonl")
    if not p.name.startswith("callback_")  # the customer's side of a callback has no truth
)
#: The simulator calls the PBX's own hang-up "pbx"; outcomes say "system".
TRUTH_NAMES = {"caller": "caller", "operator": "operator", "pbx": "system"}


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _outcomes(frames: list[dict[str, Any]]) -> list[CallOutcome]:
    return [done.outcome for done in Replay(StandardsConfig(), "test").run(frames, drain=True)]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_given_a_capture_then_who_hung_up_first_is_what_the_phones_saw(scenario: str) -> None:
    frames = _lines(CAPTURES / f"{scenario}.jsonl")
    outcomes = _outcomes(frames)
    truths = {t["caller_number"]: t for t in _lines(CAPTURES / f"{scenario}.truth.jsonl")}
    requests_captured = any(
        f.get("Event") in ("HangupRequest", "SoftHangupRequest") for f in frames
    )
    assert outcomes
    for outcome in outcomes:
        truth = truths[outcome.caller_number]
        if not requests_captured:
            assert outcome.hung_up_by is None, scenario
            continue
        assert outcome.hung_up_by == TRUTH_NAMES[truth["hung_up_by"]], scenario
        # S9: the operator hanging up on an answered caller is a breach.
        first = outcome.answered_at is not None and truth["hung_up_by"] == "operator"
        assert outcome.operator_hung_up_first is first, scenario
        assert (OPERATOR_HUNG_UP_FIRST in standard_breaches(outcome)) is first, scenario


def test_the_captures_cover_the_caller_the_operator_and_no_request_seen() -> None:
    seen = set()
    for scenario in SCENARIOS:
        frames = _lines(CAPTURES / f"{scenario}.jsonl")
        seen.update(o.hung_up_by for o in _outcomes(frames))
    assert {"caller", "operator", None} <= seen
