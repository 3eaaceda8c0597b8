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
dashboard's session cookie), with a comment line every 15 s so proxies keep it open. Every
:data:`RECHECK_SECONDS` the stream checks its credential again: a token revoked or expired,
or a browser session signed out or expired, ends it (a last ``closed`` event says why).
Streams are limited per token (:data:`MAX_STREAMS_PER_TOKEN`, a browser's sessions count
for their token) and in all (:data:`MAX_STREAMS`); beyond either the answer is a 429.
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
from ivr_agent.db.tokens import Credential, still_valid
from ivr_agent.platform.apidoc import documented
from ivr_agent.platform.keys import DATABASE
from ivr_agent.platform.logging import get_logger
from ivr_agent.web.auth import CREDENTIAL, requires
from ivr_agent.web.errors import ApiError

log = get_logger(__name__)

#: Events kept per subscriber before its oldest are dropped.
QUEUE_SIZE = 256
WATCH_SECONDS = 0.25
HEARTBEAT_SECONDS = 15.0
#: How often an open stream checks that its token (and session) is still valid.
RECHECK_SECONDS = 60.0
#: Open streams one token may hold (its browser sessions included).
MAX_STREAMS_PER_TOKEN = 8
#: Open streams in all.
MAX_STREAMS = 64


class TooManyStreams(Exception):
    """A new stream would pass a limit: ``scope`` is ``token`` or ``server``."""

    def __init__(self, scope: str, limit: int) -> None:
        super().__init__(f"{limit} live streams already open ({scope})")
        self.scope = scope
        self.limit = limit


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

    def __init__(
        self,
        queue_size: int = QUEUE_SIZE,
        *,
        max_streams: int = MAX_STREAMS,
        max_streams_per_token: int = MAX_STREAMS_PER_TOKEN,
        recheck_seconds: float = RECHECK_SECONDS,
    ) -> None:
        self.queue_size = queue_size
        self.max_streams = max_streams
        self.max_streams_per_token = max_streams_per_token
        self.recheck_seconds = recheck_seconds
        self.calls = CallsNow()
        self.stored = 0
        self._subscribers: set[asyncio.Queue[LiveEvent | None]] = set()
        self._per_token: dict[str, int] = {}
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

    def streams_of(self, token_id: str) -> int:
        """Open streams of one token."""
        return self._per_token.get(token_id, 0)

    @contextlib.contextmanager
    def subscribe(self, token_id: str | None = None) -> Any:
        """A queue receiving every event from now on; ``None`` means the hub closed.

        With ``token_id`` the stream counts against the limits: :class:`TooManyStreams`
        when that token, or the hub, already has its most.
        """
        if token_id is not None:
            if len(self._subscribers) >= self.max_streams:
                raise TooManyStreams("server", self.max_streams)
            if self.streams_of(token_id) >= self.max_streams_per_token:
                raise TooManyStreams("token", self.max_streams_per_token)
            self._per_token[token_id] = self.streams_of(token_id) + 1
        queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue(self.queue_size)
        if self._closed:
            queue.put_nowait(None)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)
            if token_id is not None:
                left = self.streams_of(token_id) - 1
                if left > 0:
                    self._per_token[token_id] = left
                else:
                    self._per_token.pop(token_id, None)

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


async def _credential_ok(request: web.Request, credential: Credential) -> bool:
    """Whether the stream's credential still holds; ``True`` when the database cannot say
    (an outage must not blank the wall screens, and nobody can revoke during one)."""
    try:
        async with request.app[DATABASE].sessions() as session:
            return await still_valid(session, credential)
    except Exception:
        log.warning("live stream: credential check failed; checking again later", exc_info=True)
        return True


async def _stream(
    request: web.Request, queue: asyncio.Queue[LiveEvent | None], credential: Credential
) -> AsyncIterator[bytes]:
    hub = request.app[LIVE]
    loop = asyncio.get_running_loop()
    yield b"retry: 2000\n\n"
    yield LiveEvent("calls", hub.calls.to_json()).sse()
    next_check = loop.time() + hub.recheck_seconds
    while True:
        wait = min(HEARTBEAT_SECONDS, max(0.0, next_check - loop.time()))
        try:
            event = await asyncio.wait_for(queue.get(), wait)
        except TimeoutError:
            event = None
            if loop.time() < next_check:
                yield b": keep-alive\n\n"
                continue
        else:
            if event is None:
                return
            yield event.sse()
        if loop.time() >= next_check:
            if not await _credential_ok(request, credential):
                log.info("live stream ended: credential no longer valid", token=credential.token_id)
                yield LiveEvent("closed", {"reason": "unauthenticated"}).sse()
                return
            next_check = loop.time() + hub.recheck_seconds


@requires("ops", "qa")
@documented(
    "Server-Sent Events: calls (waiting, talking, on hold), call_finished, stored",
    description="The token or session is checked again every 60 s; the stream ends with a "
    "closed event when it is no longer valid. At most 8 streams per token, 64 in all.",
    media_type="text/event-stream",
    errors=(429,),
)
async def live_handler(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: ``calls``, ``call_finished`` and ``stored`` as they happen."""
    credential = request[CREDENTIAL]
    with contextlib.ExitStack() as stack:
        try:
            queue = stack.enter_context(request.app[LIVE].subscribe(credential.token_id))
        except TooManyStreams as exc:
            where = "per token" if exc.scope == "token" else "on this server"
            raise ApiError(
                429,
                "too_many_streams",
                f"too many live streams: at most {exc.limit} {where}; "
                "close one (another tab or screen) and try again",
                {"scope": exc.scope, "limit": exc.limit},
            ) from None
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        try:
            async for chunk in _stream(request, queue, credential):
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
