"""The monthly assessment's overall score: a weighted mean on 0–100 of 0–1 figures (QA
divided by 5), figures without a value left out with their weight; weights as a setting."""

from __future__ import annotations

import pytest

from ivr_agent.reports.score import overall_score
from ivr_agent.settings import SettingsError, load_settings


def test_given_weights_then_the_score_is_their_weighted_mean_with_its_formula() -> None:
    values = {"service_level": 0.5, "qa_satisfaction_index": 4.0, "satisfaction_rate": None}
    weights = {"service_level": 3.0, "qa_satisfaction_index": 1.0, "satisfaction_rate": 2.0}
    score = overall_score(values, weights)
    assert score.value == 57.5  # 100 × (3 × 0.5 + 1 × 0.8) / 4; satisfaction has no value
    assert score.formula == (
        "100 × (3×service_level(0.500) + 1×qa_satisfaction_index/5(0.800)) / 4 = 57.5"
    )


def test_given_no_weighed_value_then_no_score() -> None:
    assert overall_score({"service_level": None}, {"service_level": 1.0}).value is None


def test_given_the_setting_then_weights_are_read_and_unknown_figures_refused() -> None:
    settings = load_settings(assessment_weights="service_level=0.6,qa_satisfaction_index=0.4")
    assert settings.assessment_weight_map == {"service_level": 0.6, "qa_satisfaction_index": 0.4}
    assert load_settings().assessment_weight_map == {}
    with pytest.raises(SettingsError, match="ASSESSMENT_WEIGHTS"):
        load_settings(assessment_weights="asa_seconds=1")
