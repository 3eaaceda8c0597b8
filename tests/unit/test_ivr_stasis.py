"""The Stasis router: routes, subscriptions, orphans, reclaim after reconnects (fake ARI)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from ivr_agent.pbx.ari import AriClient, AriError
from ivr_agent.pbx.stasis import (
    SNOOP_PREFIX,
    ChannelGone,
    StasisCall,
    StasisRouter,
    event_ids,
    snoop_id,
)


@dataclass
class FakeAri:
    """Records the REST calls the router makes; lists the channels it is told to."""

    live: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    down: bool = False

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self.calls.append(("hangup", channel_id))

    async def continue_in_dialplan(self, channel_id: str, **_: object) -> None:
        self.calls.append(("continue", channel_id))

    async def channels(self) -> list[dict[str, Any]]:
        if self.down:
            raise AriError("GET", "/channels", None, "refused")
        return self.live


@pytest.fixture
def ari() -> FakeAri:
    return FakeAri()


@pytest.fixture
async def router(ari: FakeAri) -> StasisRouter:
    return StasisRouter(cast(AriClient, ari), "ivr-agent")


def stasis_start(channel_id: str, *args: str) -> dict[str, Any]:
    return {"type": "StasisStart", "args": list(args), "channel": {"id": channel_id}}


async def until_idle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


def test_event_ids_cover_channels_bridges_playbacks_and_their_targets() -> None:
    event = {
        "type": "PlaybackStarted",
        "playback": {"id": "pb-1", "target_uri": "channel:snoop-1"},
    }
    assert event_ids(event) == {"pb-1", "snoop-1"}
    recording = {
        "type": "RecordingFinished",
        "recording": {"name": "r1", "target_uri": "bridge:b1"},
    }
    assert event_ids(recording) == {"r1", "b1"}
    dial = {"type": "Dial", "peer": {"id": "p"}, "channel": {"id": "c"}, "bridge": {"id": "b"}}
    assert event_ids(dial) == {"p", "c", "b"}
    assert event_ids({"type": "Weird", "channel": "not an object"}) == set()


async def test_a_stasis_start_goes_to_the_route_of_its_first_argument(
    router: StasisRouter,
) -> None:
    seen: list[StasisCall] = []

    async def greet(call: StasisCall) -> None:
        seen.append(call)

    router.route("greet", greet)
    router.dispatch(stasis_start("chan-1", "greet", "external"))
    await until_idle()
    assert [(c.channel_id, c.args) for c in seen] == [("chan-1", ("greet", "external"))]
    with pytest.raises(ValueError, match="already taken"):
        router.route("greet", greet)
    with pytest.raises(ValueError, match="reserved"):
        router.route("whisper", greet)


async def test_a_failing_handler_is_logged_and_the_router_goes_on(router: StasisRouter) -> None:
    async def broken(call: StasisCall) -> None:
        raise RuntimeError("boom")

    router.route("greet", broken)
    router.dispatch(stasis_start("chan-1", "greet"))
    await until_idle()
    router.dispatch(stasis_start("chan-2", "greet"))
    await until_idle()
    assert router.stats.handler_errors == 2
    assert router.stats.events == 2


async def test_subscriptions_receive_their_ids_events_and_next_filters_by_type(
    router: StasisRouter,
) -> None:
    with router.subscribe("snoop-1", "pb-1") as events:
        router.dispatch(stasis_start("snoop-1", "whisper"))
        router.dispatch({"type": "ChannelVarset", "channel": {"id": "other"}})
        router.dispatch({"type": "PlaybackStarted", "playback": {"id": "pb-1"}})
        assert (await events.next({"StasisStart"}, 1))["channel"]["id"] == "snoop-1"
        assert (await events.next({"PlaybackStarted"}, 1))["type"] == "PlaybackStarted"
        with pytest.raises(TimeoutError):
            await events.next({"PlaybackFinished"}, 0.01)
    assert not router.subscribed("snoop-1")


async def test_a_destroyed_channel_raises_channel_gone_for_every_later_wait(
    router: StasisRouter,
) -> None:
    with router.subscribe("snoop-1") as events:
        router.dispatch({"type": "ChannelDestroyed", "channel": {"id": "snoop-1"}})
        with pytest.raises(ChannelGone):
            await events.next({"PlaybackFinished"}, 1)
        with pytest.raises(ChannelGone):
            await events.next({"PlaybackFinished"}, 1)
        assert events.gone


async def test_an_expected_snoop_is_left_to_its_subscriber(
    router: StasisRouter, ari: FakeAri
) -> None:
    snoop = snoop_id("abc")
    with router.subscribe(snoop):
        router.dispatch(stasis_start(snoop, "whisper"))
        await until_idle()
    assert ari.calls == []


async def test_unexpected_channels_are_never_left_in_stasis(
    router: StasisRouter, ari: FakeAri
) -> None:
    router.dispatch(stasis_start(snoop_id("stale"), "whisper"))  # its owner gave up
    router.dispatch(stasis_start("caller-1", "greet"))  # no greeting installed
    await until_idle()
    assert sorted(ari.calls) == [("continue", "caller-1"), ("hangup", f"{SNOOP_PREFIX}stale")]
    assert router.stats.unrouted == 2


async def test_reclaim_hangs_up_only_orphan_snoops_and_runs_the_hooks(
    router: StasisRouter, ari: FakeAri
) -> None:
    owned, orphan = snoop_id("owned"), snoop_id("orphan")
    ari.live = [{"id": owned}, {"id": orphan}, {"id": "1763900000.42"}]
    seen: list[int] = []

    async def hook(channels: list[dict[str, Any]]) -> None:
        seen.append(len(channels))

    router.on_reconnect(hook)
    with router.subscribe(owned):
        await router.reclaim()
    assert ari.calls == [("hangup", orphan)]
    assert seen == [3]
    assert router.stats.orphans_hung_up == 1


async def test_reclaim_survives_ari_being_down(router: StasisRouter, ari: FakeAri) -> None:
    ari.down = True
    await router.reclaim()
    assert ari.calls == []


async def test_a_malformed_event_never_escapes_dispatch(router: StasisRouter) -> None:
    router.dispatch({"type": "StasisStart", "channel": None})
    router.dispatch({"type": "StasisStart", "args": "greet", "channel": {"id": 5}})
    await until_idle()
    assert router.stats.events == 2
