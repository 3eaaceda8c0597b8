"""Prompt reports as the tracker reads them: who heard it, and a prompt cut while playing."""

from __future__ import annotations

import pytest

from ivr_agent.core.events import MalformedEvent, PromptEvent, parse_ami


def report(phase: str, played: str = "yes", **extra: str) -> dict[str, str]:
    return {
        "Event": "UserEvent",
        "UserEvent": "IvrAgentPrompt",
        "Timestamp": "1700000005.000000",
        "Prompt": "operator_intro",
        "Phase": phase,
        "Played": played,
        "Linkedid": "1700000001.1",
        **extra,
    }


def test_the_to_header_says_who_heard_the_prompt() -> None:
    both = parse_ami(report("started", To="both"))
    assert isinstance(both, PromptEvent)
    assert both.to == "both"
    default = parse_ami(report("started"))
    assert isinstance(default, PromptEvent)
    assert default.to == "caller"
    with pytest.raises(MalformedEvent, match="To"):
        parse_ami(report("started", To="everyone"))


def test_a_prompt_cut_while_playing_stays_played_but_not_finished() -> None:
    from ivr_agent.core.config import StandardsConfig
    from ivr_agent.core.tracker import Tracker

    tracker = Tracker(StandardsConfig(), "pbx1")
    base = {"Linkedid": "1700000001.1", "Uniqueid": "1700000001.1"}
    channel = {**base, "Channel": "PJSIP/trunk-00000001", "CallerIDNum": "13800000000"}
    events = [
        {"Event": "Newchannel", "Timestamp": "1700000001.000000", **channel},
        report("started", To="caller") | {"Prompt": "hold_reminder"},
        report("finished", "no") | {"Prompt": "hold_reminder", "Timestamp": "1700000006.0"},
        report("finished", "no") | {"Prompt": "silence_first", "Timestamp": "1700000007.0"},
        {"Event": "Hangup", "Timestamp": "1700000008.000000", **channel},
    ]
    finished = []
    for raw in events:
        event = parse_ami(raw)
        assert event is not None
        finished.extend(tracker.feed(event).finished)
    (call,) = finished
    prompts = [(p.prompt, p.played, p.finished) for p in call.outcome.prompts_played]
    assert prompts == [("hold_reminder", True, False), ("silence_first", False, False)]
