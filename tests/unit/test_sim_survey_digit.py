"""The simulator's ``survey_digit``: the key a caller presses after the operator hangs up or
hands the caller over to the satisfaction question (``hangup = "handover"``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ivr_agent.sim import scenario
from ivr_agent.sim.scenario import ScenarioError

REPO = Path(__file__).resolve().parents[2]


def _call(**fields: Any) -> dict[str, Any]:
    base = {"id": "c", "caller": "13800138000", "operator": "001", "answer_after": 1.0}
    return {"calls": [base | {"talk": 5.0, "hangup": "operator"} | fields]}


def test_given_the_shipped_scenario_then_the_caller_answers_1_after_the_operator_left() -> None:
    (call,) = scenario.load("operator_hangs_up_first").calls
    assert (call.hangup, call.survey_digit) == ("operator", "1")


def test_given_the_hand_over_scenario_then_the_caller_answers_1_after_the_hand_over() -> None:
    (call,) = scenario.load("operator_hands_over_to_survey").calls
    assert (call.hangup, call.survey_digit) == ("handover", "1")
    # The sandbox PBX sends the operators' transfers to that extension on to the hook.
    dialplan = (REPO / "docker" / "asterisk" / "extensions.conf").read_text(encoding="utf-8")
    target = f"exten => {scenario.HANDOVER_EXTENSION},1,Goto(ivr-agent-survey-handover,s,1)"
    assert target in dialplan


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"survey_digit": "12"}, "survey_digit must be one key"),
        ({"survey_digit": 1}, "survey_digit must be one key"),
        ({"survey_digit": "1", "hangup": "caller"}, "survey_digit needs hangup = 'operator'"),
        ({"hangup": "transfer"}, "hangup must be caller, operator or handover"),
    ],
)
def test_given_a_bad_survey_digit_then_the_error_names_it(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ScenarioError, match=message):
        scenario.parse(_call(**fields))
