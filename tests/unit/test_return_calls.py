"""Return calls (S8, issue 18): the kind of a callback, the ``connected`` outcome, the
settings of the operator route, and the tracker measuring the queue part of a return call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from ivr_agent.callbacks.attempts import AttemptResult, unless_recorded
from ivr_agent.core.callbacks import (
    ANSWERED_OUTCOMES,
    FAILURES,
    CallbackConfig,
    CallbackState,
    kind_of,
    next_state,
)
from ivr_agent.core.commands import PlayPrompt, StartRecording
from ivr_agent.recordings import RecordingFile
from ivr_agent.settings import Settings

from .ami_table import BASE_US, table
from .test_core_scenarios import only, run

T0 = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    """The ISO time of a table's row ``seconds`` in."""
    return datetime.fromtimestamp(BASE_US / 1e6 + seconds, UTC).isoformat()


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("abandoned_call", "return_call"),
        ("service_completed", "survey"),
        ("complaint_resolved", "survey"),
        ("manual", "survey"),
        ("campaign", "survey"),
    ],
)
def test_abandoned_calls_get_return_calls_and_every_other_reason_the_survey(
    reason: str, kind: str
) -> None:
    assert kind_of(reason) == kind


def test_a_specialist_call_back_is_its_own_kind() -> None:
    assert kind_of("specialist") == "specialist"
    assert kind_of("queue_callback") == "return_call"


def test_an_unknown_reason_has_no_kind() -> None:
    with pytest.raises(ValueError, match="reason must be one of"):
        kind_of("whenever")


def test_connected_completes_the_callback_and_is_an_answered_outcome_not_a_failure() -> None:
    state = CallbackState(reason="abandoned_call", deadline=T0 + timedelta(hours=3))
    following = next_state(
        state,
        "connected",
        started_at=T0,
        ended_at=T0 + timedelta(seconds=20),
        config=CallbackConfig(),
    )
    assert (following.status, following.next_attempt_at) == ("completed", None)
    assert following.failed_attempts == 0
    assert "connected" in ANSWERED_OUTCOMES
    assert "connected" not in FAILURES


def test_a_return_call_hung_up_during_the_greeting_is_retried_after_the_interval() -> None:
    state = CallbackState(reason="abandoned_call", deadline=T0 + timedelta(days=1))
    ended = T0 + timedelta(seconds=5)
    config = CallbackConfig()  # T0 is 11:00 on a Thursday in Shanghai, inside a window
    following = next_state(state, "hung_up", started_at=T0, ended_at=ended, config=config)
    assert following.status == "pending"
    assert following.failed_attempts == 1
    assert following.next_attempt_at is not None
    assert following.next_attempt_at >= ended + config.retry_interval


def test_connected_without_a_verified_recording_is_failed_and_rescheduled() -> None:
    # S5: no outcome without a recording; a return call is a callback like any other.
    handed_over = AttemptResult(outcome="connected", answered_at=T0, detail="handed over")
    assert unless_recorded(handed_over).outcome == "failed"
    ok = RecordingFile(
        recording_id="r1",
        path="recordings/r1/r1.wav",
        sha256="0" * 64,
        bytes=1000,
        seconds=6.2,
        status="ok",
        reason=None,
    )
    recorded = AttemptResult(outcome="connected", answered_at=T0, recording=ok)
    assert unless_recorded(recorded).outcome == "connected"


def test_the_return_call_route_defaults_to_the_return_call_context() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (
        settings.return_call_context,
        settings.return_call_extension,
        settings.return_call_priority,
    ) == ("return-call", "s", 1)


@pytest.mark.parametrize("bad", ["", "a,b", "has space", "x|y", "ctx\n", "a" * 81])
def test_a_return_call_context_the_dialplan_would_split_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="dialplan name"):
        Settings(_env_file=None, return_call_context=bad)  # type: ignore[call-arg]


# --- the tracker: a return call is measured like an inbound call from its queue join -------

RETURN_CALL = """
    0.000   Newchannel       caller      ChannelStateDesc=Down
    0.001   DialBegin        >caller     DialString=13900139001@trunk
    0.006   Newstate         caller      ChannelStateDesc=Ringing
    3.000   DialEnd          >caller     DialStatus=ANSWER
    3.001   Newstate         caller      ChannelStateDesc=Up
    3.100   BridgeEnter      caller      BridgeUniqueid=cbb BridgeNumChannels=1
    9.500   BridgeLeave      caller      BridgeUniqueid=cbb
    9.600   QueueCallerJoin  caller      Position=1 Count=1
    9.600   Newchannel       op1
    9.600   AgentCalled      caller>op1
    9.600   DialBegin        caller>op1
    9.700   Newstate         op1         ChannelStateDesc=Ringing
    12.600  Newstate         op1         ChannelStateDesc=Up
    12.600  DialEnd          caller>op1  DialStatus=ANSWER
    12.602  AgentConnect     caller>op1  RingTime=3 HoldTime=3
    12.602  QueueCallerLeave caller      Count=0
    12.603  BridgeEnter      caller      BridgeUniqueid=b1 BridgeNumChannels=1
    12.603  BridgeEnter      op1         BridgeUniqueid=b1 BridgeNumChannels=2
    {end}
"""

CUSTOMER_HANGS_UP = """
    39.999  HangupRequest    caller      Cause=16
    40.000  BridgeLeave      caller      BridgeUniqueid=b1
    40.000  Hangup           caller      Cause=16
    40.001  AgentComplete    caller>op1  Reason=caller TalkTime=27 HoldTime=3
    40.002  BridgeLeave      op1         BridgeUniqueid=b1
    40.003  Hangup           op1         Cause=16
"""

CUSTOMER_LEAVES_THE_QUEUE = """
    15.000  Hangup           op1         Cause=26
    15.001  QueueCallerAbandon caller    Position=1 OriginalPosition=1 HoldTime=5
    15.002  Hangup           caller      Cause=16
"""


def test_a_return_call_answered_by_an_operator_is_recorded_from_its_queue_join() -> None:
    rows = table(RETURN_CALL.format(end=CUSTOMER_HANGS_UP))
    outcomes, commands, _ = run(rows)
    (outcome,) = outcomes
    assert outcome.direction == "callback"
    assert outcome.caller_number == "13900139001"
    assert outcome.abandoned is False
    # The operator who took it from the queue is the call's operator.
    assert outcome.operator_id is not None
    assert outcome.extra["operator_ids"] == [outcome.operator_id]
    assert outcome.extra["return_call"] == {
        "queued_at": at(9.6),
        # The queue's answer is AgentConnect's (as for inbound callers).
        "operator_answered_at": at(12.602),
        "wait_seconds": 3.002,
    }
    # Recorded once, from the queue join (the agent's own recording had the greeting).
    (recording,) = [c for c in commands if isinstance(c, StartRecording)]
    assert recording.linkedid == outcome.linkedid
    assert recording.at.isoformat() == at(9.6)
    # The operator introduces themselves, as to an inbound caller (S4).
    intros = [c for c in commands if isinstance(c, PlayPrompt) and c.prompt == "operator_intro"]
    assert len(intros) == 1


OPERATOR_HANGS_UP_FIRST = """
    39.999  HangupRequest    op1         Cause=16
    40.000  BridgeLeave      op1         BridgeUniqueid=b1
    40.000  Hangup           op1         Cause=16
    40.001  AgentComplete    caller>op1  Reason=agent TalkTime=27 HoldTime=3
    41.000  BridgeLeave      caller      BridgeUniqueid=b1
    41.000  Hangup           caller      Cause=16
"""


@pytest.mark.parametrize(
    ("end", "first"), [(CUSTOMER_HANGS_UP, False), (OPERATOR_HANGS_UP_FIRST, True)]
)
def test_an_operator_hanging_up_on_a_return_call_first_is_the_s9_breach(
    end: str, first: bool
) -> None:
    outcome = only(table(RETURN_CALL.format(end=end)))
    assert outcome["hung_up_by"] == ("operator" if first else "caller")
    assert outcome["operator_hung_up_first"] is first


def test_a_return_call_the_customer_leaves_in_the_queue_has_no_operator_answer() -> None:
    outcome = only(
        table(RETURN_CALL.split("    9.600   Newchannel")[0] + CUSTOMER_LEAVES_THE_QUEUE)
    )
    assert outcome["direction"] == "callback"
    assert outcome["abandoned"] is False  # a callback is never an S1 abandon
    assert outcome["operator_id"] is None
    assert outcome["extra"]["return_call"] == {
        "queued_at": at(9.6),
        "operator_answered_at": None,
        "wait_seconds": 5.402,
    }


def test_a_survey_callback_never_joins_a_queue_and_has_no_return_call_facts() -> None:
    rows = table(
        """
        0.000  Newchannel   caller      ChannelStateDesc=Down
        0.001  DialBegin    >caller     DialString=13900139001@trunk
        4.009  DialEnd      >caller     DialStatus=ANSWER
        30.000 Hangup       caller
        """
    )
    outcomes, commands, _ = run(rows)
    (outcome,) = outcomes
    assert "return_call" not in outcome.extra
    assert not [c for c in commands if isinstance(c, StartRecording)]


# --- ivr-agent doctor: the operator route exists on the PBX ----------------------------------


@pytest.mark.parametrize(
    ("answer", "status"), [("1", "OK"), ("0", "FAIL"), ("", "WARN"), (None, "WARN")]
)
def test_the_doctor_says_whether_the_return_call_route_exists(
    answer: str | None, status: str
) -> None:
    from ivr_agent.doctor.checks import return_call_route

    check = return_call_route(answer, "return-call,s,1")
    assert check.name == "return call route"
    assert check.status.value == status
    assert "return-call,s,1" in check.found
