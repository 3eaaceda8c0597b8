"""The operator's mute key (S2: a mute over 10 s is handled like a hold).

The dialplan hook ``ivr-agent-mute`` raises ``UserEvent(IvrAgentMute, State: on|off)`` on the
operator's channel; the core reads it as a :class:`Hold` (music class ``ivr-agent-mute``) or
an :class:`Unhold` of that channel, so the tracker's hold rules apply unchanged. The same
UserEvent sent by another AMI client is refused: it would start reminders on anyone's call.
"""

from __future__ import annotations

import pytest

from ivr_agent.core.commands import PlayPrompt
from ivr_agent.core.config import StandardsConfig
from ivr_agent.core.events import (
    MUTE_MUSIC_CLASS,
    Hold,
    MalformedEvent,
    Unhold,
    parse_ami,
)
from ivr_agent.core.tracker import Tracker

from .ami_table import table
from .test_core_scenarios import queue_call
from .test_forged_reports import forged


def _mute(at: float, state: str) -> str:
    return f"{at} UserEvent op1 UserEvent=IvrAgentMute State={state}"


def test_a_channel_raised_mute_is_a_hold_of_that_channel_and_its_end_an_unhold() -> None:
    on, off = table(f"{_mute(5.0, 'on')}\n{_mute(17.0, 'off')}")
    hold, unhold = parse_ami(on), parse_ami(off)
    assert isinstance(hold, Hold)
    assert hold.music_class == MUTE_MUSIC_CLASS
    assert isinstance(unhold, Unhold)
    assert hold.channel == unhold.channel == on["Channel"]


@pytest.mark.parametrize("state", ["", "maybe", "ON AND OFF"])
def test_a_mute_with_no_on_or_off_state_is_refused_naming_the_field(state: str) -> None:
    (row,) = table(_mute(5.0, "on"))
    with pytest.raises(MalformedEvent, match="State"):
        parse_ami(row | {"State": state})


def test_a_mute_sent_by_an_ami_client_is_refused() -> None:
    (real,) = table(_mute(5.0, "on"))
    with pytest.raises(MalformedEvent, match="cannot report a mute"):
        parse_ami(forged(5.0, "IvrAgentMute", real["Linkedid"], State="on"))


def test_a_12_s_mute_is_timed_like_a_hold_with_its_apology_and_a_long_hold() -> None:
    tracker = Tracker(StandardsConfig(), "pbx1")
    rows = queue_call(3.5, 60.0, extra=f"{_mute(20.0, 'on')}\n {_mute(32.0, 'off')}")
    outcomes, commands = [], []
    for fields in rows:
        event = parse_ami(fields)
        assert event is not None
        fed = tracker.feed(event)
        outcomes.extend(fed.outcomes)
        commands.extend(fed.commands)
    (outcome,) = outcomes
    assert [h.seconds for h in outcome.holds] == [12.0]
    assert outcome.hold_over_limit is True
    prompts = [c.prompt for c in commands if isinstance(c, PlayPrompt)]
    # The reminder is due 10 s in (announced when the mute starts); the apology at its end.
    assert [p for p in prompts if p.startswith("hold")] == ["hold_reminder", "hold_end_apology"]
