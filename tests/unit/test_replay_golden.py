"""Every shipped capture replays to exactly the outcomes and timelines it gave before.

``<scenario>.replay.jsonl`` holds what ``ivr-agent replay --drain --timeline --pbx-id golden``
printed for the capture before the core was split (see the captures' README). Replay is a
pure function of the events, so any difference is a behaviour change of the core.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr_agent.cli import main

CAPTURES = Path(__file__).resolve().parents[1] / "fixtures" / "captures"
GOLDEN = sorted(CAPTURES.glob("*.replay.jsonl"))


def test_every_capture_has_its_golden_replay() -> None:
    captures = {
        p.name.removesuffix(".jsonl")
        for p in CAPTURES.glob("*.jsonl")
        if not p.name.endswith((".truth.jsonl", ".replay.jsonl"))
    }
    assert captures == {p.name.removesuffix(".replay.jsonl") for p in GOLDEN}


@pytest.mark.parametrize("golden", GOLDEN, ids=lambda p: p.name.removesuffix(".replay.jsonl"))
def test_given_a_capture_when_replayed_then_outcomes_are_byte_for_byte_as_before(
    golden: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("IVR_AGENT_DATA_DIR", str(tmp_path))
    capture = CAPTURES / golden.name.replace(".replay.jsonl", ".jsonl")
    code = main(["replay", "--drain", "--timeline", "--pbx-id", "golden", str(capture)])
    assert code == 0
    assert capsys.readouterr().out == golden.read_text(encoding="utf-8")
