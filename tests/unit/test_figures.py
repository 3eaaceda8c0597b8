"""The pure figures layer: ratios, the short-abandon setting, and zero denominators."""

from __future__ import annotations

import pytest

from ivr_agent.core.figures import Counts, FigureSettings, figures

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
