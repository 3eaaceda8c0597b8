"""Roles (core/roles.py): what an event means once it is known whose channel it is on.

The classifier hands back the operator leg an answer or a departure is about with the kinds
(a :class:`Meaning`), so the measuring handler gets it as an argument, never through state
left on the call.
"""

from __future__ import annotations

import pytest

from ivr_agent.core import call as call_module
from ivr_agent.core.call import Call
from ivr_agent.core.config import StandardsConfig
from ivr_agent.core.events import PbxEvent, parse_ami
from ivr_agent.core.roles import Meaning, classify
from ivr_agent.core.transitions import Kind

from .ami_table import channels, table

CALLER = channels()["caller"].uniqueid
OP1 = channels()["op1"].uniqueid


def _meanings(
    rows: list[dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str, Meaning]]:
    """Each event's meaning as Call.feed got it, feeding ``rows`` to a fresh call."""
    out: list[tuple[str, Meaning]] = []

    def recording(call: Call, event: PbxEvent) -> Meaning:
        meaning = classify(call, event)
        out.append((event.kind, meaning))
        return meaning

    monkeypatch.setattr(call_module, "classify", recording)
    call = Call(CALLER, "c1", StandardsConfig())
    for row in rows:
        event = parse_ami(row)
        assert event is not None
        call.feed(event)
    return out


def test_given_queue_call_when_operator_connects_and_leaves_then_leg_comes_with_kinds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    meanings = _meanings(
        table(
            """
            0.000  Newchannel        caller
            0.500  QueueCallerJoin   caller
            0.500  AgentCalled       caller>op1
            3.000  AgentConnect      caller>op1
            3.001  BridgeEnter       caller     BridgeUniqueid=b1
            3.001  BridgeEnter       op1        BridgeUniqueid=b1
            9.000  Hold              op1
            20.000 BridgeLeave       op1        BridgeUniqueid=b1
            """
        ),
        monkeypatch,
    )
    assert meanings == [
        ("Newchannel", Meaning((Kind.CALLER_NEW,))),
        ("QueueCallerJoin", Meaning((Kind.QUEUE_JOIN,))),
        ("AgentCalled", Meaning((Kind.LEG_RINGING,))),
        ("AgentConnect", Meaning((Kind.ANSWER,), OP1)),
        ("BridgeEnter", Meaning((Kind.NOTE,))),
        ("BridgeEnter", Meaning((Kind.NOTE,))),  # connected already: no second answer
        ("Hold", Meaning((Kind.HOLD,))),
        # The holding operator leaves: the hold ends, then the operator has left.
        ("BridgeLeave", Meaning((Kind.UNHOLD, Kind.OPERATOR_LEFT), OP1)),
    ]
