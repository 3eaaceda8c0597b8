"""Replaying captures: the pure replay, the ``ivr-agent replay`` command, recorded fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ivr_agent.cli import main
from ivr_agent.core.config import StandardsConfig
from ivr_agent.core.events import parse_ami
from ivr_agent.core.replay import Replay, replay
from ivr_agent.core.tracker import Tracker

from .test_core_scenarios import queue_call

CAPTURES = Path(__file__).parent.parent / "fixtures" / "captures"
CONFIG = StandardsConfig()


def _rows() -> list[dict[str, str]]:
    rows = queue_call(3.5, 40.0, extra="20 Hold op1\n 25 Unhold op1")
    return [
        {"Event": "FullyBooted", "Timestamp": "1700000000.000000", "Status": "Fully Booted"},
        *rows,
        {"Event": "Hangup", "Channel": "PJSIP/x-00000009"},  # malformed: no Timestamp …
    ]


def _write_capture(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            stamped = {**row, "received_at": "2023-11-14T22:13:20.000000+00:00"}
            out.write(json.dumps(stamped, ensure_ascii=False) + "\n")


def test_given_rows_when_replayed_then_same_outcomes_as_the_tracker_and_counts() -> None:
    rows = _rows()
    job = Replay(CONFIG, "pbx1")
    finished = list(job.run(rows))
    tracker = Tracker(CONFIG, "pbx1")
    direct = []
    for row in rows[1:-1]:
        event = parse_ami(row)
        assert event is not None
        direct.extend(tracker.feed(event).outcomes)
    assert [f.outcome.to_json_line() for f in finished] == [o.to_json_line() for o in direct]
    assert (job.stats.rows, job.stats.ignored, job.stats.malformed) == (len(rows), 1, 1)
    assert "'Timestamp' is missing" in job.stats.malformed_examples[0]


def test_given_capture_cut_mid_call_when_drained_then_incomplete_outcome() -> None:
    rows = queue_call(3.5, 40.0)[:12]
    assert replay(rows, CONFIG, "pbx1") == []
    drained = list(Replay(CONFIG, "pbx1").run(rows, drain=True))
    assert [f.outcome.complete for f in drained] == [False]


def test_given_capture_file_when_replay_command_runs_then_json_lines_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IVR_AGENT_PBX_ID", "pbx7")
    capture = tmp_path / "basic.jsonl"
    _write_capture(capture, _rows())
    assert main(["replay", str(capture)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 1
    outcome = json.loads(lines[0])
    assert (outcome["pbx_id"], outcome["operator_id"], outcome["caller_number"]) == (
        "pbx7",
        "001",
        "13800138000",
    )
    assert '"malformed": 1' in err
    # a second run prints the very same bytes
    assert main(["replay", str(capture)]) == 0
    assert capsys.readouterr().out == out


def test_given_missing_or_broken_capture_when_replayed_then_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"Event": "Hangup"}\nnot json\n', encoding="utf-8")
    assert main(["replay", str(broken)]) == 1
    assert "broken.jsonl:2" in capsys.readouterr().err


def test_given_recorded_sandbox_captures_when_replayed_then_deterministic_and_complete() -> None:
    """Every capture recorded in the real sandbox replays without errors, twice identically.

    A capture ``NAME.jsonl`` may have ``NAME.expected.jsonl`` beside it (outcome fields as
    data); then each replayed outcome must contain those fields with those values.
    """
    from ivr_agent.pbx.capture import read_capture

    for capture in sorted(CAPTURES.glob("*.jsonl")):
        if capture.name.endswith(".expected.jsonl"):
            continue
        first = Replay(CONFIG, "pbx1")
        lines = [f.outcome.to_json_line() for f in first.run(read_capture(capture))]
        again = [
            f.outcome.to_json_line() for f in Replay(CONFIG, "pbx1").run(read_capture(capture))
        ]
        assert lines == again, capture.name
        assert first.stats.malformed == 0, (capture.name, first.stats.malformed_examples)
        assert lines, f"{capture.name}: no call finished"
        expected_file = capture.with_name(capture.stem + ".expected.jsonl")
        if expected_file.exists():
            expected = [json.loads(x) for x in expected_file.read_text().splitlines() if x]
            actual = [json.loads(x) for x in lines]
            assert len(actual) == len(expected), capture.name
            for got, want in zip(actual, expected, strict=True):
                assert {k: got[k] for k in want} == want, capture.name
