"""In-queue callback requests at the edges: the hook's report measured on the call (not an
abandon, its place kept), a forged report refused, the QueueStatus reply read (S8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ivr_agent.callbacks.queue_dispatch import snapshot_of
from ivr_agent.core.queue_callbacks import QueueMember, reservation_reason

from .ami_table import table
from .test_forged_reports import LINKEDID, forged, outcome

ASKED = """
    0.000  Newchannel       caller
    1.000  QueueCallerJoin  caller   Queue=callback-line
    13.000 QueueCallerLeave caller   Queue=callback-line
    13.010 UserEvent        caller   UserEvent=IvrAgentQueueCallback
    17.000 Hangup           caller
"""


def test_a_caller_who_pressed_1_is_no_abandon_and_keeps_their_place() -> None:
    extra, refused = outcome(table(ASKED))
    assert refused == 0
    request = extra["queue_callback"]
    assert request["queue"] == "callback-line"
    joined = table(ASKED)[1]["Timestamp"]
    assert datetime.fromisoformat(request["queued_at"]).timestamp() == float(joined)


def test_the_same_caller_without_the_request_is_an_abandon() -> None:
    rows = [r for r in table(ASKED) if r["Event"] != "UserEvent"]
    extra, _ = outcome(rows)
    assert "queue_callback" not in extra


def test_a_request_sent_by_an_ami_client_is_refused() -> None:
    rows = [r for r in table(ASKED) if r["Event"] != "UserEvent"]
    rows.insert(-1, forged(13.0, "IvrAgentQueueCallback", LINKEDID))
    extra, refused = outcome(rows)
    assert refused == 1
    assert "queue_callback" not in extra


def test_the_queue_status_reply_gives_callers_earliest_joins_and_operators() -> None:
    now = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    reply = [
        {"Event": "QueueParams", "Queue": "callback-line", "Calls": "2"},
        {
            "Event": "QueueMember",
            "Queue": "callback-line",
            "Location": "PJSIP/op011",
            "Status": "1",
            "InCall": "0",
            "Paused": "1",
            "PausedReason": reservation_reason("cb1"),
        },
        {
            "Event": "QueueMember",
            "Queue": "callback-line",
            "Location": "PJSIP/op012",
            "Status": "2",
            "InCall": "1",
            "Paused": "0",
        },
        {
            "Event": "QueueMember",
            "Queue": "callback-line",
            "Location": "PJSIP/op013",
            "Status": "5",
            "InCall": "0",
            "Paused": "0",
        },
        {"Event": "QueueEntry", "Queue": "callback-line", "Uniqueid": "1.5", "Wait": "12"},
        {
            "Event": "QueueEntry",
            "Queue": "callback-line",
            "Uniqueid": "ivr-agent-cb-x",
            "Wait": "1",
        },
        {"Event": "QueueEntry", "Queue": "hotline", "Uniqueid": "9.9", "Wait": "99"},
        {"Event": "QueueStatusComplete"},
    ]
    snap = snapshot_of("callback-line", reply, now)
    assert snap is not None
    first, ours = snap.callers
    # Wait is whole seconds: the earliest moment the caller may have joined.
    assert first.joined_at == now - timedelta(seconds=13)
    assert (first.return_call, ours.return_call) == (False, True)
    assert snap.members == (
        QueueMember("PJSIP/op011", True, False, True, reservation_reason("cb1")),
        QueueMember("PJSIP/op012", True, True, False, ""),
        QueueMember("PJSIP/op013", False, True, False, ""),
    )
    assert snap.members[0].ours
    assert snapshot_of("no-such-queue", reply, now) is None


def test_a_tracked_callers_exact_join_is_used_over_the_whole_second_wait() -> None:
    now = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    exact = now - timedelta(seconds=12.4)
    reply = [
        {"Event": "QueueParams", "Queue": "q"},
        {"Event": "QueueEntry", "Queue": "q", "Uniqueid": "1.5", "Wait": "12"},
        {"Event": "QueueEntry", "Queue": "q", "Uniqueid": "1.6", "Wait": "3"},
    ]
    snap = snapshot_of("q", reply, now, {"1.5": exact}.get)
    assert snap is not None
    assert [c.joined_at for c in snap.callers] == [exact, now - timedelta(seconds=4)]
