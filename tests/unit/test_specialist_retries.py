"""The pure decisions of specialist call-back retries (S8: within the 3 minutes) and of
where a specialist call-back adopted after an agent restart goes on from."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ivr_agent.callbacks.journal import Journal, JournalEntry
from ivr_agent.callbacks.specialist import resume_step
from ivr_agent.core.callbacks import CallbackConfig, CallbackState, NextState, next_state
from ivr_agent.core.specialist_retries import specialist_retry_at

CONFIG = CallbackConfig()
# Monday 2026-11-23 10:40, Shanghai: inside a calling window.
ASKED = datetime(2026, 11, 23, 10, 40, tzinfo=CONFIG.zone)
DEADLINE = ASKED + CONFIG.specialist_due
GAP = timedelta(seconds=15)


def test_a_retry_comes_a_gap_after_the_failure_while_the_deadline_allows() -> None:
    ended = ASKED + timedelta(seconds=40)
    assert specialist_retry_at(ended, DEADLINE, GAP) == ended + GAP
    # Exactly at the deadline is still in time; a moment later is not.
    assert specialist_retry_at(DEADLINE - GAP, DEADLINE, GAP) == DEADLINE
    assert specialist_retry_at(DEADLINE - GAP + timedelta(seconds=1), DEADLINE, GAP) is None
    with pytest.raises(ValueError, match="positive"):
        specialist_retry_at(ended, DEADLINE, timedelta(0))
    with pytest.raises(ValueError, match="specialist_retry_gap"):
        CallbackConfig(specialist_retry_gap=timedelta(0))


def _after(outcome: str, ended: datetime, failed: int = 0) -> NextState:
    state = CallbackState(reason="specialist", deadline=DEADLINE, failed_attempts=failed)
    return next_state(
        state, outcome, started_at=ended - timedelta(seconds=30), ended_at=ended, config=CONFIG
    )


@pytest.mark.parametrize("outcome", ["no_answer", "busy", "hung_up", "failed"])
def test_a_failed_specialist_attempt_is_retried_within_the_due_time(outcome: str) -> None:
    ended = ASKED + timedelta(seconds=40)
    after = _after(outcome, ended)
    assert (after.status, after.next_attempt_at, after.failed_attempts) == (
        "pending",
        ended + CONFIG.specialist_retry_gap,
        1,
    )
    assert after.overdue is False
    assert "within the due time" in after.why


def test_the_attempts_stay_bounded_and_past_the_due_time_the_usual_rules_apply() -> None:
    # The third failure ends it, within the 3 minutes or not (S5's max_attempts).
    assert _after("no_answer", ASKED + timedelta(seconds=100), failed=2).status == "unreachable"
    # No room left before the deadline: one overdue attempt after the usual interval.
    late = _after("no_answer", DEADLINE - timedelta(seconds=5))
    assert late.status == "pending"
    assert late.overdue is True
    assert late.next_attempt_at >= DEADLINE - timedelta(seconds=5) + CONFIG.retry_interval


def test_other_callbacks_keep_the_usual_retry_interval() -> None:
    ended = ASKED + timedelta(seconds=40)
    state = CallbackState(reason="manual", deadline=ASKED + timedelta(days=1))
    after = next_state(state, "no_answer", started_at=ASKED, ended_at=ended, config=CONFIG)
    assert after.next_attempt_at == ended + CONFIG.retry_interval


ATTEMPT = "4f3e9805-2787-45fb-9941-b31aceafd598"


def test_a_resumed_specialist_call_back_goes_on_from_where_its_journal_says() -> None:
    answered = JournalEntry(ATTEMPT, answered_at=1.0)
    bridged = answered.with_(recording_started_at=9.5, reached_at=9.0)
    # Fresh: the specialist answered in this run (or first after a restart): dial the customer.
    assert resume_step(None, resumed=False) == "dial"
    assert resume_step(None, resumed=True) == "dial"
    # Bridged and recorded before the restart: they talk on.
    assert resume_step(bridged, resumed=True) == "talk_on"
    # The customer was being dialled when the agent restarted: start again (retried).
    assert resume_step(answered, resumed=True) == "start_again"


def test_the_journal_keeps_when_the_customer_was_reached(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.write(JournalEntry(ATTEMPT, answered_at=1.0, reached_at=9.0))
    found = journal.read(ATTEMPT)
    assert found is not None
    assert found.reached_at == 9.0
