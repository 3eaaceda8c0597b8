"""Scenario files of the phone simulator: shipped ones load; bad ones name the bad field."""

from __future__ import annotations

import re

import pytest

from ivr_agent.sim import scenario
from ivr_agent.sim.scenario import ScenarioError


@pytest.mark.parametrize("name", scenario.shipped_names())
def test_given_a_shipped_scenario_when_loaded_then_it_is_valid(name: str) -> None:
    loaded = scenario.load(name)
    assert loaded.name == name
    assert loaded.calls or loaded.callbacks


def test_given_the_shipped_set_then_it_covers_the_issue_cases() -> None:
    names = set(scenario.shipped_names())
    assert {
        "answered_1_ring",
        "answered_3_rings",
        "answered_4_rings",
        "answered_6_rings",
        "abandoned_short",
        "abandoned_long",
        "hold_5s",
        "hold_12s",
        "hold_60s",
        "silent_never_speaks",
        "silent_speaks_after_prompt",
        "long_call",
        "callback_survey",
        "callback_no_answer",
        "callback_declined",
        "busy_queue",
        "long_queue_wait",
    } <= names
    rings = {n: scenario.load(n).calls[0].answer_after for n in names if n.startswith("answered_")}
    assert rings == {
        "answered_1_ring": 2.0,
        "answered_3_rings": 12.0,
        "answered_4_rings": 17.0,
        "answered_6_rings": 27.0,
    }
    assert scenario.load("long_call").calls[0].talk > 300
    # Issue 13: more callers than the queue offers at once; a long queue wait, quick answer.
    burst = scenario.load("busy_queue").calls
    assert [c.start for c in burst] == [0.0, 0.7, 1.4]
    assert [c.operator is None for c in burst] == [False, False, True]
    long_wait = scenario.load("long_queue_wait").calls
    assert long_wait[0].abandon_after == 36.0
    assert long_wait[1].answer_after == 2.0


def test_given_scale_when_scaled_then_every_duration_is_multiplied() -> None:
    basic = scenario.load("basic").scaled(0.5)
    (call,) = basic.calls
    assert call.answer_after == 1.0
    assert call.talk == 10.0
    assert call.holds[0].start == 3.0
    assert call.holds[0].seconds == 2.5
    assert call.speech[1].after_answer == 0.5


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ({"caller": "13800\r\n138000", "abandon_after": 3}, "calls[0] (call1): caller"),
        ({"caller": "13800138000"}, "give operator (answered), abandon_after (abandoned) or"),
        ({"caller": "13800138000", "operator": "061", "answer_after": 1, "talk": 5}, "operator"),
        (
            {"caller": "13800138000", "abandon_after": 3, "queue_callback_after": 10},
            "give operator (answered), abandon_after (abandoned) or queue_callback_after",
        ),
        ({"caller": "13800138000", "operator": "001", "talk": 5}, "needs answer_after and talk"),
        (
            {
                "caller": "13800138000",
                "operator": "001",
                "answer_after": 1,
                "talk": 5,
                "holds": [{"start": 3, "seconds": 5}],
            },
            "holds[0]: the hold must end before the hang-up",
        ),
        ({"caller": "13800138000", "abandon_after": -1}, "abandon_after must be seconds"),
        ({"caller": "13800138000", "abandon_after": 3, "colour": "red"}, "unknown field(s) colour"),
        (
            {"caller": "13800138000", "abandon_after": 3, "speech": [{"say": "x"}]},
            "exactly one of after_connect, after_answer, after_prompt",
        ),
    ],
)
def test_given_a_bad_call_when_parsed_then_the_error_names_the_field(
    call: dict[str, object], message: str
) -> None:
    with pytest.raises(ScenarioError, match=re.escape(message)):
        scenario.parse({"calls": [call]})


def test_given_reactive_speech_then_it_is_parsed_and_scaled() -> None:
    plan = scenario.parse(
        {
            "calls": [
                {
                    "caller": "13800138000",
                    "operator": "001",
                    "answer_after": 1,
                    "talk": 10,
                    "operator_speech": [{"after_answer": 1.0, "say": "ivr-sim/yes"}],
                    "speech": [{"after_prompt": 2, "delay": 1.0}],
                }
            ]
        }
    ).scaled(0.5)
    (call,) = plan.calls
    assert call.speech[0].after_prompt == 2
    assert call.speech[0].delay == 0.5
    assert call.operator_speech[0].after_answer == 0.5


@pytest.mark.parametrize(
    ("speech", "message"),
    [
        ({"speech": [{"after_prompt": 0}]}, "after_prompt must be a prompt count"),
        ({"operator_speech": [{"after_connect": 1}]}, "operator_speech is timed with after_answer"),
    ],
)
def test_given_bad_reactive_speech_then_rejected(speech: dict[str, object], message: str) -> None:
    call = {"caller": "13800138000", "operator": "001", "answer_after": 1, "talk": 10, **speech}
    with pytest.raises(ScenarioError, match=re.escape(message)):
        scenario.parse({"calls": [call]})


def test_given_two_calls_from_one_number_then_rejected() -> None:
    call = {"caller": "13800138000", "abandon_after": 3}
    with pytest.raises(ScenarioError, match="own caller number"):
        scenario.parse({"calls": [{**call, "id": "a"}, {**call, "id": "b"}]})


def test_given_load_mode_then_calls_arrive_at_the_rate_with_the_mix() -> None:
    plan = scenario.load_mode(calls=40, rate=2.0, mix="answered=1,abandoned=1", seed=7)
    assert len(plan.calls) == 40
    assert plan.calls[-1].start == pytest.approx(39 / 2.0)
    kinds = {c.operator is None for c in plan.calls}
    assert kinds == {True, False}
    assert len({c.caller for c in plan.calls}) == 40


@pytest.mark.parametrize("mix", ["answered", "nope=1", "answered=x", "answered=0"])
def test_given_a_bad_mix_then_rejected(mix: str) -> None:
    with pytest.raises(ScenarioError, match="--mix"):
        scenario.load_mode(calls=1, rate=1.0, mix=mix)


def test_given_agent_callbacks_then_no_callback_is_placed_by_the_sandbox() -> None:
    plan = scenario.load("callback_survey")
    assert plan.callbacks[0].originate
    assert not plan.callbacks_from_agent().callbacks[0].originate
