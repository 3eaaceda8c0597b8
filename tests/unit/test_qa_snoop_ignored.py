"""The agent's own snoop channels (prompt whisper, inbound recording over ARI snoop) never
become calls: Asterisk gives a snoop its own Linkedid, so tracking it would store a phantom
call for every prompt and every recorded call."""

from __future__ import annotations

from ivr_agent.core.config import StandardsConfig
from ivr_agent.core.events import parse_ami
from ivr_agent.core.tracker import Tracker
from ivr_agent.settings import load_settings

SNOOP = "ivr-agent-snoop-rec-0123456789abcdef"


def _raw(event: str, at: str, **extra: str) -> dict[str, str]:
    return {
        "Event": event,
        "Timestamp": at,
        "Channel": "Snoop/1795455578.0-00000001",
        "ChannelState": "6",
        "ChannelStateDesc": "Up",
        "Uniqueid": SNOOP,
        "Linkedid": SNOOP,
        **extra,
    }


def test_given_a_snoop_channel_then_its_events_are_not_tracked() -> None:
    tracker = Tracker(StandardsConfig.from_settings(load_settings(_env_file=None)), "pbx1")
    events = [
        _raw("Newchannel", "1795455578.25", Exten="", Context="default"),
        _raw("Newstate", "1795455578.26"),
        _raw("Hangup", "1795455598.25", Cause="16"),
    ]
    for raw in events:
        assert parse_ami(raw) is None
    assert tracker.feed_all(e for e in map(parse_ami, events) if e is not None).outcomes == ()
    assert len(tracker) == 0


def test_given_an_ordinary_channel_then_it_is_still_parsed() -> None:
    raw = _raw("Hangup", "1795455598.25", Cause="16")
    raw["Channel"] = "PJSIP/trunk-00000001"
    assert parse_ami(raw) is not None
