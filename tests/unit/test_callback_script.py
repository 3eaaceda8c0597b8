"""The callback script (consent, five questions, closing) as a pure state machine."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr_agent.callbacks.script import (
    INDEX_NAMES,
    Ask,
    End,
    Prompt,
    ScriptError,
    Step,
    SurveyScript,
)


def names(step: Step) -> list[str]:
    return [p.name for p in step.prompts]


def script() -> SurveyScript:
    return SurveyScript("张先生", "示例公司")


def run(keys: list[str | None]) -> tuple[SurveyScript, list[Step]]:
    """Feed keys until the script ends; return it and every step it gave."""
    s = script()
    steps: list[Step] = [s.first()]
    for key in keys:
        last = steps[-1]
        if isinstance(last, End):
            break
        steps.append(s.answer(key))
    return s, steps


def test_given_the_opening_then_it_names_the_customer_and_the_company() -> None:
    first = script().first()
    assert isinstance(first, Ask)
    assert first.prompts == (
        Prompt("callback_opening", {"customer_name": "张先生", "company": "示例公司"}),
    )
    assert first.valid_keys == frozenset("12")


def test_given_consent_and_five_scores_then_completed_with_the_mean() -> None:
    s, steps = run(["1", "5", "4", "5", "5", "4"])
    assert [names(x) for x in steps] == [
        ["callback_opening"],
        # The handbooks' script: the confidentiality line, a short thanks between questions.
        ["survey_confidential", "survey_skill"],
        ["survey_thanks", "survey_attitude"],
        ["survey_thanks", "survey_timeliness"],
        ["survey_thanks", "survey_parts"],
        ["survey_thanks", "survey_overall"],
        ["callback_closing"],
    ]
    end = steps[-1]
    assert isinstance(end, End)
    assert end.outcome == "completed"
    result = s.finished()
    assert result.outcome == "completed"
    assert dict(result.scores) == dict(zip(INDEX_NAMES, [5, 4, 5, 5, 4], strict=True))
    assert result.satisfaction_index == 4.6
    assert result.consented


@pytest.mark.parametrize(
    ("key", "better"),
    [
        ("1", "later_today"),
        ("2", "tomorrow_morning"),
        ("3", "tomorrow_afternoon"),
        ("9", None),  # another key: the goodbye, no choice
        (None, None),  # no key in time: the same
    ],
)
def test_given_2_at_the_opening_then_asked_for_a_better_time_and_rescheduled(
    key: str | None, better: str | None
) -> None:
    s, steps = run(["2", key])
    assert [names(x) for x in steps] == [
        ["callback_opening"],
        ["callback_better_time"],
        ["callback_not_convenient"],
    ]
    assert isinstance(steps[1], Ask)
    assert steps[1].valid_keys == frozenset("123")
    result = s.finished()
    assert (result.outcome, result.consented, dict(result.scores)) == ("rescheduled", False, {})
    assert result.satisfaction_index is None
    assert result.better_time == better


def test_given_a_hang_up_during_the_better_time_question_then_still_not_now() -> None:
    s = script()
    s.first()
    s.answer("2")
    result = s.hung_up()
    assert (result.outcome, result.better_time) == ("rescheduled", None)


def test_given_silence_at_the_opening_then_one_repeat_then_not_now() -> None:
    _, steps = run([None, None])
    assert [names(x) for x in steps] == [
        ["callback_opening"],
        ["callback_opening"],
        ["callback_not_convenient"],
    ]
    assert isinstance(steps[-1], End)
    assert steps[-1].outcome == "rescheduled"


def test_given_a_wrong_key_at_the_opening_then_told_so_and_asked_again() -> None:
    _, steps = run(["7", "1"])
    assert names(steps[1]) == ["invalid_key", "callback_opening"]
    assert names(steps[2]) == ["survey_confidential", "survey_skill"]


def test_given_a_wrong_key_then_silence_at_the_opening_then_not_now() -> None:
    _, steps = run(["9", None])
    assert isinstance(steps[-1], End)
    assert steps[-1].outcome == "rescheduled"


def test_given_a_wrong_score_then_told_so_and_the_question_repeats_once() -> None:
    s, steps = run(["1", "9", "3", "0", "4", "5", "5", "5"])
    assert names(steps[2]) == ["survey_invalid_input", "survey_skill"]  # no thanks for that
    assert names(steps[3]) == ["survey_thanks", "survey_attitude"]
    assert names(steps[4]) == ["survey_invalid_input", "survey_attitude"]
    assert names(steps[5]) == ["survey_thanks", "survey_timeliness"]
    assert names(steps[-1]) == ["callback_closing"]
    result = s.finished()
    assert dict(result.scores) == {
        "skill": 3,
        "attitude": 4,
        "timeliness": 5,
        "parts": 5,
        "overall": 5,
    }
    assert result.outcome == "completed"
    assert result.satisfaction_index == 4.4


def test_given_silence_on_a_question_then_asked_again_without_the_invalid_prompt() -> None:
    _, steps = run(["1", None, "4"])
    assert names(steps[2]) == ["survey_skill"]
    assert names(steps[3]) == ["survey_thanks", "survey_attitude"]


def test_given_a_question_missed_twice_then_closing_and_declined_with_scores_so_far() -> None:
    s, steps = run(["1", "5", None, "#", "5"])
    assert [names(x) for x in steps[2:]] == [
        ["survey_thanks", "survey_attitude"],
        ["survey_attitude"],  # silence: asked again; then "#": a second miss
        ["callback_closing"],
    ]
    end = steps[-1]
    assert isinstance(end, End)
    assert end.outcome == "declined"
    result = s.finished()
    assert (result.outcome, result.consented) == ("declined", True)
    assert dict(result.scores) == {"skill": 5}
    assert result.satisfaction_index is None  # the index needs all five


def test_given_a_hang_up_mid_survey_then_hung_up_with_the_scores_so_far() -> None:
    s, _ = run(["1", "5", "4"])
    result = s.hung_up()
    assert result.outcome == "hung_up"
    assert dict(result.scores) == {"skill": 5, "attitude": 4}
    assert result.satisfaction_index is None


def test_given_a_hang_up_at_the_opening_then_hung_up_without_consent() -> None:
    s = script()
    s.first()
    result = s.hung_up()
    assert (result.outcome, result.consented) == ("hung_up", False)


def test_given_a_hang_up_during_the_closing_then_still_completed() -> None:
    s, steps = run(["1", "1", "2", "3", "4", "5"])
    assert isinstance(steps[-1], End)
    result = s.hung_up()
    assert result.outcome == "completed"
    assert result.satisfaction_index == 3.0


def test_given_a_hang_up_during_the_not_now_prompt_then_still_rescheduled() -> None:
    s, _ = run(["2", "2"])
    assert s.hung_up().outcome == "rescheduled"


def test_given_an_answer_after_the_end_then_script_error_naming_the_phase() -> None:
    s, _ = run(["2", "2"])
    with pytest.raises(ScriptError, match="closing"):
        s.answer("1")


def test_given_finished_before_the_end_then_script_error() -> None:
    s = script()
    s.first()
    with pytest.raises(ScriptError, match="opening"):
        s.finished()


def test_given_progress_then_a_resumed_script_asks_the_next_question() -> None:
    s = SurveyScript("张先生", "示例公司", consented=True, scores={"skill": 2}, asked=1)
    first = s.first()
    assert names(first) == ["survey_attitude"]
    for key in "4444":
        s.answer(key)
    assert s.finished().satisfaction_index == 3.6


def test_given_a_resumed_script_past_the_last_question_then_the_closing() -> None:
    s = SurveyScript("x", "y", consented=True, asked=5)
    assert names(s.first()) == ["callback_closing"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"asked": 6}, "asked"),
        ({"scores": {"skill": 6}}, "1-5"),
        ({"scores": {"mood": 3}}, "survey indices"),
    ],
)
def test_given_impossible_progress_then_value_error(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        SurveyScript("x", "y", **kwargs)  # type: ignore[arg-type]


@given(st.lists(st.sampled_from(["1", "2", "3", "4", "5", "6", "9", "*", "#", None]), max_size=40))
def test_given_any_keys_then_the_script_ends_within_bounded_steps(keys: list[str | None]) -> None:
    s = script()
    step: Step = s.first()
    asks = 0
    for key in keys + [None] * 20:
        if isinstance(step, End):
            break
        asks += 1
        step = s.answer(key)
    # At most two asks for the opening (or one and the better time) and two per question:
    # the call always ends.
    assert isinstance(step, End)
    assert asks <= 2 + 2 * len(INDEX_NAMES)
    result = s.finished()
    assert all(1 <= v <= 5 for v in result.scores.values())
    if result.satisfaction_index is not None:
        assert result.satisfaction_index == sum(result.scores.values()) / 5
    assert result.outcome in {"completed", "rescheduled", "declined"}
    assert result.consented is (result.outcome != "rescheduled")
    assert (result.outcome == "completed") is (result.satisfaction_index is not None)


def run_service(
    keys: list[str | None], *, hotline: bool = False
) -> tuple[SurveyScript, list[Step]]:
    """Like :func:`run`, for a service callback (asks whether the problem was solved)."""
    s = SurveyScript("张先生", "示例公司", ask_solved=True, hotline=hotline)
    steps: list[Step] = [s.first()]
    for key in keys:
        if isinstance(steps[-1], End):
            break
        steps.append(s.answer(key))
    return s, steps


def test_given_a_service_callback_then_the_problem_question_comes_before_the_scores() -> None:
    s, steps = run_service(["1", "1", "5", "4", "5", "5", "4"], hotline=True)
    assert [names(x) for x in steps] == [
        ["callback_opening"],
        ["survey_confidential", "survey_problem_solved"],
        ["survey_thanks", "survey_skill"],
        ["survey_thanks", "survey_attitude"],
        ["survey_thanks", "survey_timeliness"],
        ["survey_thanks", "survey_parts"],
        ["survey_thanks", "survey_overall"],
        # The closing gives the hotline number when one is configured.
        ["callback_hotline", "callback_closing"],
    ]
    assert steps[1].valid_keys == frozenset("12")
    result = s.finished()
    assert result.outcome == "completed"
    assert result.problem_solved is True
    assert result.satisfaction_index == 4.6


def test_given_the_problem_not_solved_then_follow_up_is_promised_and_the_scores_asked() -> None:
    s, steps = run_service(["1", "2", "3", "3", "3", "3", "3"])
    assert names(steps[2]) == ["survey_follow_up", "survey_skill"]
    assert names(steps[-1]) == ["callback_closing"]
    result = s.finished()
    assert result.problem_solved is False
    assert result.outcome == "completed"


@pytest.mark.parametrize(
    ("keys", "second"),
    [
        (["1", "7", "2"], ["invalid_key", "survey_problem_solved"]),
        (["1", None, "2"], ["survey_problem_solved"]),
    ],
)
def test_given_a_miss_at_the_problem_question_then_it_is_asked_once_more(
    keys: list[str | None], second: list[str]
) -> None:
    s, steps = run_service(keys)
    assert names(steps[2]) == second
    assert names(steps[3]) == ["survey_follow_up", "survey_skill"]
    assert s.problem_solved is False


def test_given_two_misses_at_the_problem_question_then_unknown_and_the_scores_go_on() -> None:
    s, steps = run_service(["1", None, "9"])
    assert names(steps[3]) == ["survey_thanks", "survey_skill"]
    assert s.problem_solved is None
    assert s.solved_asked


def test_given_a_resumed_call_before_the_problem_answer_then_the_question_is_asked_again() -> None:
    s = SurveyScript("张先生", "示例公司", ask_solved=True, consented=True)
    assert names(s.first()) == ["survey_problem_solved"]
    s = SurveyScript(
        "张先生", "示例公司", ask_solved=True, consented=True, solved_asked=True,
        problem_solved=False, asked=2, scores={"skill": 4, "attitude": 5},
    )  # fmt: skip
    assert names(s.first()) == ["survey_timeliness"]
    assert s.result().problem_solved is False


def test_given_a_survey_callback_of_another_kind_then_the_problem_is_not_asked() -> None:
    _, steps = run(["1"])
    assert names(steps[1]) == ["survey_confidential", "survey_skill"]


def test_given_a_hung_up_customer_after_the_problem_answer_then_it_is_kept() -> None:
    s, _ = run_service(["1", "2"])
    result = s.hung_up()
    assert result.outcome == "hung_up"
    assert result.problem_solved is False
