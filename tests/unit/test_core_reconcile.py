"""Resynchronising after an AMI gap: ``Tracker.reconcile`` and ``Ingest.on_resync``.

After a reconnect the agent lists the PBX's channels (AMI ``Status``). A call whose
channels are all gone ended while its events were missed (Asterisk restarted): no Hangup
will ever come, so it is finished at once as ``complete: false``. A call still live is
marked ``complete: false`` and tracked on until its own Hangups.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ivr_agent.calls.ingest import Ingest, live_linkedids
from ivr_agent.core.config import StandardsConfig
from ivr_agent.core.events import parse_ami
from ivr_agent.core.tracker import FinishedCall, Tracker

from .ami_table import BASE_US, channels, table

CONFIG = StandardsConfig()
#: The resync happens 30 s after the table's time zero.
AT = datetime.fromtimestamp(BASE_US / 1_000_000 + 30, UTC)
GAP = "AMI connection lost at 2023-11-14T22:13:50+00:00"
GONE = (
    f"{GAP}: its channels were gone when the PBX was listed again"
    "; the caller's hang-up was not seen"
)


def connected(call: int) -> list[dict[str, str]]:
    """Call ``call``: queued, answered by op001 at 3.5 s, talking (no hang-up yet)."""
    return table(
        """
        0.000  Newchannel        caller
        0.020  Newstate          caller     ChannelStateDesc=Up
        0.500  QueueCallerJoin   caller     Position=1 Count=1
        0.500  Newchannel        op1
        0.500  AgentCalled       caller>op1
        0.600  Newstate          op1        ChannelStateDesc=Ringing
        3.500  Newstate          op1        ChannelStateDesc=Up
        3.502  AgentConnect      caller>op1 RingTime=3 HoldTime=3
        3.502  QueueCallerLeave  caller     Count=0
        3.503  BridgeEnter       caller     BridgeUniqueid=b1 BridgeNumChannels=1
        3.503  BridgeEnter       op1        BridgeUniqueid=b1 BridgeNumChannels=2
        10.000 ChannelTalkingStart caller
        """,
        call,
    )


def hangups(call: int) -> list[dict[str, str]]:
    """The end of call ``call`` at 40 s (after the resync)."""
    return table(
        """
        40.000 BridgeLeave  caller  BridgeUniqueid=b1
        40.000 Hangup       caller  Cause=16
        40.003 BridgeLeave  op1     BridgeUniqueid=b1
        40.003 Hangup       op1     Cause=16
        """,
        call,
    )


def linkedid(call: int) -> str:
    return channels(call)["caller"].uniqueid


def tracker_with(calls: list[int]) -> Tracker:
    tracker = Tracker(CONFIG, "pbx1")
    for call in calls:
        for fields in connected(call):
            event = parse_ami(fields)
            assert event is not None
            assert not tracker.feed(event).finished
    return tracker


# Each case: calls in flight, calls the PBX still lists → calls finished now, calls tracked on.
CASES: dict[str, tuple[list[int], list[int], list[int], list[int]]] = {
    "asterisk-restarted-every-call-gone": ([1, 2, 3], [], [1, 2, 3], []),
    "one-call-survived-the-gap": ([1, 2, 3], [2], [1, 3], [2]),
    "every-call-still-live": ([1, 2], [1, 2], [], [1, 2]),
    "nothing-in-flight": ([], [4], [], []),
}


@pytest.mark.parametrize(("in_flight", "live", "finished", "kept"), CASES.values(), ids=CASES)
def test_given_calls_in_flight_when_reconciled_then_gone_ones_finish_incomplete(
    in_flight: list[int], live: list[int], finished: list[int], kept: list[int]
) -> None:
    tracker = tracker_with(in_flight)

    result = tracker.reconcile({linkedid(c) for c in live}, AT)

    assert [f.outcome.linkedid for f in result.finished] == [linkedid(c) for c in finished]
    for f in result.finished:
        assert (f.outcome.complete, f.outcome.incomplete_reason) == (False, GONE)
        # measured facts before the gap are kept; the end is the last event seen, not a guess
        assert (f.outcome.rings, f.outcome.answered_within_standard) == (1, True)
        assert f.outcome.ended_at == datetime.fromtimestamp(BASE_US / 1_000_000 + 10, UTC)
    assert [s.linkedid for s in tracker.in_progress()] == [linkedid(c) for c in kept]
    assert all(s.complete is False for s in tracker.in_progress())
    assert tracker.stats.calls_vanished == len(finished)
    assert result.commands == ()


def test_given_live_call_marked_when_its_hangups_come_then_finished_incomplete_once() -> None:
    tracker = tracker_with([1, 2])
    assert not tracker.reconcile({linkedid(1)}, AT).commands

    outcomes = []
    for fields in hangups(1) + hangups(2):
        event = parse_ami(fields)
        assert event is not None
        outcomes.extend(tracker.feed(event).outcomes)

    # call 1 ends normally but incomplete; call 2 was finished by the resync: its late
    # hang-ups open no phantom call
    assert [(o.linkedid, o.complete, o.incomplete_reason) for o in outcomes] == [
        (linkedid(1), False, GAP)
    ]
    assert outcomes[0].talk_seconds == pytest.approx(36.5, abs=0.01)
    assert len(tracker) == 0
    assert tracker.stats.late == 4  # two BridgeLeave, two Hangup


def test_given_status_events_then_live_linkedids_by_call() -> None:
    raw = [
        {"Event": "Status", "Channel": "PJSIP/a-1", "Uniqueid": "1.1", "Linkedid": "1.1"},
        {"Event": "Status", "Channel": "PJSIP/b-2", "Uniqueid": "1.2", "Linkedid": "1.1"},
        {"Event": "Status", "Channel": "PJSIP/c-3", "Uniqueid": "2.1"},
        {"Event": "Status", "Channel": "PJSIP/d-4", "Linkedid": ""},
    ]
    assert live_linkedids(raw) == {"1.1", "2.1"}


def test_given_restart_when_ingest_resyncs_then_finished_calls_reach_the_sink() -> None:
    delivered: list[FinishedCall] = []
    ingest = Ingest(tracker_with([1, 2, 3]), delivered.append)
    survivor = channels(2)["op1"]
    listed = [
        {
            "Event": "Status",
            "Channel": survivor.name,
            "Uniqueid": survivor.uniqueid,
            "Linkedid": linkedid(2),
        }
    ]

    ingest.on_resync(listed, AT.timestamp())

    assert [f.outcome.linkedid for f in delivered] == [linkedid(c) for c in (1, 3)]
    assert all(f.outcome.complete is False for f in delivered)
    assert (ingest.stats.gaps, ingest.stats.resync_finished, ingest.stats.finished_calls) == (
        1,
        2,
        2,
    )
    assert [s.linkedid for s in ingest.tracker.in_progress()] == [linkedid(2)]


def test_given_a_channel_that_hung_up_in_the_gap_when_the_others_hang_up_then_the_call_ends() -> (
    None
):
    # Issue 14 (chaos run): the agent was down while an operator leg hung up (a ring timeout,
    # or a bridge partner); its Hangup never came, and the call waited for it until the agent
    # stopped: no outcome at all. The listing after the gap shows which channels are left.
    tracker = tracker_with([1])
    caller = channels(1)["caller"]
    listed = [
        {
            "Event": "Status",
            "Channel": caller.name,
            "Uniqueid": caller.uniqueid,
            "Linkedid": linkedid(1),
        },
    ]
    ingest = Ingest(tracker, lambda _call: None)
    ingest.on_resync(listed, AT.timestamp())
    assert len(tracker) == 1  # still live: the caller is listed

    outcomes = []
    caller_end = [f for f in hangups(1) if f.get("Channel") == caller.name]
    assert caller_end
    for fields in caller_end:
        event = parse_ami(fields)
        assert event is not None
        outcomes.extend(tracker.feed(event).outcomes)

    assert [(o.linkedid, o.complete, o.incomplete_reason) for o in outcomes] == [
        (linkedid(1), False, GAP)
    ]
    assert len(tracker) == 0


def test_given_calls_rebuilt_after_a_restart_then_their_recordings_are_due_though_not_sent() -> (
    None
):
    # The restarted agent rebuilds the calls from its journal without their commands (their
    # moment has passed); what a call asked for stays readable, so the new agent can start
    # a recording its predecessor could not (recordings/takeover.py).
    sent: list[object] = []
    ingest = Ingest(Tracker(CONFIG, "pbx1"), lambda _: None, commands=sent.append)
    queued_only = [e for e in connected(2) if float(e["Timestamp"]) < BASE_US / 1e6 + 1]

    assert ingest.restore(connected(1) + queued_only) == 2

    assert sent == []
    [due] = ingest.tracker.recordings_due()
    assert (due.linkedid, due.channel_id) == (linkedid(1), linkedid(1))
    assert due.at == datetime.fromtimestamp(BASE_US / 1_000_000 + 3.502, UTC)  # AgentConnect
    for fields in hangups(1):
        ingest.on_ami_event(fields, 0.0)
    assert ingest.tracker.recordings_due() == ()
