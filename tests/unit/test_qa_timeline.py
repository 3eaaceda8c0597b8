"""The QA replay timeline (qa/timeline.py) and waveform peaks (recordings/waveform.py): given a
stored call, its timeline and the recording's start, then the markers and their offsets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ivr_agent.qa.timeline import qa_markers
from ivr_agent.recordings.waveform import NotPcm16, peaks
from tests.integration.qa_support import make_wav

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def _iso(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def _event(seconds: float, kind: str, **details: Any) -> dict[str, Any]:
    return {"at": _iso(seconds), "kind": kind, "channel": "PJSIP/trunk-1", "details": details}


CALL = {
    "offered_at": _iso(0),
    "wait_started_at": _iso(4),
    "answered_at": _iso(10),
    "ended_at": _iso(60),
    "rings": 1,
    "operator_id": "003",
    "holds": [{"started_at": _iso(20), "ended_at": _iso(32)}],
}
TIMELINE = [
    _event(0.5, "UserEvent", prompt="greeting_external", phase="started", played=True),
    _event(3.5, "UserEvent", prompt="greeting_external", phase="finished", played=True),
    _event(10.1, "UserEvent", prompt="operator_intro", phase="started", played=True),
    _event(12.0, "ChannelTalkingStart"),
    _event(16.5, "ChannelTalkingStop", duration_ms=2000),
    _event(16.6, "UserEvent", prompt="operator_intro", phase="finished", played=True),
    _event(30.0, "UserEvent", prompt="hold_reminder", phase="finished", played=False),
]


def _by_kind(markers: list[Any]) -> dict[str, list[tuple[float, float | None]]]:
    found: dict[str, list[tuple[float, float | None]]] = {}
    for m in markers:
        found.setdefault(m.kind, []).append((m.start, m.end))
    return found


def test_given_a_recording_from_the_answer_then_offsets_count_from_its_start() -> None:
    markers = qa_markers(CALL, TIMELINE, T0 + timedelta(seconds=10.2), [])
    kinds = _by_kind(markers)
    assert kinds["offered"] == [(-10.2, None)]
    assert kinds["ringing"] == [(pytest.approx(-6.2), pytest.approx(-0.2))]
    assert kinds["answer"] == [(pytest.approx(-0.2), None)]
    assert kinds["hold"] == [(pytest.approx(9.8), pytest.approx(21.8))]
    assert kinds["hangup"] == [(pytest.approx(49.8), None)]
    # The talk lasted duration_ms from its start (the stop is reported late).
    assert kinds["talk"] == [(pytest.approx(1.8), pytest.approx(3.8))]
    # Silence of 5 s or more after the answer: from the end of the talk to the hang-up.
    assert kinds["silence"] == [(pytest.approx(3.8), pytest.approx(49.8))]
    labels = [m.label for m in markers if m.kind == "prompt"]
    assert labels == ["greeting_external", "operator_intro", "hold_reminder (not played)"]
    assert [m.start for m in markers] == sorted(m.start for m in markers)


def test_given_pauses_then_closed_and_open_pauses_are_drawn() -> None:
    pauses = [
        (T0 + timedelta(seconds=15), "pause"),
        (T0 + timedelta(seconds=18), "resume"),
        (T0 + timedelta(seconds=40), "pause"),
    ]
    kinds = _by_kind(qa_markers(CALL, [], T0 + timedelta(seconds=10), pauses))
    assert kinds["pause"] == [(5.0, 8.0), (30.0, 50.0)]
    # Without talk, the whole answered call is one silence.
    assert kinds["silence"] == [(0.0, 50.0)]


def test_given_no_recording_then_offsets_count_from_the_offer() -> None:
    unanswered = {**CALL, "answered_at": None, "holds": []}
    kinds = _by_kind(qa_markers(unanswered, [], None))
    assert kinds["offered"] == [(0.0, None)]
    assert kinds["ringing"] == [(4.0, 60.0)]
    assert "answer" not in kinds
    assert "silence" not in kinds


def test_peaks_follow_the_audio_and_refuse_what_is_not_16_bit_pcm() -> None:
    levels = peaks(make_wav(2.0), 4)
    assert levels[0] > 0.3
    assert levels[1] > 0.3
    assert levels[2:] == [0.0, 0.0]
    with pytest.raises(NotPcm16):
        peaks(b"RIFF\x00\x00\x00\x00WAVE", 4)
    with pytest.raises(ValueError, match="buckets"):
        peaks(make_wav(0.1), 0)
