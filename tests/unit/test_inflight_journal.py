"""The in-flight journal: calls in flight survive the agent's death (issue 14, bug found by the
chaos run: a call in flight when the agent was killed, ending before the new agent logged in,
got no outcome at all).

A captured sandbox stream (``overlapping``: three calls on top of each other) is fed to an
agent that "dies" in the middle — its objects dropped without closing anything, as SIGKILL
leaves them — and a new agent rebuilds the calls from the journal file alone.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ivr_agent.calls import inflight
from ivr_agent.calls.inflight import InflightJournal
from ivr_agent.calls.ingest import Ingest
from ivr_agent.core.config import StandardsConfig
from ivr_agent.core.outcome import CallOutcome
from ivr_agent.core.tracker import FinishedCall, Tracker
from ivr_agent.pbx.capture import read_capture

CAPTURE = Path(__file__).resolve().parents[1] / "fixtures" / "captures" / "overlapping.jsonl"
#: The calls of the capture.
CALLS = 4
RESTARTED = "agent restarted; events missed while it was down"
#: Every journal a test opened: a "killed" agent's journal stays open for the rest of the
#: test, as the dead process's file would; the files are closed once the test is over.
_opened: list[InflightJournal] = []


@pytest.fixture(autouse=True)
def _close_journals() -> Iterator[None]:
    yield
    while _opened:
        _opened.pop().close()


def journal_at(path: Path) -> InflightJournal:
    """A journal on ``path``, closed at the end of the test if the test leaves it open."""
    journal = InflightJournal(path)
    _opened.append(journal)
    return journal


def agent(journal_path: Path) -> tuple[Ingest, list[CallOutcome]]:
    """A fresh agent's ingest path with its journal at ``journal_path``; its outcomes."""
    stored: list[CallOutcome] = []

    def finished(call: FinishedCall) -> None:
        stored.append(call.outcome)

    journal = journal_at(journal_path)
    ingest = Ingest(Tracker(StandardsConfig(), "pbx1"), finished, journal=journal)
    ingest.restore(journal.recover())
    return ingest, stored


def fed(journal_path: Path, stream: list[dict[str, str]]) -> tuple[Ingest, list[CallOutcome]]:
    """An agent that was given ``stream``, then is left as SIGKILL leaves it (nothing
    closed, nothing drained): the caller drops it."""
    ingest, stored = agent(journal_path)
    for raw in stream:
        ingest.on_ami_event(raw, 0.0)
    return ingest, stored


def events() -> list[dict[str, str]]:
    return list(read_capture(CAPTURE))


def whole_run() -> dict[str, CallOutcome]:
    """The outcomes of the capture fed to one agent that never died."""
    ingest, stored = agent(Path("/nonexistent/never-written"))
    ingest.journal = None
    for raw in events():
        ingest.on_ami_event(raw, 0.0)
    return {o.call_id: o for o in stored}


def cut_in_the_middle() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The capture split where the most of its calls are in flight and answered."""
    stream = events()
    ingest, _ = agent(Path("/nonexistent/never-written"))
    ingest.journal = None
    best, cut = 0, 0
    for index, raw in enumerate(stream):
        ingest.on_ami_event(raw, 0.0)
        answered = sum(1 for s in ingest.tracker.in_progress() if s.answered_at is not None)
        if answered > best:
            best, cut = answered, index + 1
    assert best >= 2, "the capture never has two answered calls in flight at once"
    return stream[:cut], stream[cut:]


def without_outcome_fields(outcome: CallOutcome, *names: str) -> dict[str, Any]:
    data = outcome.model_dump(mode="json")
    for name in names:
        data.pop(name)
    return data


def test_given_calls_in_flight_when_the_agent_dies_and_a_new_one_reads_the_journal_then_every_call_is_measured_as_before(  # noqa: E501
    tmp_path: Path,
) -> None:
    journal = tmp_path / "calls-in-flight.pbx1.jsonl"
    before, after = cut_in_the_middle()
    _, stored_first = fed(journal, before)

    second, stored_second = agent(journal)
    assert second.stats.calls_restored >= 2
    for raw in after:
        second.on_ami_event(raw, 0.0)

    # No event was missed here (the stream went on where it stopped): the very same outcomes.
    assert {o.call_id: o for o in stored_first + stored_second} == whole_run()


def test_given_calls_that_ended_while_no_agent_ran_when_the_new_agent_lists_the_pbx_then_each_is_stored_incomplete(  # noqa: E501
    tmp_path: Path,
) -> None:
    journal = tmp_path / "calls-in-flight.pbx1.jsonl"
    before, _missed = cut_in_the_middle()
    first, _ = fed(journal, before)
    in_flight = {s.call_id for s in first.tracker.in_progress()}

    second, stored = agent(journal)
    second.on_resync([], 1_800_000_000.0)  # the PBX lists no channel: they all ended

    assert {o.call_id for o in stored} == in_flight
    whole = whole_run()
    for outcome in stored:
        assert outcome.complete is False
        assert outcome.incomplete_reason is not None
        assert outcome.incomplete_reason.startswith(RESTARTED)
        assert "channels were gone" in outcome.incomplete_reason
        # What was measured before the death stands: the answer and its ring count.
        assert outcome.answered_at == whole[outcome.call_id].answered_at
        assert outcome.rings == whole[outcome.call_id].rings
    assert len(second.tracker) == 0
    assert second.journal is not None
    assert second.journal.stats.calls_recovered == len(in_flight)


def test_given_finished_calls_when_the_agent_restarts_then_none_is_rebuilt_or_stored_twice(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "calls-in-flight.pbx1.jsonl"
    _, stored = fed(journal, events())
    assert len(stored) == CALLS

    second, stored_again = agent(journal)
    second.on_resync([], 1_800_000_000.0)
    assert second.stats.calls_restored == 0
    assert stored_again == []


def test_given_a_line_torn_by_the_crash_when_read_back_then_it_is_skipped_and_counted(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "calls-in-flight.pbx1.jsonl"
    before, _ = cut_in_the_middle()
    first, _ = fed(journal, before)
    in_flight = len(first.tracker)
    whole_lines = journal.read_text(encoding="utf-8")
    journal.write_text(whole_lines + '{"linkedid": "17', encoding="utf-8")

    second, _ = agent(journal)
    assert second.journal is not None
    assert second.journal.stats.lines_unreadable == 1
    assert second.stats.calls_restored == in_flight
    # The torn tail is gone from the rewritten file: the next line starts clean.
    assert journal.read_text(encoding="utf-8").endswith("\n")
    again = journal_at(journal)
    assert len(again.recover()) > 0
    assert again.stats.lines_unreadable == 0


def test_given_calls_keep_finishing_then_the_file_stays_near_the_size_of_the_calls_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inflight, "COMPACT_SLACK_BYTES", 0)
    journal = tmp_path / "calls-in-flight.pbx1.jsonl"
    ingest, stored = agent(journal)
    for raw in events():
        ingest.on_ami_event(raw, 0.0)
        ingest.tick(0.0)  # the agent's tick compacts
    assert len(stored) == CALLS
    assert ingest.journal is not None
    assert ingest.journal.stats.compactions > 1
    assert journal.read_text(encoding="utf-8") == ""


class FullDisk:
    """A file on a disk with no space left (a fault the test cannot make a real disk give)."""

    def write(self, _text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    def close(self) -> None:
        pass


def test_given_a_full_disk_when_space_comes_back_then_the_journal_is_whole_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = tmp_path / "calls-in-flight.pbx1.jsonl"
    before, _ = cut_in_the_middle()
    half = len(before) // 2
    ingest, _ = agent(journal)
    box = ingest.journal
    assert box is not None
    for raw in before[:half]:
        ingest.on_ami_event(raw, 0.0)
    real = box._file
    assert real is not None
    real.close()  # the disk fills: what the journal holds is written nowhere from now on
    box._file = FullDisk()  # type: ignore[assignment]
    for raw in before[half:]:
        ingest.on_ami_event(raw, 0.0)  # never raises into the AMI reader
    assert box.stats.write_failures == 1  # logged once, then held in memory
    monkeypatch.setattr(inflight, "RETRY_SECONDS", 0.0)
    ingest.tick(0.0)  # space again: the file is rewritten from memory

    # The same lines as an agent whose disk never filled keeps.
    healthy = tmp_path / "healthy.jsonl"
    control, _ = fed(healthy, before)
    assert journal_at(journal).recover() == journal_at(healthy).recover()
    second, _ = agent(journal)
    assert second.stats.calls_restored == len(control.tracker) > 0


def test_given_values_with_line_ends_or_separators_then_they_come_back_as_they_were(
    tmp_path: Path,
) -> None:
    journal = journal_at(tmp_path / "calls-in-flight.pbx1.jsonl")
    journal.recover()
    odd = {"Event": "Newchannel", "CallerIDName": "张\r\n三\x1f", "Linkedid": "1.1"}
    plain = {"Event": "Newchannel", "CallerIDName": "李四", "Linkedid": "1.1"}
    journal.record("1.1", odd)
    journal.record("1.1", plain)
    journal.record("1.2", plain)
    journal.forget("1.2")
    journal.close()
    assert journal_at(journal.path).recover() == [odd, plain]
