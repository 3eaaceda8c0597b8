"""The ARI client against a real (local, fake) HTTP + websocket server on port 0."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ivr_agent.pbx.ari import AriClient, AriError, AriTarget
from ivr_agent.pbx.ari_events import AriEvents
from ivr_agent.platform.backoff import Backoff

USER, SECRET = "ivr-agent", "s3cret-value"
CONNECTIONS = web.AppKey("connections", list[int])
SEEN = web.AppKey("seen", list[tuple[str, str, dict[str, str]]])


def _authorised(request: web.Request) -> bool:
    token = base64.b64encode(f"{USER}:{SECRET}".encode()).decode()
    return request.headers.get("Authorization") == f"Basic {token}"


async def _info(request: web.Request) -> web.Response:
    if not _authorised(request):
        return web.json_response({"message": "Authentication required"}, status=401)
    return web.json_response({"system": {"version": "22.10.1"}})


async def _missing(request: web.Request) -> web.Response:
    return web.json_response({"message": "Channel not found"}, status=404)


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(2)
    return web.json_response({})


async def _anything(request: web.Request) -> web.Response:
    """Every other ARI path: note the request as the PBX saw it (method, raw path, query)."""
    request.app[SEEN].append((request.method, request.raw_path.split("?")[0], dict(request.query)))
    if request.path.endswith("/file"):
        return web.Response(body=b"RIFF....WAVE")
    return web.json_response({"id": "x", "channels": ["c"]})


async def _events(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    request.app[CONNECTIONS].append(1)
    n = len(request.app[CONNECTIONS])
    await ws.send_str("not json")
    await ws.send_str(json.dumps({"no": "type"}))
    await ws.send_str(json.dumps({"type": "StasisStart", "n": n}))
    await ws.close()  # every connection drops: the client must come back by itself
    return ws


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    app = web.Application()
    app[CONNECTIONS] = []
    app[SEEN] = []
    app.router.add_get("/ari/asterisk/info", _info)
    app.router.add_post("/ari/channels/{id}/answer", _missing)
    app.router.add_get("/ari/slow", _slow)
    app.router.add_get("/ari/events", _events)
    app.router.add_route("*", "/ari/{tail:.*}", _anything)
    async with TestServer(app, host="127.0.0.1") as test_server:
        yield test_server


def _target(server: TestServer, secret: str = SECRET) -> AriTarget:
    return AriTarget.from_url(f"http://{USER}:{secret}@127.0.0.1:{server.port}")


async def test_given_credentials_when_requesting_then_basic_auth_is_sent(
    server: TestServer,
) -> None:
    async with AriClient(_target(server)) as ari:
        assert (await ari.info())["system"]["version"] == "22.10.1"


async def test_given_an_error_status_then_ari_error_carries_status_method_and_path(
    server: TestServer,
) -> None:
    async with AriClient(_target(server)) as ari:
        with pytest.raises(AriError) as caught:
            await ari.answer("chan-1")
    assert caught.value.status == 404
    assert caught.value.method == "POST"
    assert caught.value.path == "/channels/chan-1/answer"
    assert "Channel not found" in str(caught.value)


async def test_given_a_slow_server_then_the_timeout_becomes_ari_error(server: TestServer) -> None:
    async with AriClient(_target(server), timeout=0.2) as ari:
        with pytest.raises(AriError) as caught:
            await ari.request("GET", "/slow")
    assert caught.value.status is None
    assert "timed out" in caught.value.message


async def test_given_a_refused_connection_then_ari_error_without_status() -> None:
    target = AriTarget.from_url(f"http://{USER}:{SECRET}@127.0.0.1:9")
    async with AriClient(target, timeout=1.0) as ari:
        with pytest.raises(AriError) as caught:
            await ari.info()
    assert caught.value.status is None


def test_given_a_target_then_repr_hides_the_password() -> None:
    target = AriTarget.from_url(f"http://{USER}:{SECRET}@127.0.0.1:8088")
    assert SECRET not in repr(target)
    assert target.base_url == "http://127.0.0.1:8088"


async def test_given_a_dropping_websocket_then_events_reconnect_and_skip_bad_frames(
    server: TestServer,
) -> None:
    connects = 0

    async def on_connect() -> None:
        nonlocal connects
        connects += 1

    async with AriClient(_target(server)) as ari:
        events = AriEvents(
            ari, ["ivr-sim"], on_connect=on_connect, backoff=Backoff(base=0.01, cap=0.05)
        )
        await events.start()
        received = []
        async for event in events:
            received.append(event)
            if len(received) == 3:
                break
        await events.close()
    assert [e["n"] for e in received] == [1, 2, 3]
    assert events.malformed >= 6  # two bad frames per connection, logged and counted
    assert connects >= 3


class SteadyBackoff(Backoff):
    """The ceiling of each delay, without jitter: a reconnect count that does not vary."""

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * 2**self.attempt)
        self.attempt += 1
        return ceiling


async def test_given_a_flapping_websocket_then_reconnects_back_off_instead_of_restarting(
    server: TestServer,
) -> None:
    # Issue 14: every accepted connection reset the backoff, so a server that accepts and
    # drops at once was reconnected to every 50 ms (41 reconnects in 10 s).
    async with AriClient(_target(server)) as ari:
        events = AriEvents(ari, ["ivr-sim"], backoff=SteadyBackoff(base=0.05, cap=2.0))
        await events.start()
        await asyncio.sleep(2.0)
        await events.close()
    # Delays 0.05, 0.1, 0.2, 0.4, 0.8, 1.6 s: about 6 connections in 2 s (40 without).
    assert 4 <= len(server.app[CONNECTIONS]) <= 7


def test_given_backoff_then_delays_grow_with_jitter_and_stay_under_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=4.0)
    delays = [backoff.next_delay() for _ in range(50)]
    assert all(0 < d <= 4.0 for d in delays)
    assert len({round(d, 6) for d in delays}) > 10  # jittered, not a fixed step
    backoff.reset()
    assert backoff.next_delay() <= 0.5


Call = Callable[[AriClient], Awaitable[object]]

#: Each typed method and the ARI request it must send (ids with "/" or " " are escaped).
TYPED_CALLS: list[tuple[str, Call, tuple[str, str, dict[str, str]]]] = [
    ("bridges", lambda a: a.bridges(), ("GET", "/ari/bridges", {})),
    ("bridge", lambda a: a.bridge("b 1"), ("GET", "/ari/bridges/b%201", {})),
    (
        "add_to_bridge",
        lambda a: a.add_to_bridge("b1", "c1"),
        ("POST", "/ari/bridges/b1/addChannel", {"channel": "c1"}),
    ),
    (
        "add_to_bridge absorbing keys",
        lambda a: a.add_to_bridge("b1", "c1", absorb_dtmf=True),
        ("POST", "/ari/bridges/b1/addChannel", {"channel": "c1", "absorbDTMF": "true"}),
    ),
    (
        "play_on_bridge",
        lambda a: a.play_on_bridge("b1", ["sound:a", "sound:b"], "p/1"),
        ("POST", "/ari/bridges/b1/play/p%2F1", {"media": "sound:a,sound:b"}),
    ),
    (
        "record_channel",
        lambda a: a.record_channel("snoop-1", "rec-1", if_exists="overwrite"),
        (
            "POST",
            "/ari/channels/snoop-1/record",
            {"name": "rec-1", "format": "wav", "maxDurationSeconds": "0", "ifExists": "overwrite"},
        ),
    ),
    ("live_recording", lambda a: a.live_recording("r1"), ("GET", "/ari/recordings/live/r1", {})),
    (
        "mute_recording",
        lambda a: a.mute_recording("r1"),
        ("POST", "/ari/recordings/live/r1/mute", {}),
    ),
    (
        "unmute_recording",
        lambda a: a.unmute_recording("r1"),
        ("DELETE", "/ari/recordings/live/r1/mute", {}),
    ),
    (
        "stored_recording",
        lambda a: a.stored_recording("r/1"),
        ("GET", "/ari/recordings/stored/r%2F1", {}),
    ),
    (
        "stored_recording_file",
        lambda a: a.stored_recording_file("r1"),
        ("GET", "/ari/recordings/stored/r1/file", {}),
    ),
    (
        "subscribe",
        lambda a: a.subscribe("ivr-agent", "bridge:b1"),
        ("POST", "/ari/applications/ivr-agent/subscription", {"eventSource": "bridge:b1"}),
    ),
]


@pytest.mark.parametrize(("name", "call", "expected"), TYPED_CALLS, ids=[t[0] for t in TYPED_CALLS])
async def test_given_a_typed_method_then_it_sends_its_ari_request(
    server: TestServer, name: str, call: Call, expected: tuple[str, str, dict[str, str]]
) -> None:
    async with AriClient(_target(server)) as ari:
        await call(ari)
    assert server.app[SEEN] == [expected]


async def test_given_a_stored_recording_file_then_its_bytes_come_back(server: TestServer) -> None:
    async with AriClient(_target(server)) as ari:
        assert await ari.stored_recording_file("r1") == b"RIFF....WAVE"
        assert (await ari.stored_recording("r1"))["id"] == "x"


async def test_given_a_message_recording_then_silence_beep_and_key_are_sent(
    server: TestServer,
) -> None:
    async with AriClient(_target(server)) as ari:
        await ari.record_channel(
            "ch-1", "sg-1", max_duration_seconds=60, max_silence_seconds=5, beep=True,
            terminate_on="#", if_exists="overwrite",
        )  # fmt: skip
    (seen,) = server.app[SEEN]
    assert seen[2] == {
        "name": "sg-1",
        "format": "wav",
        "maxDurationSeconds": "60",
        "ifExists": "overwrite",
        "maxSilenceSeconds": "5",
        "beep": "true",
        "terminateOn": "#",
    }
