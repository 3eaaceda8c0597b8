"""The simulator's ``survey_digit``: the key a caller presses after the operator hangs up."""

from __future__ import annotations

from typing import Any

import pytest

from ivr_agent.sim import scenario
from ivr_agent.sim.scenario import ScenarioError


def _call(**fields: Any) -> dict[str, Any]:
    base = {"id": "c", "caller": "13800138000", "operator": "001", "answer_after": 1.0}
    return {"calls": [base | {"talk": 5.0, "hangup": "operator"} | fields]}


def test_given_the_shipped_scenario_then_the_caller_answers_1_after_the_operator_left() -> None:
    (call,) = scenario.load("operator_hangs_up_first").calls
    assert (call.hangup, call.survey_digit) == ("operator", "1")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"survey_digit": "12"}, "survey_digit must be one key"),
        ({"survey_digit": 1}, "survey_digit must be one key"),
        ({"survey_digit": "1", "hangup": "caller"}, "survey_digit needs hangup = 'operator'"),
    ],
)
def test_given_a_bad_survey_digit_then_the_error_names_it(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ScenarioError, match=message):
        scenario.parse(_call(**fields))
