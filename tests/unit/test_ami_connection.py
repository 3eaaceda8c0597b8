"""AmiConnection against a fake AMI server: faults a real Asterisk cannot be made to produce."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from ivr_agent.pbx.ami import AmiConnection, AmiError, RawEvent
from ivr_agent.platform.health import Component, State
from ivr_agent.settings import Endpoint
from tests.support.fake_ami import FakeAmi, encode


@pytest.fixture
async def server() -> AsyncIterator[FakeAmi]:
    fake = FakeAmi()
    await fake.start()
    yield fake
    await fake.stop()


def _connection(port: int, received: list[RawEvent], **options: float) -> AmiConnection:
    endpoint = Endpoint("ami", "127.0.0.1", port, "agent", SecretStr("pw-123456"))
    return AmiConnection(
        endpoint,
        lambda event, _at: received.append(event),
        events=["Newchannel", "Hangup"],
        component=Component("ami"),
        **{"backoff_initial": 0.05, "backoff_cap": 0.2, "action_timeout": 1.0, **options},
    )


async def _until(predicate: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_given_malformed_frames_and_a_failing_handler_then_the_connection_stays_up(
    server: FakeAmi,
) -> None:
    received: list[RawEvent] = []
    calls = 0

    def sink(event: RawEvent, _at: float) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("bug in a handler")
        received.append(event)

    conn = _connection(server.port, received)
    conn.sink = sink
    await conn.start()
    await conn.wait_logged_in(5)
    # All in one TCP write: a raising handler must not lose the frames after it.
    await server.send_raw(
        encode({"Event": "Newchannel", "Uniqueid": "1"})
        + b"no colon here\r\n\r\n"
        + b"Event: Hangup\r\nCallerIDName: \xe5\xbc\xa0\xff\r\n\r\n"
        + encode({"Event": "Newchannel", "Uniqueid": "2"})
        + encode({"Neither": "event nor response"})
        + encode({"Event": "Hangup", "Uniqueid": "3"})
    )
    await _until(lambda: len(received) == 3)
    assert [e.get("Uniqueid") for e in received] == [None, "2", "3"]
    assert conn.stats.handler_errors == 1
    assert conn.stats.malformed_frames == 2
    assert conn.stats.replaced_bytes >= 1
    assert server.connections == 1
    assert conn.component.state is State.UP
    await conn.close()


async def test_given_the_link_drops_after_an_originate_is_written_then_it_is_never_resent(
    server: FakeAmi,
) -> None:
    def swallow_originate(action: dict[str, str], writer: asyncio.StreamWriter) -> bool:
        if action.get("Action") == "Originate":
            writer.transport.abort()  # cut before the reply
            return True
        return False

    server.on_action = swallow_originate
    conn = _connection(server.port, [])
    await conn.start()
    await conn.wait_logged_in(5)
    with pytest.raises(AmiError):
        await conn.action({"Action": "Originate", "Channel": "PJSIP/100@trunk", "Async": "true"})
    await _until(lambda: server.connections == 2 and conn.component.state is State.UP)
    await asyncio.sleep(0.3)  # FullyBooted after the reconnect is when panoramisk re-sent
    originates = [a for a in server.actions if a.get("Action") == "Originate"]
    assert len(originates) == 1
    await conn.close()


async def test_given_a_header_injection_then_nothing_is_sent(server: FakeAmi) -> None:
    conn = _connection(server.port, [])
    await conn.start()
    await conn.wait_logged_in(5)
    before = len(server.actions)
    with pytest.raises(AmiError, match="Exten"):
        await conn.action({"Action": "Setvar", "Exten": "100\r\n\r\nAction: Command"})
    with pytest.raises(AmiError, match="Async"):
        await conn.action({"Action": "Originate", "Channel": "PJSIP/1@trunk"})
    assert len(server.actions) == before
    await conn.close()


async def test_given_pings_go_unanswered_then_the_half_open_link_is_replaced(
    server: FakeAmi,
) -> None:
    server.answer_pings = False
    conn = _connection(server.port, [], ping_interval=0.1, action_timeout=0.2)
    await conn.start()
    await conn.wait_logged_in(5)
    await _until(lambda: server.connections >= 2)
    await conn.close()


async def test_given_no_server_then_reconnects_back_off_with_jitter_under_the_cap() -> None:
    conn = _connection(1, [], backoff_initial=0.5, backoff_cap=8.0)
    conn.backoff.reset()
    delays = [conn.backoff.next_delay() for _ in range(12)]
    assert all(0.05 <= d <= 8.0 for d in delays)
    assert len(set(delays)) > 1  # jittered, not a fixed 2 s
    await conn.start()
    await _until(lambda: conn.component.state is State.DOWN)
    assert "retrying" in conn.component.detail
    await conn.close()


async def test_given_bytes_before_panoramisk_wires_the_protocol_then_they_are_parsed() -> None:
    # Seen against the real Asterisk: data_received ran before the connect future's
    # callback (where panoramisk sets protocol.factory) and crashed the connection.
    received: list[RawEvent] = []
    conn = _connection(1, received)
    protocol = conn._manager.config["protocol_factory"]()
    protocol.connection_made(asyncio.Transport())
    protocol.data_received(
        b"Asterisk Call Manager/9.0.0\r\n" + encode({"Event": "Hangup", "Uniqueid": "early"})
    )
    assert [e["Uniqueid"] for e in received] == ["early"]
