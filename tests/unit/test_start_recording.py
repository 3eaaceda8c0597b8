"""The tracker is the one place that decides "an inbound caller met an operator": it says
so with one StartRecording per answered inbound call, and the ingest routes each kind of
command to the part that carries it out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ivr_agent.calls.ingest import CommandRoutes
from ivr_agent.core.commands import CancelTimers, Command, PlayPrompt, StartRecording
from ivr_agent.core.config import StandardsConfig
from ivr_agent.core.events import parse_ami
from ivr_agent.core.tracker import Tracker
from ivr_agent.pbx.capture import read_capture

CAPTURES = Path(__file__).resolve().parents[1] / "fixtures" / "captures"


def _commands_and_outcomes(name: str) -> tuple[list[Command], list[Any]]:
    tracker = Tracker(StandardsConfig(), "pbx1")
    commands: list[Command] = []
    outcomes: list[Any] = []
    for raw in read_capture(CAPTURES / f"{name}.jsonl"):
        event = parse_ami(raw)
        if event is None:
            continue
        result = tracker.feed(event)
        commands.extend(result.commands)
        outcomes.extend(f.outcome for f in result.finished)
    return commands, outcomes


@pytest.mark.parametrize("name", ["basic", "direct_line", "hold_12s", "overlapping"])
def test_given_answered_inbound_calls_then_one_start_recording_each_at_the_answer(
    name: str,
) -> None:
    commands, outcomes = _commands_and_outcomes(name)
    starts = [c for c in commands if isinstance(c, StartRecording)]
    answered = [o for o in outcomes if o.direction == "inbound" and o.answered_at is not None]
    assert answered
    assert sorted((s.call_id, s.at) for s in starts) == sorted(
        (o.call_id, o.answered_at) for o in answered
    )
    for start in starts:
        # The caller's channel is the call's first: its Uniqueid is the Linkedid.
        assert start.channel_id == start.linkedid


@pytest.mark.parametrize("name", ["abandoned_short", "callback_survey", "callback_no_answer"])
def test_given_no_inbound_answer_then_nothing_is_recorded_by_the_inbound_recorder(
    name: str,
) -> None:
    commands, _ = _commands_and_outcomes(name)
    assert not [c for c in commands if isinstance(c, StartRecording)]


def test_given_routes_then_each_kind_reaches_its_part_and_the_rest_is_counted() -> None:
    routes = CommandRoutes()
    prompts: list[Command] = []
    recordings: list[Command] = []
    unroute = routes.route((PlayPrompt, CancelTimers), prompts.append)
    routes.route((StartRecording,), recordings.append)
    commands, _ = _commands_and_outcomes("basic")
    for command in commands:
        routes(command)
    assert recordings == [c for c in commands if isinstance(c, StartRecording)]
    assert prompts == [c for c in commands if not isinstance(c, StartRecording)]
    unroute()
    routes(next(c for c in commands if isinstance(c, PlayPrompt)))
    assert routes.dropped == 1


def test_given_a_part_that_raises_then_the_error_stays_out_of_the_ami_reader() -> None:
    routes = CommandRoutes()
    tried: list[Command] = []

    def broken(command: Command) -> None:
        tried.append(command)
        raise RuntimeError("boom")

    routes.route((StartRecording,), broken)
    commands, _ = _commands_and_outcomes("basic")
    for command in commands:
        routes(command)  # the error is logged here, never raised
    assert tried == [c for c in commands if isinstance(c, StartRecording)]
    assert len(tried) == 1
