"""Sample call outcomes for the store, outbox and API tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ivr_agent.core.outcome import CallOutcome, HoldInterval, PromptPlayed, call_id_for

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=SHANGHAI)


def sample_outcome(
    linkedid: str = "1700000000.1", start: datetime = T0, **changes: Any
) -> CallOutcome:
    """An answered inbound call with two holds and three prompts, starting at ``start``."""
    at = start
    base = CallOutcome(
        call_id=call_id_for("pbx1", linkedid),
        pbx_id="pbx1",
        linkedid=linkedid,
        direction="inbound",
        caller_number="13800138000",
        operator_id="007",
        offered_at=at,
        wait_started_at=at + timedelta(seconds=1.5),
        answered_at=at + timedelta(seconds=13.25),
        ended_at=at + timedelta(seconds=200.000001),
        ring_seconds=11.75,
        rings=3,
        answered_within_standard=True,
        abandoned=False,
        short_abandon=False,
        holds=(
            HoldInterval(at + timedelta(seconds=40), at + timedelta(seconds=52.5), 12.5, 1),
            HoldInterval(at + timedelta(seconds=90), at + timedelta(seconds=93), 3.0, 0),
        ),
        max_hold_seconds=12.5,
        hold_over_limit=True,
        silence="prompted_then_spoke",
        prompts_played=(
            PromptPlayed("greeting_external", at + timedelta(seconds=13.3), True, True, "caller"),
            PromptPlayed("hold_reminder", at + timedelta(seconds=50), True, False, "caller"),
            PromptPlayed("operator_id", at + timedelta(seconds=14), False, None, "both"),
        ),
        talk_seconds=186.750001,
        duration_seconds=200.000001,
        over_max_duration=False,
        recording_id="rec-abc",
        complete=True,
        extra={"caller_name": "张三"},
    )
    return replace(base, **changes)
