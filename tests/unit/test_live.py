"""The dashboard's live hub (pure parts): counting calls in flight, naming breaches,
fan-out without blocking, dropping a slow subscriber's oldest events, closing streams."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

from ivr_agent.core.tracker import CallSnapshot
from ivr_agent.dashboard.live import CallsNow, LiveHub, breach_kinds, calls_now
from ivr_agent.web.formats import masked
from ivr_agent.web.i18n import page_locale
from tests.support.outcomes import sample_outcome

T = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def _snapshot(answered: bool, on_hold: bool = False) -> CallSnapshot:
    return CallSnapshot(
        call_id="c",
        linkedid="l",
        state="talking" if answered else "ringing",
        caller_number=None,
        operator_id=None,
        offered_at=T,
        wait_started_at=T,
        answered_at=T if answered else None,
        on_hold=on_hold,
        complete=True,
    )


def test_calls_now_counts_waiting_talking_and_on_hold() -> None:
    calls = calls_now([_snapshot(False), _snapshot(True, on_hold=True), _snapshot(True)])
    assert calls == CallsNow(waiting=1, talking=2, on_hold=1)
    assert calls.to_json() == {"waiting": 1, "talking": 2, "on_hold": 1, "in_progress": 3}
    assert calls_now([]).in_progress == 0


def test_breach_kinds_name_each_broken_standard() -> None:
    outcome = sample_outcome()  # a hold of 12.5 s: over the 10 s limit
    assert breach_kinds(outcome) == ["long_hold"]
    worst = dataclasses.replace(
        outcome,
        answered_within_standard=False,
        silence="hung_up_silent",
        over_max_duration=True,
    )
    assert breach_kinds(worst) == [
        "late_answer",
        "long_hold",
        "silent_hang_up",
        "over_max_duration",
    ]
    fine = dataclasses.replace(outcome, hold_over_limit=False, silence="none")
    assert breach_kinds(fine) == []


async def test_publish_fans_out_and_a_slow_subscriber_loses_only_its_oldest() -> None:
    hub = LiveHub(queue_size=2)
    with hub.subscribe() as slow, hub.subscribe() as other:
        for n in range(3):
            hub.publish("stored", {"written": n})
        assert [slow.get_nowait().data["written"] for _ in range(2)] == [1, 2]  # type: ignore[union-attr]
        assert other.qsize() == 2
    assert hub.subscribers == 0


async def test_update_publishes_only_changes() -> None:
    hub = LiveHub()
    with hub.subscribe() as queue:
        hub.update(CallsNow(), stored=0)
        assert queue.empty()
        hub.update(CallsNow(waiting=1), stored=0)
        hub.update(CallsNow(waiting=1), stored=1)
        kinds = [queue.get_nowait().kind for _ in range(queue.qsize())]  # type: ignore[union-attr]
    assert kinds == ["calls", "stored"]


async def test_close_ends_every_stream_even_a_full_one() -> None:
    hub = LiveHub(queue_size=1)
    with hub.subscribe() as queue:
        hub.publish("stored", {"written": 1})
        hub.close()
        assert await asyncio.wait_for(queue.get(), 1) is None
    with hub.subscribe() as late:
        assert late.get_nowait() is None


async def test_watch_survives_a_failing_read() -> None:
    hub = LiveHub()
    reads = iter([RuntimeError("boom"), CallsNow(waiting=2)])

    def calls() -> CallsNow:
        value = next(reads, CallsNow(waiting=2))
        if isinstance(value, Exception):
            raise value
        return value

    with hub.subscribe() as queue:
        task = asyncio.create_task(hub.watch(calls, lambda: 0, period=0.01))
        event = await asyncio.wait_for(queue.get(), 1)
        task.cancel()
    assert event is not None
    assert event.data["waiting"] == 2


def test_formatting_for_the_wall_screen() -> None:
    assert page_locale("en-US").percent(0.6) == "60.0%"
    assert page_locale("zh-CN").percent(0.6) == "60.0%"
    assert page_locale("zh-CN").percent(None) == "—"
    assert masked("13800138000") == "•••••••8000"
    assert masked("8000") == "8000"
    assert masked(None) == "—"
