"""Scenario tests of the pure core: AMI event tables in, outcomes (as data) out.

Each test writes the call's AMI events as a table (tests/unit/ami_table.py) with the
Asterisk 22 field names, feeds them through ``parse_ami`` and the tracker, and compares the
outcome's contract fields with the expected values written as data.
"""

from __future__ import annotations

from typing import Any

import pytest

from ivr_agent.core.commands import CancelTimers, PlayPrompt
from ivr_agent.core.config import StandardsConfig
from ivr_agent.core.event_types import to_us
from ivr_agent.core.events import parse_ami
from ivr_agent.core.outcome import CallOutcome
from ivr_agent.core.tracker import Tracker

from .ami_table import table

CONFIG = StandardsConfig()


def run(
    rows: list[dict[str, str]], config: StandardsConfig = CONFIG
) -> tuple[list[CallOutcome], list[Any], Tracker]:
    """Feed raw AMI dicts; return outcomes, commands and the tracker."""
    tracker = Tracker(config, "pbx1")
    outcomes: list[CallOutcome] = []
    commands: list[Any] = []
    for fields in rows:
        event = parse_ami(fields)
        if event is None:
            continue
        result = tracker.feed(event)
        outcomes.extend(result.outcomes)
        commands.extend(result.commands)
    return outcomes, commands, tracker


def only(rows: list[dict[str, str]], config: StandardsConfig = CONFIG) -> dict[str, Any]:
    outcomes, _, tracker = run(rows, config)
    assert len(outcomes) == 1, outcomes
    assert len(tracker) == 0
    return outcomes[0].to_json() | {"extra": outcomes[0].extra}


def check(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    assert {k: actual[k] for k in expected} == expected


def queue_call(answer: float, end: float, *, extra: str = "") -> list[dict[str, str]]:
    """A caller queued at 0.5 s, op001 rung at once, answered at ``answer``, caller hangs up."""
    return table(
        f"""
        0.000      Newchannel        caller
        0.020      Newstate          caller     ChannelStateDesc=Up
        0.500      QueueCallerJoin   caller     Position=1 Count=1
        0.500      Newchannel        op1
        0.500      AgentCalled       caller>op1
        0.500      DialBegin         caller>op1
        0.600      Newstate          op1        ChannelStateDesc=Ringing
        {answer:.6f} Newstate        op1        ChannelStateDesc=Up
        {answer:.6f} DialEnd         caller>op1 DialStatus=ANSWER
        {answer + 0.002:.6f} AgentConnect caller>op1 RingTime=3 HoldTime=3
        {answer + 0.002:.6f} QueueCallerLeave caller Count=0
        {answer + 0.003:.6f} BridgeEnter caller     BridgeUniqueid=b1 BridgeNumChannels=1
        {answer + 0.003:.6f} BridgeEnter op1        BridgeUniqueid=b1 BridgeNumChannels=2
        {extra}
        {end:.3f}  BridgeLeave       caller     BridgeUniqueid=b1
        {end:.3f}  Hangup            caller     Cause=16 Cause-txt=Normal~Clearing
        {end + 0.001:.3f} AgentComplete caller>op1 Reason=caller TalkTime=10 HoldTime=3
        {end + 0.002:.3f} BridgeLeave  op1        BridgeUniqueid=b1
        {end + 0.003:.3f} Hangup       op1        Cause=16
        """
    )


# --- S1: answered within three rings -----------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        # answer time (s): wait starts at the queue join (0.5 s)
        (3.5, {"ring_seconds": 3.002, "rings": 1, "answered_within_standard": True}),
        (12.5, {"ring_seconds": 12.002, "rings": 3, "answered_within_standard": True}),
        (15.498, {"ring_seconds": 15.0, "rings": 4, "answered_within_standard": False}),
        (15.4969, {"ring_seconds": 14.999, "rings": 3, "answered_within_standard": True}),
        # 14.9996 s is reported as 15.0 s and judged as reported: the 4th ring
        (15.4976, {"ring_seconds": 15.0, "rings": 4, "answered_within_standard": False}),
        (18.0, {"ring_seconds": 17.502, "rings": 4, "answered_within_standard": False}),
        (27.5, {"ring_seconds": 27.002, "rings": 6, "answered_within_standard": False}),
    ],
    ids=[
        "1-ring",
        "3-rings",
        "exactly-15s-is-4th-ring",
        "just-under-15s",
        "rounds-to-15s",
        "4-rings",
        "6-rings",
    ],
)
def test_given_queue_call_when_operator_answers_then_rings_counted(
    answer: float, expected: dict[str, Any]
) -> None:
    outcome = only(queue_call(answer, answer + 20))
    check(
        outcome,
        {
            "operator_id": "001",
            "caller_number": "13800138000",
            "abandoned": False,
            "short_abandon": False,
            "complete": True,
            **expected,
        },
    )
    assert outcome["wait_started_at"] == "2023-11-14T22:13:20.500000+00:00"


def test_given_six_rings_when_answered_then_apology_before_operator_intro() -> None:
    _, commands, _ = run(queue_call(27.5, 40.0))
    prompts = [(c.prompt, c.variables) for c in commands if isinstance(c, PlayPrompt)]
    assert prompts[:2] == [
        ("long_wait_apology", ()),
        ("operator_intro", (("operator_id", "001"),)),
    ]


def test_given_four_rings_when_answered_then_no_apology() -> None:
    _, commands, _ = run(queue_call(18.0, 40.0))
    prompts = [c.prompt for c in commands if isinstance(c, PlayPrompt)]
    assert "long_wait_apology" not in prompts
    assert prompts[0] == "operator_intro"


def queued_behind_others(rung: float, answered: float, ended: float) -> list[dict[str, str]]:
    """A caller queued at 1 s behind others; the queue offers it to op1 only at ``rung``."""
    return table(
        f"""
        0.000  Newchannel       caller
        1.000  QueueCallerJoin  caller   Position=2 Count=2
        {rung:.3f} Newchannel    op1
        {rung + 0.001:.3f} AgentCalled caller>op1
        {rung + 0.001:.3f} DialBegin   caller>op1
        {answered:.3f} AgentConnect caller>op1
        {answered + 0.001:.3f} BridgeEnter caller BridgeUniqueid=b1
        {answered + 0.001:.3f} BridgeEnter op1    BridgeUniqueid=b1
        {ended:.3f} Hangup       op1
        {ended + 0.1:.3f} Hangup caller
        """
    )


def test_given_caller_queued_behind_others_when_rung_later_then_the_queue_wait_counts() -> None:
    # S1: the wait starts at the queue join (the caller hears ringback from then on), not
    # at the first operator leg that rang 8 s later for this caller.
    check(
        only(queued_behind_others(rung=9.0, answered=14.0, ended=30.0)),
        {
            "wait_started_at": "2023-11-14T22:13:21.000000+00:00",
            "ring_seconds": 13.0,
            "rings": 3,
            "answered_within_standard": True,
        },
    )


def test_given_a_40_s_queue_wait_when_answered_on_the_first_ring_then_late_with_apology() -> None:
    outcomes, commands, _ = run(queued_behind_others(rung=41.0, answered=43.0, ended=60.0))
    (outcome,) = [o.to_json() for o in outcomes]
    assert (outcome["ring_seconds"], outcome["rings"]) == (42.0, 9)
    assert outcome["answered_within_standard"] is False
    prompts = [c.prompt for c in commands if isinstance(c, PlayPrompt)]
    assert prompts[:2] == ["long_wait_apology", "operator_intro"]


def test_given_caller_never_rung_when_abandoning_then_wait_starts_at_the_join() -> None:
    rows = table(
        """
        0.000  Newchannel          caller
        1.000  QueueCallerJoin     caller
        4.000  QueueCallerAbandon  caller
        4.000  Hangup              caller
        """
    )
    check(
        only(rows),
        {
            "wait_started_at": "2023-11-14T22:13:21.000000+00:00",
            "abandoned": True,
            "short_abandon": True,
        },
    )


def test_given_no_answer_when_next_operator_answers_then_ring_time_spans_both() -> None:
    rows = table(
        """
        0.000  Newchannel        caller
        0.500  QueueCallerJoin   caller
        0.501  Newchannel        op1
        0.500  AgentCalled       caller>op1
        15.502 AgentRingNoAnswer caller>op1 RingTime=15000
        15.502 DialEnd           caller>op1 DialStatus=NOANSWER
        15.503 Hangup            op1        Cause=19
        20.000 Newchannel        op2
        20.001 AgentCalled       caller>op2
        22.500 AgentConnect      caller>op2
        22.501 BridgeEnter       caller     BridgeUniqueid=b1
        22.501 BridgeEnter       op2        BridgeUniqueid=b1
        40.000 Hangup            caller
        40.001 Hangup            op2
        """
    )
    check(
        only(rows),
        {"operator_id": "002", "ring_seconds": 22.0, "rings": 5, "answered_within_standard": False},
    )


@pytest.mark.parametrize(
    ("hangup", "short"),
    [(3.0, True), (5.4, True), (5.5, False), (20.0, False)],
    ids=["3s", "just-under-5s", "exactly-5s", "20s"],
)
def test_given_queued_caller_when_hanging_up_unanswered_then_abandoned(
    hangup: float, short: bool
) -> None:
    rows = table(
        f"""
        0.000  Newchannel          caller
        0.500  QueueCallerJoin     caller
        0.501  Newchannel          op1
        0.500  AgentCalled         caller>op1
        {hangup:.3f} QueueCallerAbandon caller Position=1 OriginalPosition=1 HoldTime=3
        {hangup:.3f} Hangup        caller     Cause=16
        {hangup + 0.001:.3f} DialEnd caller>op1 DialStatus=CANCEL
        {hangup + 0.002:.3f} Hangup op1       Cause=16
        """
    )
    check(
        only(rows),
        {
            "abandoned": True,
            "short_abandon": short,
            "answered_at": None,
            "ring_seconds": None,
            "rings": None,
            "answered_within_standard": None,
            "talk_seconds": None,
            "silence": "none",
            "complete": True,
        },
    )


def test_given_call_ending_in_greeting_when_never_queued_then_not_abandoned() -> None:
    rows = table(
        """
        0.000  Newchannel   caller
        2.000  Hangup       caller
        """
    )
    check(only(rows), {"abandoned": False, "wait_started_at": None, "duration_seconds": 2.0})


# --- plain Dial() flow -------------------------------------------------------------------


def test_given_dial_flow_when_operator_answers_then_answer_at_called_leg_up() -> None:
    rows = table(
        """
        0.000  Newchannel   caller
        0.010  Newchannel   op1
        0.011  DialBegin    caller>op1
        0.200  Newstate     op1         ChannelStateDesc=Ringing
        0.201  Newstate     caller      ChannelStateDesc=Ringing
        8.000  Newstate     op1         ChannelStateDesc=Up
        8.001  DialEnd      caller>op1  DialStatus=ANSWER
        8.002  BridgeEnter  caller      BridgeUniqueid=b7
        8.002  BridgeEnter  op1         BridgeUniqueid=b7
        9.000  ChannelTalkingStart caller
        60.000 BridgeLeave  op1         BridgeUniqueid=b7
        60.000 Hangup       op1         Cause=16
        60.010 BridgeLeave  caller      BridgeUniqueid=b7
        60.010 Hangup       caller      Cause=16
        """
    )
    check(
        only(rows),
        {
            "operator_id": "001",
            "ring_seconds": 7.989,
            "rings": 2,
            "answered_within_standard": True,
            "talk_seconds": 52.0,
            "silence": "none",
            "complete": True,
        },
    )


def test_given_dial_flow_when_busy_then_caller_abandons_after_retry() -> None:
    rows = table(
        """
        0.000  Newchannel   caller
        0.010  Newchannel   op1
        0.011  DialBegin    caller>op1
        0.100  DialEnd      caller>op1  DialStatus=BUSY
        0.101  Hangup       op1         Cause=17
        4.000  Hangup       caller      Cause=16
        """
    )
    check(only(rows), {"abandoned": True, "short_abandon": True, "operator_id": None})


# --- callbacks (S5): the PBX calls the customer ----------------------------------------


@pytest.mark.parametrize(
    ("status", "answered"), [("ANSWER", True), ("BUSY", False), ("NOANSWER", False)]
)
def test_given_originated_call_when_customer_answers_or_not_then_callback_never_abandoned(
    status: str, answered: bool
) -> None:
    # Originate: DialBegin with no calling channel toward the call's first channel
    # (Asterisk 22, as recorded in tests/fixtures/captures/callback_*.jsonl).
    rows = table(
        f"""
        0.000  Newchannel   caller      ChannelStateDesc=Down
        0.000  NewCallerid  caller      CallerIDNum=4008001000
        0.001  DialBegin    >caller     DialString=13900139001@trunk
        0.006  Newstate     caller      ChannelStateDesc=Ringing
        4.009  DialEnd      >caller     DialStatus={status}
        {"30.000" if answered else "4.010"} Hangup caller
        """
    )
    outcome = only(rows)
    check(
        outcome,
        {
            "direction": "callback",
            "caller_number": "13900139001",
            "abandoned": False,
            "short_abandon": False,
            "silence": "none",
            "operator_id": None,
            "ring_seconds": 4.008 if answered else None,
            "talk_seconds": 25.991 if answered else None,
        },
    )


# --- hang-up by either side, S6 ----------------------------------------------------------


def test_given_connected_call_when_operator_hangs_up_first_then_talk_ends_there() -> None:
    rows = queue_call(3.5, 100.0, extra="50.000 Hangup op1 Cause=16")
    outcome = only(rows)
    check(outcome, {"talk_seconds": 46.498, "duration_seconds": 100.0})


def test_given_connected_call_when_caller_hangs_up_then_talk_ends_there() -> None:
    check(only(queue_call(3.5, 100.0)), {"talk_seconds": 96.498, "over_max_duration": False})


@pytest.mark.parametrize(("talk", "over"), [(299.0, False), (300.0, False), (301.0, True)])
def test_given_long_call_when_talk_exceeds_five_minutes_then_flagged(
    talk: float, over: bool
) -> None:
    outcome = only(queue_call(3.498, 3.5 + talk))
    check(outcome, {"talk_seconds": talk, "over_max_duration": over})


# --- S2 holds ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "over", "severe"), [(5.0, False, False), (12.0, True, False), (70.0, True, True)]
)
def test_given_connected_call_when_operator_holds_then_hold_measured(
    seconds: float, over: bool, severe: bool
) -> None:
    rows = queue_call(
        3.5,
        200.0,
        extra=f"""
        20.000 Hold   op1 MusicClass=default
        {20 + seconds:.3f} Unhold op1
        """,
    )
    outcome = only(rows)
    check(
        outcome,
        {
            "holds": [
                {
                    "started_at": "2023-11-14T22:13:40.000000+00:00",
                    "ended_at": f"2023-11-14T22:13:{40 + seconds:09.6f}+00:00"
                    if seconds < 20
                    else "2023-11-14T22:14:50.000000+00:00",
                    "seconds": seconds,
                    "reminders_played": 0,
                }
            ],
            "max_hold_seconds": seconds,
            "hold_over_limit": over,
        },
    )
    assert outcome["extra"]["hold_severe"] is severe


def test_given_two_holds_when_both_end_then_both_listed_with_reminders() -> None:
    rows = queue_call(
        3.5,
        200.0,
        extra="""
        20.000 Hold      op1
        30.000 UserEvent caller UserEvent=IvrAgentPrompt Prompt=hold_reminder Phase=started
        32.000 UserEvent caller UserEvent=IvrAgentPrompt Prompt=hold_reminder Phase=finished
        35.000 Unhold    op1
        35.001 UserEvent caller UserEvent=IvrAgentPrompt Prompt=hold_end_apology Phase=started
        80.000 Hold      op1
        84.000 Unhold    op1
        """,
    )
    outcome = only(rows)
    check(
        outcome,
        {"max_hold_seconds": 15.0, "hold_over_limit": True},
    )
    assert [(h["seconds"], h["reminders_played"]) for h in outcome["holds"]] == [
        (15.0, 1),
        (4.0, 0),
    ]
    assert [p["prompt"] for p in outcome["prompts_played"]] == ["hold_reminder", "hold_end_apology"]
    assert outcome["prompts_played"][0]["finished"] is True


def test_given_hold_when_caller_hangs_up_on_hold_then_hold_ends_at_hangup() -> None:
    rows = queue_call(3.5, 50.0, extra="20.000 Hold op1")
    outcome = only(rows)
    assert [h["seconds"] for h in outcome["holds"]] == [30.0]
    assert outcome["hold_over_limit"] is True


def test_given_hold_when_holding_operator_hangs_up_then_hold_ends_at_that_hangup() -> None:
    rows = queue_call(3.5, 50.0, extra="20.000 Hold op1\n 26.000 Hangup op1 Cause=16")
    outcome = only(rows)
    assert [h["seconds"] for h in outcome["holds"]] == [6.0]


def test_given_hold_when_time_passes_then_reminder_commands_due_at_10_then_every_20() -> None:
    tracker = Tracker(CONFIG, "pbx1")
    rows = queue_call(3.5, 200.0, extra="20.000 Hold op1\n 75.000 Unhold op1")
    commands: list[Any] = []
    for fields in rows:
        event = parse_ami(fields)
        assert event is not None
        # a live loop ticks on its own schedule; here once before each event
        commands.extend(tracker.tick(event.at).commands)
        commands.extend(tracker.feed(event).commands)
        if fields["Event"] == "Hold":
            for second in range(21, 75):
                commands.extend(tracker.tick(event.at_us + (second - 20) * 1_000_000).commands)
    reminders = [c for c in commands if isinstance(c, PlayPrompt) and c.prompt == "hold_reminder"]
    # held at 20 s (22:13:40): due at 30, 50, 70 s; the tick at 70 s announces the one at 90 s
    assert [c.due_at.second for c in reminders] == [50, 10, 30, 50]
    assert all(c.timer == "hold" for c in reminders)
    kinds = [c.kind for c in commands if isinstance(c, CancelTimers)]
    assert "hold" in kinds
    apology = [c for c in commands if isinstance(c, PlayPrompt) and c.prompt == "hold_end_apology"]
    assert len(apology) == 1


def test_given_hold_when_a_tick_comes_an_hour_late_then_one_reminder_not_a_burst() -> None:
    # Issue 14: ticking on a clock an hour ahead of the PBX emitted 180 hold reminders.
    tracker = Tracker(CONFIG, "pbx1")
    commands: list[Any] = []
    held_at = 0
    for fields in queue_call(3.5, 4000.0, extra="20.000 Hold op1"):
        event = parse_ami(fields)
        assert event is not None
        commands.extend(tracker.feed(event).commands)
        if fields["Event"] == "Hold":
            held_at = event.at_us
            commands.extend(tracker.tick(held_at + 3600 * 1_000_000).commands)
            break
    reminders = [c for c in commands if isinstance(c, PlayPrompt) and c.prompt == "hold_reminder"]
    # The first reminder (due 10 s into the hold), then only the next one after the late
    # tick: due at 3610 s, the first repeat after it.
    assert [round((to_us(c.due_at) - held_at) / 1e6) for c in reminders] == [10, 3610]


def test_given_a_finished_call_when_the_pbx_reuses_its_linkedid_then_a_new_call_is_tracked() -> (
    None
):
    # Issue 14: Asterisk's Uniqueid counter restarts with the process, so a Linkedid can
    # come back; the tracker dropped the new call as "late events" of the finished one.
    first = queue_call(3.5, 20.0)
    late_hangup = dict(first[-1])  # a duplicate of the first call's last event, late
    again = [
        {**row, "Timestamp": f"{float(row['Timestamp']) + 100:.6f}"}
        for row in queue_call(4.0, 30.0)
    ]
    outcomes, _, tracker = run([*first, late_hangup, *again])
    assert len(outcomes) == 2
    assert outcomes[0].call_id != outcomes[1].call_id
    assert outcomes[1].ring_seconds == pytest.approx(3.5, abs=0.01)
    assert tracker.stats.linkedids_reused == 1
    assert tracker.stats.late + tracker.stats.duplicates >= 1


def test_given_tracking_began_mid_call_then_dial_events_give_the_caller_number() -> None:
    # Found by the chaos run: an agent restarted while a caller was queued saw only the
    # DialEnd CANCELs and a Hangup; the outcome had no caller number (so no callback).
    rows = [
        r
        for r in queue_call(3.5, 20.0)
        if r["Event"] == "DialEnd" or (r["Event"] == "Hangup" and "op001" in r["Channel"])
    ]
    (outcome,) = run(rows)[0]
    assert outcome.caller_number == "13800138000"


# --- transfers ---------------------------------------------------------------------------


def test_given_answered_call_when_transferred_by_queue_then_last_operator_and_first_ring() -> None:
    rows = table(
        """
        0.000  Newchannel        caller
        0.500  QueueCallerJoin   caller     Queue=support
        0.501  Newchannel        op1
        0.500  AgentCalled       caller>op1
        4.500  AgentConnect      caller>op1
        4.501  BridgeEnter       caller     BridgeUniqueid=b1
        4.501  BridgeEnter       op1        BridgeUniqueid=b1
        30.000 BridgeLeave       op1        BridgeUniqueid=b1
        30.000 AgentComplete     caller>op1 Reason=transfer
        30.001 BridgeLeave       caller     BridgeUniqueid=b1
        30.002 Hangup            op1
        30.100 QueueCallerJoin   caller     Queue=billing
        30.101 Newchannel        op2
        30.102 AgentCalled       caller>op2 Queue=billing
        38.000 AgentConnect      caller>op2 Queue=billing
        38.001 BridgeEnter       caller     BridgeUniqueid=b2
        38.001 BridgeEnter       op2        BridgeUniqueid=b2
        90.000 Hangup            caller
        90.001 Hangup            op2
        """
    )
    outcome = only(rows)
    check(
        outcome,
        {
            "operator_id": "002",
            "ring_seconds": 4.0,
            "rings": 1,
            "answered_at": "2023-11-14T22:13:24.500000+00:00",
            "talk_seconds": 85.5,
            "abandoned": False,
        },
    )
    assert outcome["extra"]["operator_ids"] == ["001", "002"]


#: op1 answers, holds the caller, dials op2 (consult), then op2 replaces op1 in the bridge.
ATTENDED_TRANSFER = """
        0.000  Newchannel   caller
        0.010  Newchannel   op1
        0.011  DialBegin    caller>op1
        2.000  DialEnd      caller>op1  DialStatus=ANSWER
        2.001  BridgeEnter  caller      BridgeUniqueid=b1
        2.001  BridgeEnter  op1         BridgeUniqueid=b1
        20.000 Hold         op1
        21.000 Newchannel   op2
        21.001 DialBegin    op1>op2
        25.000 DialEnd      op1>op2     DialStatus=ANSWER
        25.001 BridgeEnter  op2         BridgeUniqueid=b9
        40.000 BridgeLeave  op2         BridgeUniqueid=b9
        40.001 BridgeEnter  op2         BridgeUniqueid=b1
        40.002 BridgeLeave  op1         BridgeUniqueid=b1
        40.003 Hangup       op1
        70.000 Hangup       caller
        70.001 Hangup       op2
        """


def test_given_answered_call_when_attended_transfer_then_operator_is_the_one_bridged_last() -> None:
    # op1 holds the caller, dials op2 (consult), then op2 replaces op1 in the caller's bridge.
    rows = table(ATTENDED_TRANSFER)
    outcome = only(rows)
    check(
        outcome,
        {
            "operator_id": "002",
            "ring_seconds": 1.989,
            "rings": 1,
            "talk_seconds": 68.0,
            "holds": [
                {
                    "started_at": "2023-11-14T22:13:40.000000+00:00",
                    "ended_at": "2023-11-14T22:14:00.001000+00:00",
                    "seconds": 20.001,
                    "reminders_played": 0,
                }
            ],
        },
    )


def test_given_local_channel_member_when_answered_then_operator_from_interface() -> None:
    rows = table(
        """
        0.000  Newchannel   caller
        0.500  QueueCallerJoin caller
        0.501  Newchannel   loc1
        0.501  Newchannel   loc2
        0.500  AgentCalled  caller>loc1
        0.503  DialBegin    loc2>opL
        0.503  Newchannel   opL
        6.000  DialEnd      loc2>opL   DialStatus=ANSWER
        6.001  BridgeEnter  loc2       BridgeUniqueid=bl
        6.001  BridgeEnter  opL        BridgeUniqueid=bl
        6.002  AgentConnect caller>loc1
        6.003  BridgeEnter  caller     BridgeUniqueid=b1
        6.003  BridgeEnter  loc1       BridgeUniqueid=b1
        20.000 Hold         opL
        25.000 Unhold       opL
        50.000 Hangup       opL
        50.001 Hangup       loc2
        50.002 Hangup       loc1
        50.003 Hangup       caller
        """
    )
    check(
        only(rows),
        {"operator_id": "8101", "ring_seconds": 5.502, "max_hold_seconds": 5.0, "complete": True},
    )


# --- S3 silent caller --------------------------------------------------------------------


def test_given_silent_caller_when_never_speaking_then_hung_up_silent() -> None:
    rows = queue_call(
        3.5,
        18.0,
        extra="""
        8.502  UserEvent caller UserEvent=IvrAgentPrompt Prompt=silence_first Phase=started
        11.000 UserEvent caller UserEvent=IvrAgentPrompt Prompt=silence_first Phase=finished
        16.000 UserEvent caller UserEvent=IvrAgentPrompt Prompt=silence_last Phase=started
        17.900 UserEvent caller UserEvent=IvrAgentPrompt Prompt=silence_last Phase=finished
        """,
    )
    outcomes, commands, _ = run(rows)
    assert outcomes[0].silence == "hung_up_silent"
    silence = [c for c in commands if isinstance(c, PlayPrompt) and c.timer == "silence"]
    assert [(c.prompt, c.due_at.second, c.due_at.microsecond, c.hangup_after) for c in silence] == [
        ("silence_first", 28, 502000, False),  # answered 3.502 s + 5 s (after 20 s base)
        ("silence_last", 36, 0, True),  # first prompt finished at 11 s + 5 s
    ]
    assert silence[0].channel == "PJSIP/pbx-00000001"
    assert silence[0].channel_id == "1700000001.1"


def test_given_silent_caller_without_ivr_when_silent_past_deadline_then_hung_up_silent() -> None:
    check(only(queue_call(3.5, 12.0)), {"silence": "hung_up_silent"})


def test_given_caller_when_speaking_after_first_prompt_then_prompted_then_spoke() -> None:
    rows = queue_call(
        3.5,
        60.0,
        extra="""
        8.502  UserEvent caller UserEvent=IvrAgentPrompt Prompt=silence_first Phase=started
        10.500 ChannelTalkingStart caller
        11.000 UserEvent caller UserEvent=IvrAgentPrompt Prompt=silence_first Phase=finished
        14.000 ChannelTalkingStop  caller Duration=1000
        """,
    )
    outcomes, commands, _ = run(rows)
    assert outcomes[0].silence == "prompted_then_spoke"
    # speech stopped the watchdog: no last prompt was asked for
    assert not [c for c in commands if isinstance(c, PlayPrompt) and c.prompt == "silence_last"]


def test_given_caller_when_speaking_within_five_seconds_then_no_silence() -> None:
    rows = queue_call(3.5, 60.0, extra="6.000 ChannelTalkingStart caller")
    outcomes, commands, _ = run(rows)
    assert outcomes[0].silence == "none"
    cancels = [c for c in commands if isinstance(c, CancelTimers) and c.kind == "silence"]
    assert len(cancels) == 1


def test_given_greeting_when_played_after_answer_then_silence_counts_from_its_end() -> None:
    rows = queue_call(
        3.5,
        60.0,
        extra="""
        3.600  UserEvent caller UserEvent=IvrAgentPrompt Prompt=operator_intro Phase=started
        7.600  UserEvent caller UserEvent=IvrAgentPrompt Prompt=operator_intro Phase=finished
        11.000 ChannelTalkingStart caller
        """,
    )
    # 11 s is 7.5 s after the answer but 3.4 s after the greeting ended: no silence
    check(only(rows), {"silence": "none"})


def test_given_talk_stop_only_when_start_missed_then_speech_still_counts() -> None:
    # ChannelTalkingStop comes ~2.5 s after the talk ended; the talk began at stop - Duration.
    rows = queue_call(3.5, 60.0, extra="9.000 ChannelTalkingStop caller Duration=6000")
    check(only(rows), {"silence": "none"})


def test_given_caller_talking_when_the_operator_answers_then_not_silent() -> None:
    # TALK_DETECT heard the caller start 0.5 s before the PBX stamped the answer (a loaded
    # PBX stamps it late), and the call ends mid-sentence: no ChannelTalkingStop ever comes.
    rows = queue_call(3.5, 12.0)
    answer_at = next(i for i, r in enumerate(rows) if r.get("ChannelStateDesc") == "Up" and i > 1)
    rows[answer_at:answer_at] = table("3.000 ChannelTalkingStart caller")
    outcomes, commands, _ = run(rows)
    assert outcomes[0].silence == "none"
    assert not [c for c in commands if isinstance(c, PlayPrompt) and c.timer == "silence"]


def test_given_talk_on_operator_channel_when_caller_silent_then_still_silent() -> None:
    rows = queue_call(3.5, 15.0, extra="4.000 ChannelTalkingStart op1")
    check(only(rows), {"silence": "hung_up_silent"})


# --- robustness --------------------------------------------------------------------------


def test_given_duplicate_event_when_fed_twice_then_ignored() -> None:
    rows = queue_call(3.5, 40.0, extra="20.000 Hold op1\n 25.000 Unhold op1")
    doubled = [r for row in rows for r in (row, dict(row))]
    outcomes, _, tracker = run(doubled)
    single, _, _ = run(rows)
    assert [o.to_json_line() for o in outcomes] == [o.to_json_line() for o in single]
    # the copy of the last Hangup arrives after the call finished: "late", not "duplicate"
    assert (tracker.stats.duplicates, tracker.stats.late) == (len(rows) - 1, 1)


def test_given_finished_call_when_late_event_arrives_then_no_phantom_call() -> None:
    rows = queue_call(3.5, 40.0)
    late = table("41.000 UserEvent caller UserEvent=IvrAgentPrompt Prompt=survey Phase=finished")
    outcomes, _, tracker = run(rows + late)
    assert len(outcomes) == 1
    assert len(tracker) == 0
    assert tracker.stats.late == 1


def test_given_reconnect_gap_when_call_ends_then_incomplete_with_reason() -> None:
    rows = queue_call(3.5, 40.0)
    tracker = Tracker(CONFIG, "pbx1")
    outcomes = []
    for i, fields in enumerate(rows):
        event = parse_ami(fields)
        assert event is not None
        if i == 10:
            assert tracker.mark_gap(event.at, "AMI reconnected") == 1
        outcomes.extend(tracker.feed(event).outcomes)
    assert outcomes[0].complete is False
    assert outcomes[0].incomplete_reason == "AMI reconnected at 2023-11-14T22:13:23+00:00"


def test_given_call_started_before_tracking_when_it_ends_then_incomplete() -> None:
    rows = queue_call(3.5, 40.0)[4:]
    check(only(rows), {"complete": False})


def test_given_illegal_move_when_fed_then_anomaly_on_timeline_not_exception() -> None:
    rows = table(
        """
        0.000  Newchannel       caller
        0.500  QueueCallerJoin  caller
        1.000  Hold             op1          # a hold before any answer: illegal in waiting
        1.500  Unhold           op1
        2.000  Hangup           op1
        3.000  Hangup           caller
        3.001  QueueCallerJoin  caller       # after the end: late, dropped
        """
    )
    tracker = Tracker(CONFIG, "pbx1")
    finished = []
    for fields in rows:
        event = parse_ami(fields)
        assert event is not None
        finished.extend(tracker.feed(event).finished)
    assert len(finished) == 1
    outcome, timeline = finished[0].outcome, finished[0].timeline
    assert outcome.abandoned is True
    assert outcome.holds == ()
    anomalies = [t for t in timeline if t.kind == "anomaly"]
    assert [a.details["message"] for a in anomalies] == [
        "Hold (hold) is not allowed in state waiting"
    ]
    assert outcome.extra["anomalies"] == 1
    assert (tracker.stats.anomalies, tracker.stats.late) == (1, 1)


def test_given_drain_when_calls_in_flight_then_incomplete_outcomes() -> None:
    rows = queue_call(3.5, 40.0)[:12]
    _, _, tracker = run(rows)
    assert [s.state for s in tracker.in_progress()] == ["connected"]
    snapshot = tracker.in_progress()[0]
    assert snapshot.operator_id == "001"
    assert snapshot.caller_number == "13800138000"
    result = tracker.drain()
    assert len(result.outcomes) == 1
    assert result.outcomes[0].complete is False
    assert "hang-up was not seen" in (result.outcomes[0].incomplete_reason or "")
    assert len(tracker) == 0


def test_given_stale_call_when_ticked_hours_later_then_given_up() -> None:
    rows = queue_call(3.5, 40.0)[:12]
    _, _, tracker = run(rows)
    event = parse_ami(rows[-1])
    assert event is not None
    assert not tracker.tick(event.at_us + 3600 * 1_000_000).outcomes
    result = tracker.tick(event.at_us + 7 * 3600 * 1_000_000)
    assert len(result.outcomes) == 1
    assert result.outcomes[0].ended_at == event.at
    assert tracker.stats.calls_stale == 1


def test_given_finished_call_when_timeline_built_then_ordered_and_json_ready() -> None:
    tracker = Tracker(CONFIG, "pbx1")
    finished = []
    for fields in queue_call(3.5, 40.0, extra="20.000 Hold op1\n 25.000 Unhold op1"):
        event = parse_ami(fields)
        assert event is not None
        finished.extend(tracker.feed(event).finished)
    timeline = finished[0].timeline
    assert [t.at for t in timeline] == sorted(t.at for t in timeline)
    assert timeline[0].kind == "Newchannel"
    assert timeline[-1].kind == "Hangup"
    hold = next(t for t in timeline if t.kind == "Hold")
    assert hold.channel == "PJSIP/op001-00000012"
    assert all(isinstance(t.to_json(), dict) for t in timeline)


def test_given_two_calls_interleaved_when_fed_then_two_outcomes() -> None:
    a = table("0 Newchannel caller\n 1 QueueCallerJoin caller\n 9 Hangup caller", call=1)
    b = table("0.5 Newchannel caller\n 2 QueueCallerJoin caller\n 5 Hangup caller", call=2)
    merged = sorted(a + b, key=lambda f: f["Timestamp"])
    outcomes, _, _ = run(merged)
    assert [(o.linkedid, o.short_abandon) for o in outcomes] == [
        ("1700000002.1", True),
        ("1700000001.1", False),
    ]


# --- S9: who hung up first ------------------------------------------------------------------


def _ended_by(requests: str, reason: str = "agent") -> list[dict[str, str]]:
    """An answered queue call whose end begins with ``requests`` (table rows at 30.0 s),
    the operator's leg then leaving with AgentComplete ``reason``, and the caller's end."""
    return table(
        f"""
        0.000  Newchannel        caller
        0.500  QueueCallerJoin   caller     Position=1 Count=1
        0.500  Newchannel        op1
        0.500  AgentCalled       caller>op1
        0.500  DialBegin         caller>op1
        3.500  DialEnd           caller>op1 DialStatus=ANSWER
        3.502  AgentConnect      caller>op1 RingTime=3 HoldTime=3
        3.503  BridgeEnter       caller     BridgeUniqueid=b1 BridgeNumChannels=1
        3.503  BridgeEnter       op1        BridgeUniqueid=b1 BridgeNumChannels=2
        {requests}
        30.001 AgentComplete     caller>op1 Reason={reason} TalkTime=26 HoldTime=3
        30.002 BridgeLeave       op1        BridgeUniqueid=b1
        30.003 Hangup            op1        Cause=16
        40.000 BridgeLeave       caller     BridgeUniqueid=b1
        40.000 Hangup            caller     Cause=16
        """
    )


@pytest.mark.parametrize(
    ("requests", "reason", "hung_up_by", "breach"),
    [
        # The caller's BYE first: as the handbooks want.
        ("30.000 HangupRequest caller Cause=16", "caller", "caller", False),
        # The operator's BYE first, the caller left on the line (e.g. to the satisfaction
        # question): the operator hung up first.
        ("30.000 HangupRequest op1 Cause=16", "agent", "operator", True),
        # A transfer: the operator's leg ends, but the caller was handed on, not hung up on.
        ("30.000 SoftHangupRequest op1 Cause=16", "transfer", "system", False),
        ("30.000 HangupRequest op1 Cause=16", "transfer", "operator", False),
        # The PBX first (the agent hanging up a silent caller through ARI), then the BYEs
        # that follow from it do not change the verdict.
        (
            "30.000 SoftHangupRequest caller Cause=16\n30.001 HangupRequest op1 Cause=16",
            "caller",
            "system",
            False,
        ),
        # No request seen (an older PBX or filter): unknown, and no breach is made up.
        ("", "agent", None, False),
    ],
    ids=["caller", "operator", "transfer-soft", "transfer", "system", "unknown"],
)
def test_given_the_first_hang_up_request_then_the_outcome_says_who_ended_the_call(
    requests: str, reason: str, hung_up_by: str | None, breach: bool
) -> None:
    outcome = only(_ended_by(requests, reason))
    check(outcome, {"hung_up_by": hung_up_by, "operator_hung_up_first": breach})


def test_given_a_ringing_leg_cancelled_then_its_hang_up_request_says_nothing() -> None:
    rows = _ended_by(
        "2.000 SoftHangupRequest op2 Cause=26\n2.001 Hangup op2 Cause=26\n"
        "30.000 HangupRequest caller Cause=16",
        "caller",
    )
    assert only(rows)["hung_up_by"] == "caller"


def _handed_over(operator_end: str) -> list[dict[str, str]]:
    """An answered queue call the operator hands over to the satisfaction question (a blind
    transfer to the hook), as the sandbox PBX sends it: the operator's leg leaves the bridge
    — before or after Queue's AgentComplete ``transfer`` — and is hung up without a request
    of its own (``operator_end`` may add one); the hook asks, reports the key and hangs up."""
    return table(
        f"""
        0.000  Newchannel        caller
        0.500  QueueCallerJoin   caller     Position=1 Count=1
        0.500  Newchannel        op1
        0.500  AgentCalled       caller>op1
        3.500  DialEnd           caller>op1 DialStatus=ANSWER
        3.502  AgentConnect      caller>op1 RingTime=3 HoldTime=3
        3.503  BridgeEnter       op1        BridgeUniqueid=b1 BridgeNumChannels=1
        3.503  BridgeEnter       caller     BridgeUniqueid=b1 BridgeNumChannels=2
        {operator_end}
        30.002 Hangup            op1        Cause=16
        30.003 UserEvent caller UserEvent=IvrAgentPrompt Prompt=satisfaction Phase=started
        36.000 UserEvent caller UserEvent=IvrAgentPrompt Prompt=satisfaction Phase=finished
        36.500 UserEvent caller UserEvent=IvrAgentSurvey Digit=1
        36.501 SoftHangupRequest caller     Cause=16
        36.502 Hangup            caller     Cause=16
        """
    )


_LEAVE_THEN_COMPLETE = (
    "30.000 BridgeLeave op1 BridgeUniqueid=b1\n"
    "30.000 BridgeLeave caller BridgeUniqueid=b1\n"
    "30.001 AgentComplete caller>op1 Reason=transfer TalkTime=26 HoldTime=3"
)
_COMPLETE_THEN_LEAVE = (
    "30.000 AgentComplete caller>op1 Reason=transfer TalkTime=26 HoldTime=3\n"
    "30.001 BridgeLeave op1 BridgeUniqueid=b1\n"
    "30.001 BridgeLeave caller BridgeUniqueid=b1"
)


@pytest.mark.parametrize(
    ("operator_end", "hung_up_by"),
    [
        # As seen live: nobody asked to end a leg until the hook hung up after the question.
        (_LEAVE_THEN_COMPLETE, "system"),
        (_COMPLETE_THEN_LEAVE, "system"),
        # A phone whose BYE reached the PBX while its leg was still bridged: the operator
        # asked first, but handed the caller on (the transfer is said after the leave).
        ("29.999 HangupRequest op1 Cause=16\n" + _LEAVE_THEN_COMPLETE, "operator"),
    ],
    ids=["leave-then-complete", "complete-then-leave", "operator-bye"],
)
def test_given_the_operator_hands_over_to_the_question_then_no_breach_and_the_answer_kept(
    operator_end: str, hung_up_by: str
) -> None:
    outcome = only(_handed_over(operator_end))
    check(
        outcome,
        {
            "hung_up_by": hung_up_by,
            "operator_hung_up_first": False,
            "talk_seconds": 26.498,
        },
    )
    # The caller answered the question the hook asked after the hand-over.
    assert outcome["extra"]["satisfaction"] == "satisfied"
