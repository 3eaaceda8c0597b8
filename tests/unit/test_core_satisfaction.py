"""The satisfaction question after the operator hangs up first (S4): the answer in the outcome.

The dialplan hook reports the question like every prompt (``UserEvent: IvrAgentPrompt``) and
the key pressed as ``UserEvent: IvrAgentSurvey`` with ``Digit`` on the caller's channel; the
outcome's ``extra["satisfaction"]`` says what the caller answered.
"""

from __future__ import annotations

from typing import Any

import pytest

from ivr_agent.core.config import StandardsConfig
from ivr_agent.core.events import MalformedEvent, SurveyAnswer, parse_ami
from ivr_agent.core.standards import satisfaction_verdict
from ivr_agent.core.tracker import Tracker

from .ami_table import table


def operator_hangs_up_first(after: str) -> list[dict[str, str]]:
    """Queue call answered at 3 s; the operator hangs up at 20 s; ``after`` follows; the
    caller hangs up at 40 s."""
    return table(
        f"""
        0.000  Newchannel        caller
        0.020  Newstate          caller     ChannelStateDesc=Up
        0.500  QueueCallerJoin   caller     Position=1 Count=1
        0.500  Newchannel        op1
        0.500  AgentCalled       caller>op1
        0.500  DialBegin         caller>op1
        3.000  Newstate          op1        ChannelStateDesc=Up
        3.000  DialEnd           caller>op1 DialStatus=ANSWER
        3.002  AgentConnect      caller>op1 RingTime=3 HoldTime=3
        3.003  BridgeEnter       caller     BridgeUniqueid=b1 BridgeNumChannels=1
        3.003  BridgeEnter       op1        BridgeUniqueid=b1 BridgeNumChannels=2
        3.500  ChannelTalkingStart caller
        20.000 BridgeLeave       op1        BridgeUniqueid=b1
        20.001 Hangup            op1        Cause=16
        20.002 AgentComplete     caller>op1 Reason=agent TalkTime=17 HoldTime=3
        20.003 BridgeLeave       caller     BridgeUniqueid=b1
        {after}
        40.000 Hangup            caller     Cause=16 Cause-txt=Normal~Clearing
        """
    )


ASKED = """
        20.100 UserEvent caller UserEvent=IvrAgentPrompt Prompt=satisfaction Phase=started
        25.900 UserEvent caller UserEvent=IvrAgentPrompt Prompt=satisfaction Phase=finished
"""


def outcome_of(rows: list[dict[str, str]]) -> dict[str, Any]:
    tracker = Tracker(StandardsConfig(), "pbx1")
    outcomes = []
    for fields in rows:
        event = parse_ami(fields)
        if event is not None:
            outcomes.extend(tracker.feed(event).outcomes)
    assert len(outcomes) == 1
    return outcomes[0].to_json() | {"extra": outcomes[0].extra}


@pytest.mark.parametrize(
    ("digit", "expected"),
    [("1", "satisfied"), ("2", "suggestion"), ("", "no_answer"), ("7", "invalid")],
)
def test_given_the_question_asked_when_a_key_is_reported_then_the_outcome_carries_it(
    digit: str, expected: str
) -> None:
    answer = f"26.400 UserEvent caller UserEvent=IvrAgentSurvey Digit={digit}"
    outcome = outcome_of(operator_hangs_up_first(ASKED + answer))
    assert outcome["extra"]["satisfaction"] == expected
    assert [p["prompt"] for p in outcome["prompts_played"]] == ["satisfaction"]
    # The survey after the operator left is not talk time and not a silent caller.
    assert outcome["talk_seconds"] == 16.998  # AgentConnect 3.002 s → operator gone 20.0 s
    assert outcome["silence"] == "none"


def test_given_no_question_played_then_no_satisfaction_key() -> None:
    outcome = outcome_of(operator_hangs_up_first(""))
    assert "satisfaction" not in outcome["extra"]


def test_given_the_question_could_not_be_played_then_no_answer_is_claimed() -> None:
    failed = (
        "20.100 UserEvent caller UserEvent=IvrAgentPrompt Prompt=satisfaction Phase=finished"
        " Played=no\n20.200 UserEvent caller UserEvent=IvrAgentSurvey Digit="
    )
    outcome = outcome_of(operator_hangs_up_first(failed))
    assert "satisfaction" not in outcome["extra"]
    assert outcome["prompts_played"][0]["played"] is False


def test_given_a_survey_user_event_then_parsed_into_a_typed_answer() -> None:
    (fields,) = table("1.0 UserEvent caller UserEvent=IvrAgentSurvey Digit=2")
    event = parse_ami(fields)
    assert isinstance(event, SurveyAnswer)
    assert (event.digit, event.linkedid) == ("2", fields["Linkedid"])


@pytest.mark.parametrize("digit", ["12", "x", "1; DROP"])
def test_given_a_bad_digit_then_malformed_names_the_field(digit: str) -> None:
    (fields,) = table("1.0 UserEvent caller UserEvent=IvrAgentSurvey")
    fields["Digit"] = digit
    with pytest.raises(MalformedEvent, match="Digit"):
        parse_ami(fields)


def test_satisfaction_verdict_needs_the_question_played() -> None:
    assert satisfaction_verdict([("satisfaction", True)], "1") == "satisfied"
    assert satisfaction_verdict([("hold_reminder", True)], "1") is None
    assert satisfaction_verdict([("satisfaction", False)], None) is None
