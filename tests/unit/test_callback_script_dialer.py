"""The dialer's pure rules (dial string, unanswered outcomes, results) and the call journal."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog.testing

from ivr_agent.callbacks.attempts import CHANNEL_ID
from ivr_agent.callbacks.call import CallReport, bridge_id_for, recording_name_for
from ivr_agent.callbacks.dialing import (
    attempt_result,
    channel_id_for,
    dial_string,
    unanswered_outcome,
)
from ivr_agent.callbacks.journal import Journal, JournalEntry
from ivr_agent.recordings.files import RecordingFile

ATTEMPT = "4f3e9805-2787-45fb-9941-b31aceafd598"
STORED = RecordingFile(
    recording_id="ab" * 16,
    path=f"recordings/ab/{'ab' * 16}.wav",
    sha256="0" * 64,
    bytes=1044,
    seconds=0.125,
    status="corrupt",
    reason="duration 0.125 s differs",
)


def test_given_a_number_then_it_fills_the_template() -> None:
    assert dial_string("PJSIP/{number}@trunk", "13900139001") == "PJSIP/13900139001@trunk"
    assert dial_string("PJSIP/{number}@trunk", "+8613900139001") == "PJSIP/+8613900139001@trunk"


@pytest.mark.parametrize(
    "number",
    ["139\r\n0013", "139&Local/1@x", "1390013900a", "12", "1" * 21, "", " 13900139001", "+"],
)
def test_given_anything_but_digits_then_nothing_is_dialled(number: str) -> None:
    with pytest.raises(ValueError, match="not 3-20 digits"):
        dial_string("PJSIP/{number}@trunk", number)


def test_our_ids_are_derived_from_the_attempt_and_accepted_by_the_store() -> None:
    assert CHANNEL_ID.fullmatch(channel_id_for(ATTEMPT))
    ids = {channel_id_for(ATTEMPT), bridge_id_for(ATTEMPT), recording_name_for(ATTEMPT)}
    assert len(ids) == 3
    assert all(ATTEMPT in i for i in ids)


@pytest.mark.parametrize(
    ("dial_status", "cause", "outcome"),
    [
        ("BUSY", 17, "busy"),
        ("NOANSWER", 19, "no_answer"),
        ("CANCEL", 16, "no_answer"),
        (None, 17, "busy"),
        (None, 21, "busy"),  # rejected (SIP 603): the customer's phone said no, not the customer
        (None, 19, "no_answer"),
        (None, 18, "no_answer"),
        ("CONGESTION", 34, "failed"),
        ("CHANUNAVAIL", 20, "failed"),
        (None, None, "failed"),
    ],
)
def test_given_an_unanswered_call_then_its_outcome(
    dial_status: str | None, cause: int | None, outcome: str
) -> None:
    got, why = unanswered_outcome(dial_status, cause)
    assert got == outcome
    assert why


def test_given_a_report_then_the_store_result_carries_everything() -> None:
    at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    report = CallReport(
        outcome="completed",
        reason=None,
        scores={"skill": 5},
        answered_at=at,
        ended_at=at,
        recording=STORED,
    )
    result = attempt_result(report)
    assert (result.outcome, result.answered_at, dict(result.scores)) == (
        "completed",
        at,
        {"skill": 5},
    )
    assert result.recording == STORED  # the very file the call kept, not a copy of its fields


def test_journal_round_trips_progress_and_the_stored_recording(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    assert journal.read(ATTEMPT) is None
    entry = JournalEntry(ATTEMPT, answered_at=1.5, consented=True, asked=2, scores={"skill": 4})
    journal.write(entry)
    assert journal.read(ATTEMPT) == entry
    journal.write(entry.with_(outcome="completed", stored=STORED))
    again = journal.read(ATTEMPT)
    assert again is not None
    assert again.stored == STORED
    assert journal.attempt_ids() == [ATTEMPT]
    assert not list((tmp_path / "callbacks").glob("*.partial"))
    journal.remove(ATTEMPT)
    assert journal.read(ATTEMPT) is None
    assert journal.attempt_ids() == []


def test_given_a_journal_file_of_the_previous_release_then_its_recording_reads_back(
    tmp_path: Path,
) -> None:
    # Written by an agent before the upgrade: the recording under the same keys.
    (tmp_path / "callbacks").mkdir()
    old = {
        "attempt_id": ATTEMPT,
        "answered_at": 1.5,
        "recording_name": None,
        "recording_started_at": None,
        "consented": True,
        "asked": 5,
        "scores": {},
        "playback_id": None,
        "outcome": "completed",
        "ended_at": 9.0,
        "stored": {
            "recording_id": STORED.recording_id,
            "path": STORED.path,
            "sha256": STORED.sha256,
            "bytes": 1044,
            "seconds": 0.125,
            "status": "corrupt",
            "reason": "duration 0.125 s differs",
        },
    }
    (tmp_path / "callbacks" / f"{ATTEMPT}.json").write_text(json.dumps(old))
    entry = Journal(tmp_path).read(ATTEMPT)
    assert entry is not None
    assert entry.stored == STORED


def test_journal_refuses_ids_that_could_name_another_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a plain id"):
        Journal(tmp_path).write(JournalEntry("../../etc/passwd"))


def test_an_unreadable_journal_file_is_treated_as_missing(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.write(JournalEntry(ATTEMPT))
    (tmp_path / "callbacks" / f"{ATTEMPT}.json").write_text("{not json")
    with structlog.testing.capture_logs() as logs:
        assert journal.read(ATTEMPT) is None
    assert [e["event"] for e in logs] == ["callback_journal_unreadable"]
