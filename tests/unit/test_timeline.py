"""TimelineEvent: zone-aware, JSON-ready, in the same time format as the outcome."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ivr_agent.core.timeline import TimelineEvent

BEIJING = timezone(timedelta(hours=8))


def test_given_an_event_then_to_json_uses_the_outcome_time_format() -> None:
    event = TimelineEvent(
        datetime(2026, 11, 23, 10, 0, 1, 5, tzinfo=BEIJING),
        "hangup",
        "PJSIP/op001-0000002a",
        {"cause": 16, "by": "张三"},
    )
    assert event.to_json() == {
        "at": "2026-11-23T10:00:01.000005+08:00",
        "kind": "hangup",
        "channel": "PJSIP/op001-0000002a",
        "details": {"cause": 16, "by": "张三"},
    }


def test_given_a_time_without_zone_then_the_event_is_refused() -> None:
    with pytest.raises(ValueError, match="zone"):
        TimelineEvent(datetime(2026, 11, 23, 10, 0), "offered")


def test_given_an_empty_kind_then_the_event_is_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        TimelineEvent(datetime(2026, 11, 23, tzinfo=BEIJING), "")
