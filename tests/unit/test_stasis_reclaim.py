"""Reclaim after an ARI (re)connection: who owns what sits in our Stasis app (fake ARI).

A process dying in the middle of a handler is a fault a real PBX cannot produce on demand;
here the previous process is a router that is simply dropped, its handler never finishing.
The channel listings have the shape Asterisk 22 gives (``dialplan.app_name`` ``Stasis``,
``dialplan.app_data`` ``<app>,<args>``), as seen on the sandbox PBX.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from ivr_agent.pbx.ari import AriClient, AriError
from ivr_agent.pbx.stasis import (
    ANY_SNOOP_PREFIX,
    INSTANCE_ID,
    StasisCall,
    StasisRouter,
    snoop_id,
    stasis_entry,
)

APP = "ivr-agent"


@dataclass
class FakeAri:
    """Records the REST calls; lists ``live``; channels in ``gone`` answer 404."""

    live: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self.calls.append(("hangup", channel_id))

    async def continue_in_dialplan(self, channel_id: str, **_: object) -> None:
        if channel_id in self.gone:
            raise AriError("POST", f"/channels/{channel_id}/continue", 404, "Channel not found")
        self.calls.append(("continue", channel_id))

    async def channels(self) -> list[dict[str, Any]]:
        return self.live


def in_stasis(channel_id: str, data: str) -> dict[str, Any]:
    """A channel as ``GET /channels`` lists it while it runs ``Stasis(data)``."""
    return {
        "id": channel_id,
        "state": "Up",
        "dialplan": {
            "context": "ivr-agent-inbound",
            "exten": "s",
            "priority": 3,
            "app_name": "Stasis",
            "app_data": data,
        },
    }


def in_dialplan(channel_id: str, app: str, data: str) -> dict[str, Any]:
    return {"id": channel_id, "dialplan": {"app_name": app, "app_data": data}}


def stasis_start(channel_id: str, *args: str) -> dict[str, Any]:
    return {"type": "StasisStart", "args": list(args), "channel": {"id": channel_id}}


async def until_idle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


class Agent:
    """One agent process's router with the hook routes of the prompts feature (greet and
    survey: ``from_dialplan``) and the callback dialer's (not from the dialplan)."""

    def __init__(self, ari: FakeAri) -> None:
        self.router = StasisRouter(cast(AriClient, ari), APP)
        self.release = asyncio.Event()
        self.started: list[str] = []

    async def handler(self, call: StasisCall) -> None:
        self.started.append(call.channel_id)
        await self.release.wait()  # playing the greeting…

    def install(self) -> Agent:
        self.router.route("greet", self.handler, from_dialplan=True)
        self.router.route("survey", self.handler, from_dialplan=True)
        self.router.route("callback", self.handler)
        return self


@pytest.fixture
def ari() -> FakeAri:
    return FakeAri()


def test_the_channel_listing_tells_the_stasis_app_and_arguments() -> None:
    assert stasis_entry(in_stasis("c", "ivr-agent,greet,,1763900000.1")) == (
        "ivr-agent",
        ("greet", "", "1763900000.1"),
    )
    assert stasis_entry(in_stasis("s", "ivr-agent,whisper")) == ("ivr-agent", ("whisper",))
    assert stasis_entry(in_stasis("o", "other-app")) == ("other-app", ())
    assert stasis_entry(in_dialplan("q", "Queue", "hotline,rc,,,600")) is None
    assert stasis_entry({"id": "bare"}) is None
    assert stasis_entry({"id": "odd", "dialplan": {"app_name": "Stasis", "app_data": 5}}) is None


def test_snoop_ids_carry_this_process_instance_id() -> None:
    assert snoop_id("abc") == f"ivr-agent-snoop-{INSTANCE_ID}-abc"
    # The inbound recorder's snoops (recordings/inbound.py) are ids of this instance too.
    assert snoop_id("rec-0123456789abcdef").startswith(f"{ANY_SNOOP_PREFIX}{INSTANCE_ID}-")
    assert len(INSTANCE_ID) == 8


async def test_after_a_restart_the_callers_stranded_in_a_hook_route_go_on_in_the_dialplan(
    ari: FakeAri,
) -> None:
    dead = Agent(ari).install()
    dead.router.dispatch(stasis_start("greeted", "greet", "external", "greeted"))
    dead.router.dispatch(stasis_start("asked", "survey", "asked"))
    await until_idle()
    assert dead.started == ["greeted", "asked"]  # …and the process dies mid-handler

    ari.live = [
        in_stasis("greeted", "ivr-agent,greet,external,greeted"),
        in_stasis("asked", "ivr-agent,survey,asked"),
        in_stasis("ivr-agent-cb-42", "ivr-agent,callback,42"),  # the dialer reconciles it
        in_stasis("elsewhere", "other-agent,greet,external,x"),  # another agent's caller
        in_dialplan("queued", "Queue", "hotline,rc,,,600"),  # in plain dialplan
        {"id": "unknown"},
    ]
    agent = Agent(ari).install()
    await agent.router.reclaim()
    assert ari.calls == [("continue", "greeted"), ("continue", "asked")]
    assert agent.router.stats.stranded_continued == 2
    assert agent.started == []


async def test_on_a_reconnect_in_the_same_process_live_handlers_keep_their_channels(
    ari: FakeAri,
) -> None:
    agent = Agent(ari).install()
    agent.router.dispatch(stasis_start("playing", "greet", "external", "playing"))
    await until_idle()
    ari.live = [
        in_stasis("playing", "ivr-agent,greet,external,playing"),
        in_stasis("stranded", "ivr-agent,greet,external,stranded"),
    ]
    await agent.router.reclaim()
    assert ari.calls == [("continue", "stranded")]
    assert agent.router.owned("playing")

    agent.release.set()  # the greeting ends; the handler lets go of the channel
    await until_idle()
    assert not agent.router.owned("playing")


async def test_a_subscription_owns_its_channel_too(ari: FakeAri) -> None:
    agent = Agent(ari).install()
    ari.live = [in_stasis("waited", "ivr-agent,survey,waited")]
    with agent.router.subscribe("waited"):
        await agent.router.reclaim()
    assert ari.calls == []


async def test_snoops_are_hung_up_when_their_owner_is_gone_but_not_recordings_nor_others(
    ari: FakeAri,
) -> None:
    agent = Agent(ari).install()
    owned, orphan = snoop_id("owned"), snoop_id("orphan")
    predecessor = f"{ANY_SNOOP_PREFIX}0badc0de-1234"
    predecessors_recording = f"{ANY_SNOOP_PREFIX}0badc0de-rec-5678"
    others = f"{ANY_SNOOP_PREFIX}feedf00d-5678"
    others_unlisted = f"{ANY_SNOOP_PREFIX}feedf00d-9abc"
    ari.live = [
        in_stasis(owned, "ivr-agent,whisper"),
        in_stasis(orphan, "ivr-agent,whisper"),
        # A previous process of this app: Asterisk gives the app's events to our websocket
        # only, so nothing waits for it any more.
        in_stasis(predecessor, "ivr-agent,whisper"),
        # ... but its recording goes on: the inbound recorder adopts it.
        in_stasis(predecessors_recording, "ivr-agent,record"),
        # A second agent on the PBX runs its own app: its snoops are its business.
        in_stasis(others, "ivr-agent-b,whisper"),
        {"id": others_unlisted},
    ]
    with agent.router.subscribe(owned):
        await agent.router.reclaim()
    assert ari.calls == [("hangup", orphan), ("hangup", predecessor)]
    assert agent.router.stats.orphans_hung_up == 2


async def test_a_hook_route_registered_after_the_reclaim_sweeps_its_stranded_callers(
    ari: FakeAri,
) -> None:
    router = StasisRouter(cast(AriClient, ari), APP)
    ari.live = [
        in_stasis("stranded", "ivr-agent,greet,external,stranded"),
        in_stasis("asked", "ivr-agent,survey,asked"),
    ]
    await router.reclaim()  # the websocket connected before the features started
    assert ari.calls == []

    async def idle(call: StasisCall) -> None:
        return None

    router.route("greet", idle, from_dialplan=True)
    await until_idle()
    assert ari.calls == [("continue", "stranded")]
    router.route("survey", idle, from_dialplan=True)
    await until_idle()
    assert ari.calls == [("continue", "stranded"), ("continue", "asked")]
    await router.close()


async def test_a_stasis_start_still_in_the_websocket_for_a_continued_caller_starts_nothing(
    ari: FakeAri,
) -> None:
    """The caller entered Stasis after the websocket connected but before the listing:
    reclaim continued it, then its StasisStart is read — no handler may act on it."""
    agent = Agent(ari).install()
    ari.live = [in_stasis("raced", "ivr-agent,greet,external,raced")]
    await agent.router.reclaim()
    agent.router.dispatch(stasis_start("raced", "greet", "external", "raced"))
    agent.router.dispatch({"type": "StasisEnd", "channel": {"id": "raced"}})
    await until_idle()
    assert agent.started == []
    assert ari.calls == [("continue", "raced")]

    # Later the operator hangs up first: the same channel enters the survey, handled.
    agent.router.dispatch(stasis_start("raced", "survey", "raced"))
    await until_idle()
    assert agent.started == ["raced"]
    agent.release.set()
    await agent.router.close()


async def test_a_continued_caller_whose_stasis_end_arrives_is_forgotten(ari: FakeAri) -> None:
    agent = Agent(ari).install()
    ari.live = [in_stasis("stranded", "ivr-agent,greet,external,stranded")]
    await agent.router.reclaim()
    agent.router.dispatch({"type": "StasisEnd", "channel": {"id": "stranded"}})
    agent.router.dispatch(stasis_start("stranded", "survey", "stranded"))
    await until_idle()
    assert agent.started == ["stranded"]
    agent.release.set()
    await agent.router.close()


async def test_a_stranded_caller_who_hung_up_meanwhile_is_no_error(ari: FakeAri) -> None:
    agent = Agent(ari).install()
    ari.gone = {"gone"}
    ari.live = [
        in_stasis("gone", "ivr-agent,greet,external,gone"),
        in_stasis("here", "ivr-agent,greet,external,here"),
    ]
    await agent.router.reclaim()
    assert ari.calls == [("continue", "here")]
    agent.router.dispatch(stasis_start("gone", "greet", "external", "gone"))
    await until_idle()
    assert agent.started == ["gone"]  # nothing remembered for a continue that failed
    agent.release.set()
    await agent.router.close()
