"""The outcome gate of a standby agent (calls/standby.py): finished calls are delivered
while the agent is active, kept aside for the look-back while it stands by, and handed
back — only the recent ones, oldest first — when it takes over."""

from __future__ import annotations

from ivr_agent.calls.standby import OutcomeGate, mark_incomplete
from ivr_agent.core.tracker import FinishedCall
from tests.support.outcomes import sample_outcome


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _call(linkedid: str) -> FinishedCall:
    return FinishedCall(sample_outcome(linkedid))


def test_given_an_active_agent_when_a_call_finishes_then_it_is_delivered() -> None:
    delivered: list[FinishedCall] = []
    gate = OutcomeGate(delivered.append)
    call = _call("1.1")
    gate(call)
    assert delivered == [call]
    assert gate.kept == 0


def test_given_a_standby_when_calls_finish_then_the_recent_ones_come_back_at_take_over() -> None:
    delivered: list[FinishedCall] = []
    clock = Clock()
    gate = OutcomeGate(delivered.append, lookback_seconds=60, clock=clock)
    gate.stand_by()
    old, recent, newest = _call("1.1"), _call("1.2"), _call("1.3")
    gate(old)
    clock.now += 50
    gate(recent)
    clock.now += 20  # old is now 70 s old: past the look-back
    gate(newest)
    assert delivered == []
    assert gate.take_over() == [recent, newest]
    assert gate.kept == 0
    # Active again: straight through.
    later = _call("1.4")
    gate(later)
    assert delivered == [later]


def test_given_a_long_standby_when_it_takes_over_then_older_calls_are_dropped() -> None:
    clock = Clock()
    gate = OutcomeGate(lambda _call: None, active=False, lookback_seconds=10, clock=clock)
    gate(_call("1.1"))
    clock.now += 11
    assert gate.take_over() == []


def test_given_kept_calls_when_marked_incomplete_then_each_keeps_its_own_reasons_first() -> None:
    complete = FinishedCall(sample_outcome("1.1"))
    partial = FinishedCall(
        sample_outcome("1.2", complete=False, incomplete_reason="the caller's hang-up was not seen")
    )
    marked = mark_incomplete([complete, partial], "agent failover at T")
    assert [(c.outcome.complete, c.outcome.incomplete_reason) for c in marked] == [
        (False, "agent failover at T"),
        (False, "the caller's hang-up was not seen; agent failover at T"),
    ]
    assert marked[0].outcome.call_id == complete.outcome.call_id
