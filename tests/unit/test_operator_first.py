"""Operator-first return calls (S8): which operator is rung first, and which calls are placed
that way — the pure choices (the call itself: tests/integration/test_return_call_live.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from ivr_agent.callbacks.attempts import ClaimedAttempt
from ivr_agent.callbacks.operator_first import pick_free_operator, places_operator_first
from ivr_agent.callbacks.queue_dispatch import snapshot_of
from ivr_agent.core.queue_callbacks import QueueMember, QueueSnapshot

NOW = datetime(2026, 12, 3, 5, 0, tzinfo=UTC)


def _snapshot(*members: QueueMember) -> QueueSnapshot:
    return QueueSnapshot("hotline", (), members)


def test_the_first_free_operator_in_the_pbxs_order_is_rung() -> None:
    busy = QueueMember("PJSIP/op001", busy=True)
    paused = QueueMember("PJSIP/op002", paused=True, paused_reason="lunch")
    away = QueueMember("PJSIP/op003", reachable=False)
    free = QueueMember("PJSIP/op004")
    later = QueueMember("PJSIP/op005")
    assert pick_free_operator(_snapshot(busy, paused, away, free, later)) == "PJSIP/op004"
    assert pick_free_operator(_snapshot(busy, paused, away)) is None
    assert pick_free_operator(_snapshot()) is None


def test_the_operators_state_is_read_from_queue_status() -> None:
    messages = [
        {"Event": "QueueParams", "Queue": "hotline"},
        # Ringing (6): not free; in use (2): not free; not in use (1): free.
        {"Event": "QueueMember", "Queue": "hotline", "Location": "PJSIP/op001", "Status": "6"},
        {"Event": "QueueMember", "Queue": "hotline", "Location": "PJSIP/op002", "Status": "2"},
        {"Event": "QueueMember", "Queue": "hotline", "Location": "PJSIP/op003", "Status": "1"},
    ]
    snapshot = snapshot_of("hotline", messages, NOW)
    assert snapshot is not None
    assert pick_free_operator(snapshot) == "PJSIP/op003"


def _attempt(reason: str) -> ClaimedAttempt:
    return ClaimedAttempt(
        attempt_id="4f3e9805-2787-45fb-9941-b31aceafd598",
        callback_id="5f3e9805-2787-45fb-9941-b31aceafd598",
        attempt_no=1,
        channel_id="ivr-agent-cb-4f3e9805-2787-45fb-9941-b31aceafd598",
        pbx_id="pbx1",
        state="dialling",
        started_at=NOW,
        customer_number="13900139011",
        customer_name=None,
        reason=reason,
        deadline=NOW,
        overdue=False,
    )


def test_only_abandoned_calls_return_calls_are_placed_operator_first_when_set() -> None:
    assert places_operator_first(_attempt("abandoned_call"), "operator_first")
    assert not places_operator_first(_attempt("abandoned_call"), "customer_first")
    # An in-queue request keeps its place in its queue; other kinds are no return calls.
    for reason in ("queue_callback", "specialist", "manual", "service_completed"):
        assert not places_operator_first(_attempt(reason), "operator_first"), reason
