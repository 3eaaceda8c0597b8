"""The ARI events websocket, surviving restarts.

Theory of operation: :class:`AriEvents` keeps the events websocket open. Frames are parsed
and put on an unbounded queue at once — Asterisk drops a websocket whose reader stalls for
100 ms, so the reader never waits for a consumer. When the socket closes it reconnects with
capped, jittered exponential backoff. Asterisk does not replay events missed while
disconnected, so ``on_connect`` runs after every (re)connection: the place to resync with
``GET /channels``. Frames that are not JSON objects with a ``type`` are logged, counted and
skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import aiohttp

from ivr_agent.pbx.ari import AriClient, AriError, JsonObject, param_text
from ivr_agent.platform.backoff import Backoff
from ivr_agent.platform.logging import get_logger

log = get_logger(__name__)

#: A connection that stayed up this long resets the reconnect backoff.
STABLE_SECONDS = 10.0

OnConnect = Callable[[], Awaitable[None]]


class AriEvents:
    """The ARI events websocket for ``apps``, reconnecting forever until :meth:`close`.

    Iterate with ``async for event in events:``; each event is the decoded JSON object.
    """

    def __init__(
        self,
        client: AriClient,
        apps: Sequence[str],
        *,
        subscribe_all: bool = False,
        on_connect: OnConnect | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.client = client
        self.apps = tuple(apps)
        self.subscribe_all = subscribe_all
        self.on_connect = on_connect
        self.backoff = backoff or Backoff()
        self.connected = asyncio.Event()
        self.malformed = 0
        self.connections = 0
        self._queue: asyncio.Queue[JsonObject | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self) -> None:
        """Start the background reader; returns once the first connection is open."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ari-events")
        await self.connected.wait()

    async def close(self) -> None:
        """Stop reading and end the iteration."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[JsonObject]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[JsonObject]:
        while True:
            event = await self._queue.get()
            if event is None:
                return
            yield event

    async def _run(self) -> None:
        url = self.client.target.base_url.replace("http", "ws", 1) + "/ari/events"
        params = {"app": ",".join(self.apps), "subscribeAll": param_text(self.subscribe_all)}
        while not self._closing:
            try:
                async with self.client.session.ws_connect(
                    url, params=params, heartbeat=20.0, timeout=aiohttp.ClientWSTimeout(ws_close=5)
                ) as ws:
                    self.connections += 1
                    log.info("ari_events_connected", url=url, apps=self.apps)
                    if self.on_connect is not None:
                        try:
                            await self.on_connect()
                        except Exception:  # a failed resync must not stop the reader
                            log.exception("ari_events_on_connect_failed", url=url)
                    self.connected.set()
                    up_since = time.monotonic()
                    async for message in ws:
                        if message.type == aiohttp.WSMsgType.TEXT:
                            self._accept(message.data)
                        elif message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                            break
                    # Only a connection that stayed up starts the backoff over: a server
                    # that accepts and drops at once (flapping) is retried ever more slowly.
                    if time.monotonic() - up_since >= STABLE_SECONDS:
                        self.backoff.reset()
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, OSError, TimeoutError, AriError) as exc:
                log.warning("ari_events_failed", url=url, error=type(exc).__name__)
            self.connected.clear()
            if self._closing:
                return
            delay = self.backoff.next_delay()
            log.info("ari_events_reconnect", url=url, delay=round(delay, 2))
            await asyncio.sleep(delay)

    def _accept(self, data: str) -> None:
        try:
            event = json.loads(data)
        except ValueError:
            event = None
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            self.malformed += 1
            log.warning("ari_event_malformed", sample=data[:120], malformed=self.malformed)
            return
        self._queue.put_nowait(event)
