"""Breach kinds: one definition (core/breaches.py) that the live feed, the QA list and the
SQL of the dashboard's latest breaches all use."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from ivr_agent.core.breaches import (
    BREACH_LABELS,
    BREACHES,
    STANDARD_BREACHES,
    breaches_of,
    low_satisfaction,
    standard_breaches,
)
from ivr_agent.db.breaches import STANDARD_BREACH_SQL
from ivr_agent.qa.listing import breaches_of as qa_breaches_of
from tests.support.outcomes import sample_outcome


def test_every_breach_has_a_label_and_the_sql_covers_every_standard_breach() -> None:
    assert set(BREACH_LABELS) == set(BREACHES)
    assert tuple(STANDARD_BREACH_SQL) == STANDARD_BREACHES
    assert BREACHES[: len(STANDARD_BREACHES)] == STANDARD_BREACHES


def test_given_unanswered_call_without_ring_verdict_when_judged_then_no_late_answer() -> None:
    outcome = dataclasses.replace(
        sample_outcome(), answered_at=None, answered_within_standard=False
    )
    assert "late_answer" not in standard_breaches(outcome)


@pytest.mark.parametrize(
    ("satisfaction", "qa_index", "low"),
    [
        (None, None, False),
        ("suggestion", None, True),
        ("satisfied", 2.8, True),
        ("satisfied", 3.0, False),
        (None, 5.0, False),
    ],
)
def test_given_caller_answer_and_qa_index_when_judged_then_low_satisfaction(
    satisfaction: str | None, qa_index: float | None, low: bool
) -> None:
    assert low_satisfaction(satisfaction, qa_index) is low


def test_given_stored_row_when_listed_for_qa_then_standards_then_low_satisfaction() -> None:
    outcome = dataclasses.replace(sample_outcome(), answered_within_standard=False)
    row = _row(outcome, {"satisfaction": "suggestion"})
    # Its record was entered at hang-up: in time (S8), so no late_wrap_up.
    listed = qa_breaches_of(row, None, outcome.ended_at)
    assert listed == ("late_answer", "long_hold", "low_satisfaction")
    assert listed == breaches_of(outcome, "suggestion", None)


def _row(outcome: Any, extra: dict[str, Any], record_expected: bool = True) -> SimpleNamespace:
    """A stored ``calls`` row as the QA list reads it."""
    return SimpleNamespace(
        **dataclasses.asdict(outcome) | {"extra": extra, "record_expected": record_expected}
    )


def test_given_a_call_stored_before_records_existed_then_never_a_late_wrap_up() -> None:
    outcome = sample_outcome()
    row = _row(outcome, {}, record_expected=False)
    later = outcome.ended_at + timedelta(days=1)
    assert "late_wrap_up" not in qa_breaches_of(row, None, None, now=later)


def test_given_stored_row_without_record_long_after_its_end_then_late_wrap_up_listed_last() -> None:
    outcome = sample_outcome()
    row = _row(outcome, {"satisfaction": "suggestion"})
    later = outcome.ended_at + timedelta(minutes=11)
    listed = qa_breaches_of(row, None, None, now=later)
    assert listed == ("long_hold", "low_satisfaction", "late_wrap_up")
    assert listed == breaches_of(outcome, "suggestion", None, wrap_up_late=True)
    # Within the wrap-up time, nothing is late yet.
    assert "late_wrap_up" not in qa_breaches_of(row, None, None, now=outcome.ended_at)


def test_given_a_callback_call_without_record_then_no_late_wrap_up() -> None:
    outcome = dataclasses.replace(sample_outcome(), direction="callback")
    row = _row(outcome, {})
    later = outcome.ended_at + timedelta(hours=1)
    assert "late_wrap_up" not in qa_breaches_of(row, None, None, now=later)


def test_a_specialist_call_back_is_late_by_its_seconds_past_three_minutes() -> None:
    from datetime import UTC, datetime, timedelta

    from ivr_agent.core.breaches import late_specialist_seconds

    asked = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    later = asked + timedelta(minutes=10)
    assert late_specialist_seconds(asked, asked + timedelta(seconds=180), later) is None
    assert late_specialist_seconds(asked, asked + timedelta(seconds=200), later) == 20.0
    # Not reached yet: late by the seconds so far, once the three minutes have passed.
    assert late_specialist_seconds(asked, None, asked + timedelta(seconds=100)) is None
    assert late_specialist_seconds(asked, None, asked + timedelta(seconds=250)) == 70.0
