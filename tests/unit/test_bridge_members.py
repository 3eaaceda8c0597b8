"""Bridge membership from AMI events (pbx/bridge_members.py): who the operator is for a
prompt both parties hear, without listing every bridge over ARI."""

from __future__ import annotations

import asyncio

import pytest

from ivr_agent.pbx import bridge_members
from ivr_agent.pbx.bridge_members import BridgeMembers


def enter(uid: str, bridge: str) -> dict[str, str]:
    return {"Event": "BridgeEnter", "Uniqueid": uid, "BridgeUniqueid": bridge}


def leave(uid: str, bridge: str) -> dict[str, str]:
    return {"Event": "BridgeLeave", "Uniqueid": uid, "BridgeUniqueid": bridge}


async def test_the_operator_bridged_with_the_caller_is_the_other_member() -> None:
    index = BridgeMembers()
    index.observe(enter("caller", "b1"))
    index.observe(enter("operator", "b1"))
    index.observe(enter("elsewhere", "b2"))
    assert await index.others("caller", 0.0) == ["operator"]
    assert await index.others("operator", 0.0) == ["caller"]


async def test_the_answer_before_the_bridge_waits_for_the_operator_to_enter() -> None:
    """Dial(): the operator's Newstate Up (the answer) comes before the BridgeEnters."""
    index = BridgeMembers()
    asking = asyncio.create_task(index.others("caller", 1.0))
    await asyncio.sleep(0.01)
    index.observe(enter("caller", "b1"))  # alone for a moment: not an answer yet
    await asyncio.sleep(0.01)
    assert not asking.done()
    index.observe(enter("operator", "b1"))
    assert await asyncio.wait_for(asking, 0.5) == ["operator"]


async def test_a_caller_never_seen_bridged_is_unknown_and_one_alone_has_nobody() -> None:
    index = BridgeMembers()
    assert await index.others("caller", 0.02) is None  # the caller then asks ARI
    index.observe(enter("caller", "b1"))
    assert await index.others("caller", 0.02) == []


async def test_leaving_hanging_up_and_a_reconnect_forget_members() -> None:
    index = BridgeMembers()
    for uid in ("caller", "operator", "consult"):
        index.observe(enter(uid, "b1"))
    assert await index.others("caller", 0.0) == ["consult", "operator"]
    index.observe(leave("consult", "b1"))
    index.observe({"Event": "Hangup", "Uniqueid": "operator"})
    assert await index.others("caller", 0.0) == []
    index.observe(enter("operator2", "b1"))
    index.clear()
    assert await index.others("caller", 0.0) is None


async def test_a_channel_moving_to_another_bridge_leaves_the_first() -> None:
    index = BridgeMembers()
    index.observe(enter("caller", "b1"))
    index.observe(enter("operator", "b1"))
    index.observe(enter("caller", "b2"))  # a transfer, BridgeLeave missed
    index.observe(enter("other", "b2"))
    assert await index.others("operator", 0.0) == []
    assert await index.others("caller", 0.0) == ["other"]


async def test_events_without_ids_are_ignored_and_the_index_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index = BridgeMembers()
    index.observe({"Event": "BridgeEnter"})
    index.observe({"Event": "BridgeEnter", "Uniqueid": "x"})
    assert await index.others("x", 0.0) is None
    monkeypatch.setattr(bridge_members, "MAX_CHANNELS", 3)
    for n in range(5):
        index.observe(enter(f"c{n}", "b"))
    assert await index.others("c4", 0.0) == ["c2", "c3"]
    assert await index.others("c0", 0.0) is None
