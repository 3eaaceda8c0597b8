"""Live feed of the dashboard: an in-process pub/sub hub and the SSE route ``/api/live``.

Publishers never wait: :meth:`LiveHub.publish` puts the event on every subscriber's bounded
queue and, when a slow browser's queue is full, drops that subscriber's oldest event (the
dashboard re-reads the figures on the next event anyway). Three kinds of event:

- ``calls``: how many calls are waiting for an operator, talking, on hold — sent when it
  changes; the watcher (:meth:`LiveHub.watch`) reads the tracker's calls in flight four times
  a second, which costs nothing on the event path;
- ``call_finished``: a call ended (published where finished calls go to the outbox);
- ``stored``: finished calls reached PostgreSQL, so the summary now includes them.

``/api/live`` streams them as Server-Sent Events to an ``ops`` or ``qa`` token (bearer or the
dashboard's session cookie), with a comment line every 15 s so proxies keep it open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

from ivr_agent.core.breaches import standard_breaches
from ivr_agent.core.outcome import CallOutcome
from ivr_agent.core.tracker import CallSnapshot
from ivr_agent.platform.logging import get_logger
from ivr_agent.web.auth import requires

log = get_logger(__name__)

#: Events kept per subscriber before its oldest are dropped.
QUEUE_SIZE = 256
WATCH_SECONDS = 0.25
HEARTBEAT_SECONDS = 15.0


@dataclass(frozen=True)
class LiveEvent:
    """One event of the feed: its kind and a JSON-ready body."""

    kind: str
    data: dict[str, Any]

    def sse(self) -> bytes:
        """The event as Server-Sent Events wire text."""
        body = json.dumps(self.data, ensure_ascii=False, separators=(",", ":"))
        return f"event: {self.kind}\ndata: {body}\n\n".encode()


@dataclass(frozen=True)
class CallsNow:
    """Calls in flight, as the dashboard shows them."""

    waiting: int = 0
    talking: int = 0
    on_hold: int = 0

    @property
    def in_progress(self) -> int:
        """Every call in flight (waiting or talking)."""
        return self.waiting + self.talking

    def to_json(self) -> dict[str, int]:
        """JSON-ready dict, including ``in_progress``."""
        return asdict(self) | {"in_progress": self.in_progress}


def calls_now(snapshots: Iterable[CallSnapshot]) -> CallsNow:
    """Count calls in flight: waiting = offered and not yet answered; talking = answered."""
    waiting = talking = on_hold = 0
    for call in snapshots:
        if call.answered_at is None:
            waiting += 1
        else:
            talking += 1
            on_hold += call.on_hold
    return CallsNow(waiting=waiting, talking=talking, on_hold=on_hold)


def breach_kinds(outcome: CallOutcome) -> list[str]:
    """Which standards the call broke (:func:`ivr_agent.core.breaches.standard_breaches`):
    late answer (S1), long hold (S2), silent hang-up (S3), over the maximum length (S6)."""
    return list(standard_breaches(outcome))


class LiveHub:
    """Fan-out of live events to every open ``/api/live`` stream."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self.calls = CallsNow()
        self.stored = 0
        self._subscribers: set[asyncio.Queue[LiveEvent | None]] = set()
        self._closed = False

    @property
    def subscribers(self) -> int:
        """Open streams."""
        return len(self._subscribers)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        """Send an event to every subscriber now; never blocks, never raises."""
        event = LiveEvent(kind, data)
        for queue in list(self._subscribers):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(event)

    def publish_finished(self, outcome: CallOutcome) -> None:
        """A call ended: its id, direction, operator and the standards it broke."""
        self.publish(
            "call_finished",
            {
                "call_id": outcome.call_id,
                "direction": outcome.direction,
                "operator_id": outcome.operator_id,
                "abandoned": outcome.abandoned,
                "breaches": breach_kinds(outcome),
            },
        )

    @contextlib.contextmanager
    def subscribe(self) -> Any:
        """A queue receiving every event from now on; ``None`` means the hub closed."""
        queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue(self.queue_size)
        if self._closed:
            queue.put_nowait(None)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    def close(self) -> None:
        """End every stream (app shutdown), so no handler keeps the server waiting."""
        self._closed = True
        for queue in list(self._subscribers):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(None)

    def update(self, calls: CallsNow, stored: int) -> None:
        """Publish ``calls`` and ``stored`` if they changed since the last update."""
        if calls != self.calls:
            self.calls = calls
            self.publish("calls", calls.to_json())
        if stored != self.stored:
            self.stored = stored
            self.publish("stored", {"written": stored})

    async def watch(
        self,
        calls: Callable[[], CallsNow],
        stored: Callable[[], int],
        period: float = WATCH_SECONDS,
    ) -> None:
        """Poll the in-memory state every ``period`` and publish changes, until cancelled."""
        while True:
            try:
                self.update(calls(), stored())
            except Exception:  # the feed must never take the agent down
                log.exception("live feed update failed")
            await asyncio.sleep(period)


LIVE = web.AppKey("live", LiveHub)


async def _stream(
    request: web.Request, queue: asyncio.Queue[LiveEvent | None]
) -> AsyncIterator[bytes]:
    hub = request.app[LIVE]
    yield b"retry: 2000\n\n"
    yield LiveEvent("calls", hub.calls.to_json()).sse()
    while True:
        try:
            event = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
        except TimeoutError:
            yield b": keep-alive\n\n"
            continue
        if event is None:
            return
        yield event.sse()


@requires("ops", "qa")
async def live_handler(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: ``calls``, ``call_finished`` and ``stored`` as they happen."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    with request.app[LIVE].subscribe() as queue:
        try:
            async for chunk in _stream(request, queue):
                await response.write(chunk)
        except ConnectionResetError:
            # The browser went away: nothing to clean up but the queue.
            return response
    return response


def setup_live(app: web.Application) -> LiveHub:
    """Create the app's hub, register ``/api/live``, and close the streams at shutdown."""
    hub = LiveHub()
    app[LIVE] = hub

    async def close(_app: web.Application) -> None:
        hub.close()

    app.on_shutdown.append(close)
    app.router.add_get("/api/live", live_handler)
    return hub
