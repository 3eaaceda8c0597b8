"""One AMI connection to the PBX, built on panoramisk with its known traps closed.

panoramisk (1.4) is a good frame parser and action/response matcher; around it this module
fixes what RELIABILITY.md lists:

- bytes are decoded incrementally, so a Chinese caller name split across two TCP reads
  survives; undecodable bytes are replaced and counted instead of silently dropped;
- a frame over :data:`MAX_FRAME_BYTES`, without ``: `` lines, or with neither ``Event`` nor
  ``Response`` is counted, logged and skipped — the connection stays up;
- an exception in an event handler is caught, counted and logged, never escaping into
  asyncio's ``data_received`` (which would close the connection and lose the rest of the read);
- actions left without a reply when the connection drops are failed, never re-sent after the
  next ``FullyBooted`` (panoramisk's resend path duplicated Originates);
- every action waits at most ``timeout`` seconds; every header value is validated (a value
  with CR/LF would inject a second action);
- reconnects back off exponentially with full jitter, capped; a Ping that goes unanswered
  closes the (half-open) connection so it reconnects.

Events reach the consumer as plain ``dict[str, str]`` with the local receive time; typing
them is the consumer's edge (``core.events``), so captures keep the raw fields.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from ivr_agent.platform.backoff import Backoff
from ivr_agent.platform.health import Component, State
from ivr_agent.platform.logging import get_logger
from ivr_agent.settings import Endpoint

log = get_logger(__name__)

EOM = "\r\n\r\n"
#: Largest frame accepted; Asterisk's own frames are a few KB (a 1 MB header is an attack).
MAX_FRAME_BYTES = 64 * 1024
#: Events the connection itself needs, whatever the consumer subscribes to.
CONTROL_EVENTS = frozenset({"FullyBooted", "Shutdown"})
_HEADER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-()]{0,63}$")

RawEvent = dict[str, str]
EventSink = Callable[[RawEvent, float], None]


class AmiError(Exception):
    """An AMI action failed, timed out, or was refused before sending (bad value)."""


@dataclass
class AmiStats:
    """Counters of what the connection received and survived (exported as metrics)."""

    frames: int = 0
    events: int = 0
    malformed_frames: int = 0
    unsubscribed: int = 0
    oversized_frames: int = 0
    replaced_bytes: int = 0
    handler_errors: int = 0
    connects: int = 0
    disconnects: int = 0


def validate_header(name: str, value: object) -> str:
    """The value as AMI header text; raises :class:`AmiError` naming the header if unsafe."""
    if not _HEADER_NAME.match(name):
        raise AmiError(f"AMI header name {name!r} is not allowed")
    text = str(value)
    if any(ch in text for ch in "\r\n\x00"):
        raise AmiError(f"AMI header {name}: value must not contain CR, LF or NUL")
    if len(text) > 1024:
        raise AmiError(f"AMI header {name}: value longer than 1024 characters")
    return text


def eventfilter_lines(events: Iterable[str]) -> list[str]:
    """``manager.conf`` lines that make Asterisk send this user only ``events``.

    The AMI ``Filter`` action would need the ``system`` class, which the agent's user must
    not have; the filter therefore lives in the PBX's configuration.
    """
    names = sorted(set(events) | CONTROL_EVENTS)
    return [f"eventfilter(action(include),name({name})) =" for name in names]


def _headers(frame: str) -> RawEvent:
    """The ``Key: value`` lines of a frame; a repeated key's values joined by newlines."""
    headers: RawEvent = {}
    for line in frame.split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep:
            headers[key] = f"{headers[key]}\n{value}" if key in headers else value
    return headers


class AmiFrameParser:
    """Splits a byte stream into AMI frames; counts what it has to skip.

    Unsolicited events (no ``ActionID``) come out as plain ``dict[str, str]``: they are
    >99 % of the traffic and go straight to the consumer. Replies, events answering an
    action, and the connection's control events come out as panoramisk ``Message``s for
    its action/response matching. Pure of I/O, so the benchmark and the fault tests
    drive exactly the code the live connection runs.
    """

    def __init__(self, stats: AmiStats) -> None:
        self.stats = stats
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""

    def feed(self, data: bytes) -> list[RawEvent | Message]:
        """Frames completed by ``data``, in order: event dicts and reply messages."""
        text = self._decoder.decode(data)
        if "\ufffd" in text:
            self.stats.replaced_bytes += text.count("\ufffd")
        if self._buffer:
            text = self._buffer + text
        frames = text.split(EOM)
        self._buffer = frames.pop()
        if len(self._buffer) > MAX_FRAME_BYTES:
            # A frame that never ends: drop what we have, resynchronise on the next EOM.
            self.stats.oversized_frames += 1
            self._buffer = ""
        out: list[RawEvent | Message] = []
        for frame in frames:
            self.stats.frames += 1
            if len(frame) > MAX_FRAME_BYTES:
                self.stats.oversized_frames += 1
                continue
            frame = frame.strip()
            if frame.startswith("Asterisk Call Manager/"):
                # The greeting ends with a single CRLF: the first reply shares its frame.
                frame = frame.partition("\r\n")[2]
            if not frame:
                continue
            if frame.startswith("Response:"):
                # Replies may carry a body (Follows): panoramisk's own parser handles it.
                message = Message.from_line(frame)
                if message is None:
                    self.stats.malformed_frames += 1
                else:
                    out.append(message)
                continue
            headers = _headers(frame)
            name = headers.get("Event")
            if name is None:
                self.stats.malformed_frames += 1
            elif "ActionID" in headers or name in CONTROL_EVENTS:
                out.append(Message(headers))
            else:
                out.append(headers)
        return out


def flatten(message: Mapping[str, Any]) -> RawEvent:
    """A message as ``dict[str, str]``; repeated headers (ChanVariable) joined by newlines."""
    return {
        key: "\n".join(value) if isinstance(value, list) else str(value)
        for key, value in message.items()
    }


class _Protocol(AMIProtocol):  # type: ignore[misc]
    """panoramisk's protocol with the parsing and error containment of this module."""

    def __init__(self, manager: _Manager) -> None:
        super().__init__()
        self._manager = manager
        self._parser = AmiFrameParser(manager.stats)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # panoramisk sets ``factory`` only in the connect future's callback, which may run
        # after the first bytes arrived: set it now so no early frame finds it missing.
        self.factory = self._manager

    def data_received(self, data: bytes) -> None:
        for frame in self._parser.feed(data):
            try:
                if type(frame) is dict:
                    # The hot path: an unsolicited event, no panoramisk routing needed.
                    self._manager.connection.on_event(frame)
                else:
                    self.handle_message(frame)
            except Exception:
                # Never let a handler take the connection down with the rest of this read.
                self._manager.stats.handler_errors += 1
                log.exception("AMI message handling failed", ami_event=frame.get("Event"))


class _Manager(Manager):  # type: ignore[misc]
    """panoramisk's Manager with backoff reconnects and without the resend path."""

    def __init__(self, connection: AmiConnection, **config: Any) -> None:
        self.connection = connection
        self.stats = connection.stats
        super().__init__(protocol_factory=lambda: _Protocol(self), **config)

    # panoramisk calls this with the connect task: failure schedules our backoff.
    def connection_made(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            error = None if future.cancelled() else future.exception()
            self.connection.schedule_reconnect(f"connect failed: {type(error).__name__}")
            return
        super().connection_made(future)
        self.stats.connects += 1

    def connection_lost(self, exc: object) -> None:
        self._connected = False
        self.stats.disconnects += 1
        pinger: asyncio.TimerHandle | None = getattr(self, "pinger", None)
        if pinger is not None:
            pinger.cancel()
            self.pinger = None
        self._fail_awaiting()
        self.connection.on_lost()

    def login(self, future: asyncio.Future[Any]) -> bool:
        try:
            accepted = bool(super().login(future))
        except Exception:  # the login action itself failed (connection lost, bad reply)
            accepted = False
        if not accepted:
            self.connection.component.set(State.DOWN, "login refused or failed")
            log.error("AMI login refused", pbx=self.connection.endpoint.base_url)
            self.protocol.transport.abort()  # reconnects with backoff
        return accepted

    def ping(self) -> None:
        # Replaced by AmiConnection's watchdog, which checks the reply.
        self.pinger = None

    async def send_awaiting_actions(self, *_: Any) -> None:
        # Never resend: an Originate re-sent after a reconnect is a second customer call.
        self._fail_awaiting()

    def _fail_awaiting(self) -> None:
        while self.awaiting_actions:
            action = self.awaiting_actions.popleft()
            if not action.future.done():
                action.future.set_exception(AmiError("connection lost before the reply"))


class AmiConnection:
    """Keeps one logged-in AMI connection up and hands every event to ``sink``.

    ``on_resync`` is called (with the channels listed by the ``Status`` action) after every
    login that follows a loss, so the consumer can mark calls whose events were missed; with
    ``resync_first_login`` also after the first (the consumer restored calls from an earlier
    run).
    """

    def __init__(
        self,
        endpoint: Endpoint,
        sink: EventSink,
        *,
        events: Iterable[str],
        component: Component,
        on_resync: Callable[[list[RawEvent], float], None] | None = None,
        resync_first_login: bool = False,
        action_timeout: float = 10.0,
        ping_interval: float = 10.0,
        backoff_initial: float = 0.5,
        backoff_cap: float = 30.0,
    ) -> None:
        self.endpoint = endpoint
        self.sink = sink
        self.events = frozenset(events)
        self.component = component
        self.on_resync = on_resync
        self.action_timeout = action_timeout
        self.ping_interval = ping_interval
        self.backoff = Backoff(base=backoff_initial, cap=backoff_cap)
        self.stats = AmiStats()
        self._ever_logged_in = False
        self._resync_first_login = resync_first_login
        self._closing = False
        self._reconnect: asyncio.TimerHandle | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._resync_task: asyncio.Future[None] | None = None
        self._logged_in = asyncio.Event()
        self._manager = _Manager(
            self,
            host=endpoint.host,
            port=endpoint.port,
            username=endpoint.username,
            secret=endpoint.password.get_secret_value(),
            encoding="utf8",
            ping_delay=3600,
            events="on",
            forgetable_actions=(),
            on_login=self._on_login,
            on_disconnect=lambda *_: None,
        )
        for name in self.events | CONTROL_EVENTS:
            self._manager.register_event(name, self._dispatch)

    # --- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        """Begin connecting (returns at once; the state is on ``component``)."""
        self._manager.loop = asyncio.get_running_loop()
        self.component.set(State.CONNECTING, self.endpoint.base_url)
        self._connect()

    async def wait_logged_in(self, timeout: float) -> None:
        """Wait until logged in; raises ``TimeoutError``."""
        await asyncio.wait_for(self._logged_in.wait(), timeout)

    async def close(self) -> None:
        """Close the connection and stop reconnecting."""
        self._closing = True
        if self._reconnect is not None:
            self._reconnect.cancel()
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        self._manager.close()
        self.component.set(State.DOWN, "closed")

    def _connect(self) -> None:
        self._reconnect = None
        if not self._closing:
            self._manager.connect()

    def schedule_reconnect(self, reason: str) -> None:
        """Try again after a backoff delay (called on a failed connect or a lost one)."""
        self._logged_in.clear()
        if self._closing:
            return
        delay = self.backoff.next_delay()
        self.component.set(State.DOWN, f"{reason}; retrying in {delay:.1f} s")
        log.warning("AMI unavailable", reason=reason, retry_in=round(delay, 2))
        self._reconnect = asyncio.get_running_loop().call_later(delay, self._connect)

    def on_lost(self) -> None:
        """The TCP connection ended."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        self.schedule_reconnect("connection lost")

    def _on_login(self, manager: Manager) -> None:
        if not manager.authenticated:
            return
        resync = self._ever_logged_in or self._resync_first_login
        self._ever_logged_in = True
        self.backoff.reset()
        self._logged_in.set()
        self.component.set(State.UP, self.endpoint.base_url)
        log.info("AMI logged in", pbx=self.endpoint.base_url, resync=resync)
        self._watchdog = asyncio.ensure_future(self._watch())
        if resync and self.on_resync is not None:
            self._resync_task = asyncio.ensure_future(self._resync())

    async def _watch(self) -> None:
        # panoramisk never checks the Ping reply: a half-open TCP connection would look up.
        while True:
            await asyncio.sleep(self.ping_interval)
            try:
                await self.action({"Action": "Ping"})
            except AmiError as exc:
                log.warning("AMI ping unanswered; reconnecting", error=str(exc))
                self._manager.protocol.transport.abort()
                return

    async def _resync(self) -> None:
        # ``Status`` (no Channel header: every channel) rather than ``CoreShowChannels``: it
        # lists the same channel snapshots (Channel, Uniqueid, Linkedid) and needs only the
        # ``call`` write class, while CoreShowChannels needs ``system`` or ``reporting``, which
        # the agent's user does not get (Asterisk answers "Permission denied").
        try:
            reply = await self.action({"Action": "Status", "AllVariables": "false"}, as_list=True)
        except AmiError as exc:
            log.warning("AMI resync failed", error=str(exc))
            return
        channels = [flatten(m) for m in reply if m.get("Event") == "Status"]
        assert self.on_resync is not None
        self.on_resync(channels, time.time())

    # --- events and actions -------------------------------------------------------------
    def _dispatch(self, _manager: Manager, message: Message) -> None:
        # Events panoramisk routed (control events, events carrying an ActionID).
        name = message.get("Event", "")
        if name == "Shutdown":
            log.warning("PBX is shutting down")
        elif name != "FullyBooted":
            self.on_event(flatten(message))

    def on_event(self, raw: RawEvent) -> None:
        """Hand one event to the sink if subscribed; never raises."""
        if raw.get("Event") not in self.events:
            self.stats.unsubscribed += 1
            return
        self.stats.events += 1
        try:
            self.sink(raw, time.time())
        except Exception:
            self.stats.handler_errors += 1
            log.exception("AMI event handler failed", ami_event=raw.get("Event"))

    async def action(self, fields: Mapping[str, object], *, as_list: bool = False) -> Any:
        """Send one action and wait for its reply (at most ``action_timeout`` seconds).

        Raises :class:`AmiError` for a bad value (nothing is sent), a timeout, an error
        reply, or a connection lost before the reply.
        """
        action = {name: validate_header(name, value) for name, value in fields.items()}
        if action.get("Action", "").lower() == "originate" and action.get("Async") != "true":
            # Without Async panoramisk raises KeyError on the reply and drops the connection.
            raise AmiError("Originate must carry Async: true")
        if not self._logged_in.is_set() and action.get("Action") != "Login":
            raise AmiError("AMI is not connected")
        try:
            future = self._manager.send_action(action, as_list=as_list)
            reply = await asyncio.wait_for(future, self.action_timeout)
        except TimeoutError:
            name = action.get("Action")
            raise AmiError(f"{name}: no reply within {self.action_timeout:g} s") from None
        if isinstance(reply, Message) and not reply.success:
            raise AmiError(f"{action.get('Action')}: {reply.get('Message', 'failed')}")
        return reply
