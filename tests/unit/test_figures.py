"""The pure figures layer: ratios, the short-abandon setting, and zero denominators."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr_agent.core.figures import (
    CallbackCounts,
    ComplaintCounts,
    Counts,
    FigureSettings,
    callback_figures,
    complaint_figures,
    figures,
    trend_values,
)

#: offered 10, answered 7 (5 within), abandoned 3 of which 2 short.
COUNTS = Counts(
    offered=10,
    answered=7,
    answered_within_standard=5,
    abandoned=3,
    short_abandons=2,
    ring_seconds_sum=70.0,
    longest_wait_seconds=33.3,
)


@pytest.mark.parametrize(
    ("exclude", "expected"),
    [
        # 5 / (7 + 3 − 2), 7 / (10 − 2)
        (True, {"service_level": 0.625, "answer_rate": 0.875, "asa_seconds": 10.0}),
        # 5 / (7 + 3), 7 / 10
        (False, {"service_level": 0.5, "answer_rate": 0.7, "asa_seconds": 10.0}),
    ],
)
def test_given_counts_when_short_abandons_are_excluded_or_not_then_ratios_follow(
    exclude: bool, expected: dict[str, float]
) -> None:
    got = figures(COUNTS, FigureSettings(exclude_short_abandons=exclude))
    assert {name: got[name]["value"] for name in expected} == expected


def test_given_no_calls_then_every_ratio_is_null_and_still_has_its_formula() -> None:
    got = figures(Counts(), FigureSettings())
    for name in ("service_level", "answer_rate", "asa_seconds", "longest_wait_seconds"):
        assert got[name]["value"] is None
        assert got[name]["formula"]
    assert got["service_level"]["formula"].endswith("= 0 / 0")


def test_given_only_short_abandons_then_denominators_are_zero_not_an_error() -> None:
    got = figures(Counts(offered=2, abandoned=2, short_abandons=2), FigureSettings())
    assert (got["service_level"]["value"], got["answer_rate"]["value"]) == (None, None)


def test_given_other_settings_then_formulas_state_them() -> None:
    settings = FigureSettings(ring_cycle_seconds=6.0, max_rings=4, short_abandon_seconds=3.0)
    got = figures(COUNTS, settings)
    assert "4 × 6 s = 24 s" in got["answered_within_standard"]["formula"]
    assert "within 3 s" in got["short_abandons"]["formula"]
    assert settings.to_json()["service_level_seconds"] == 24.0


def test_callback_figures_state_their_formulas_and_never_divide_by_zero() -> None:
    empty = callback_figures(CallbackCounts(), FigureSettings())
    assert empty["callbacks_due"]["value"] == 0
    assert empty["callbacks_within_30_min_rate"]["value"] is None
    assert empty["satisfaction_index"]["value"] is None
    assert all(f["formula"] for f in empty.values())
    counts = CallbackCounts(
        due=5,
        completed=3,
        open_overdue=1,
        completed_late=2,
        service_due=4,
        service_within=3,
        satisfaction_sum=12.5,
        satisfaction_scored=3,
    )
    got = callback_figures(counts, FigureSettings(callback_service_due_minutes=20))
    assert got["callbacks_overdue"]["value"] == 3
    assert got["callbacks_within_30_min_rate"]["value"] == 0.75
    assert got["satisfaction_index"]["value"] == 4.166667
    assert "within 20 min" in got["callbacks_completed_within_30_min"]["formula"]


def test_complaint_figures_are_ratios_with_their_targets_and_never_divide_by_zero() -> None:
    counts = ComplaintCounts(registered=4, resolved=3, overdue=1, escalated=1)
    got = complaint_figures(counts, 200, FigureSettings(complaint_rate_target=0.02))
    assert got["complaint_rate"]["value"] == 0.02  # 4 / 200
    assert got["complaint_rate"]["formula"] == (
        "complaints_registered / answered = 4 / 200 (target < 2 %, S7)"
    )
    assert got["complaint_resolution_rate"]["value"] == 0.75  # 3 / 4
    assert "= 3 / 4 (target 100 %, S7)" in got["complaint_resolution_rate"]["formula"]
    assert (got["complaints_overdue"]["value"], got["complaints_escalated"]["value"]) == (1, 1)
    assert "3 days" in got["complaints_overdue"]["formula"]
    empty = complaint_figures(ComplaintCounts(), 0, FigureSettings())
    assert empty["complaint_rate"]["value"] is None
    assert empty["complaint_resolution_rate"]["value"] is None
    assert all(f["formula"] for f in empty.values())


@given(
    counts=st.builds(
        Counts,
        offered=st.integers(0, 50),
        answered=st.integers(0, 50),
        answered_within_standard=st.integers(0, 50),
        abandoned=st.integers(0, 50),
        short_abandons=st.integers(0, 50),
        ring_seconds_sum=st.floats(0, 5000, allow_nan=False),
        hold_over_limit=st.integers(0, 50),
        silence_prompted_then_spoke=st.integers(0, 50),
        silence_hung_up_silent=st.integers(0, 50),
        satisfaction_satisfied=st.integers(0, 50),
        satisfaction_suggestion=st.integers(0, 50),
        satisfaction_invalid=st.integers(0, 50),
        satisfaction_no_answer=st.integers(0, 50),
    ),
    exclude=st.booleans(),
)
def test_the_history_values_are_the_summary_figures_values(counts: Counts, exclude: bool) -> None:
    settings = FigureSettings(exclude_short_abandons=exclude)
    values = trend_values(counts, settings)
    full = figures(counts, settings)
    assert values == {name: full[name]["value"] for name in values}
