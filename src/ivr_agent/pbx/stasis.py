"""Routing the one ARI events websocket of the agent's Stasis app to whoever needs each event.

Theory of operation:

* One :class:`~ivr_agent.pbx.ari.AriEvents` websocket serves the whole app (``settings.ari_app``).
  :meth:`StasisRouter.run` reads it and calls :meth:`StasisRouter.dispatch` for every event;
  dispatch never awaits and never raises, so a slow or failing consumer cannot stall the
  reader (Asterisk drops a websocket whose reader stalls).
* Every event goes to the :class:`ChannelEvents` subscriptions of the ids it concerns: the
  channel, peer, bridge, playback (and the channel it plays on), recording (and its target).
* A ``StasisStart`` whose first argument has a route (``Stasis(ivr-agent,greet,…)`` →
  ``route("greet", …)``) starts that handler in its own task; an exception there is logged.
  Channels we create ourselves (snoop channels, originated calls) are awaited by a
  subscription opened *before* the request that creates them, so their ``StasisStart`` is
  seen there. A ``StasisStart`` nobody expects is not left hanging in Stasis: a snoop channel
  of ours (id prefix :data:`SNOOP_PREFIX`) is hung up, any other channel continues in the
  dialplan (the hook's next step: the caller still reaches the queue).
* After every (re)connection of the websocket :meth:`StasisRouter.reclaim` runs: Asterisk
  does not replay missed events, so snoop channels of ours that no live subscription owns
  are hung up, and the ``on_reconnect`` callbacks of other features get the channel list.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from types import TracebackType

from ivr_agent.pbx.ari import AriClient, AriError, JsonObject
from ivr_agent.pbx.ari_events import AriEvents
from ivr_agent.platform.logging import get_logger

log = get_logger(__name__)

#: Ids of the snoop channels the agent creates start with this (reclaim recognises them).
SNOOP_PREFIX = "ivr-agent-snoop-"
#: The Stasis argument our snoop channels carry (``appArgs``).
WHISPER_ARG = "whisper"

StasisHandler = Callable[["StasisCall"], Awaitable[None]]
ReconnectHook = Callable[[list[JsonObject]], Awaitable[None]]


class ChannelGone(Exception):
    """The channel a subscription waits on was destroyed (hung up)."""

    def __init__(self, channel_id: str) -> None:
        super().__init__(f"channel {channel_id} is gone")
        self.channel_id = channel_id


@dataclass(frozen=True)
class StasisCall:
    """A channel that entered our Stasis app."""

    channel_id: str
    args: tuple[str, ...]
    channel: JsonObject


def event_ids(event: JsonObject) -> set[str]:
    """Every channel, bridge, playback and recording id an ARI event concerns."""
    ids: set[str] = set()
    for key in ("channel", "peer", "bridge", "replace_channel"):
        obj = event.get(key)
        if isinstance(obj, dict) and isinstance(obj.get("id"), str):
            ids.add(obj["id"])
    playback = event.get("playback")
    if isinstance(playback, dict):
        if isinstance(playback.get("id"), str):
            ids.add(playback["id"])
        ids.update(_target_ids(playback))
    recording = event.get("recording")
    if isinstance(recording, dict):
        if isinstance(recording.get("name"), str):
            ids.add(recording["name"])
        ids.update(_target_ids(recording))
    return ids


def _target_ids(obj: JsonObject) -> Iterable[str]:
    # ``target_uri`` is "channel:ID" or "bridge:ID" (several, comma-separated, for playbacks
    # on many targets).
    uris = obj.get("target_uri")
    if not isinstance(uris, str):
        return ()
    return [uri.split(":", 1)[1] for uri in uris.split(",") if ":" in uri]


class ChannelEvents:
    """The ARI events about some ids, in arrival order. Use as a (async) context manager.

    :meth:`next` waits for the next event of given types and **discards** the events of
    other types that arrive meanwhile; iterating (``async for``) yields every event.
    """

    def __init__(self, router: StasisRouter, ids: Iterable[str]) -> None:
        self._router = router
        self.ids: set[str] = set(ids)
        self._queue: asyncio.Queue[JsonObject] = asyncio.Queue()
        self._gone: str | None = None
        self._closed = False

    def add(self, *ids: str) -> None:
        """Also receive the events of ``ids`` (e.g. a bridge created later)."""
        new = set(ids) - self.ids
        self.ids |= new
        self._router._attach(self, new)

    def deliver(self, event: JsonObject) -> None:
        """Queue one event (the router calls this; never blocks)."""
        self._queue.put_nowait(event)

    async def next(self, types: set[str], timeout: float) -> JsonObject:
        """The next event whose ``type`` is in ``types``.

        Raises :class:`TimeoutError` after ``timeout`` seconds, :class:`ChannelGone` when a
        subscribed channel is destroyed (unless ``ChannelDestroyed`` is among ``types``).
        """
        async with asyncio.timeout(timeout):
            while True:
                if self._gone is not None and "ChannelDestroyed" not in types:
                    raise ChannelGone(self._gone)
                event = await self._queue.get()
                kind = event.get("type")
                if kind == "ChannelDestroyed":
                    channel = event.get("channel") or {}
                    if channel.get("id") in self.ids:
                        self._gone = str(channel.get("id"))
                if kind in types:
                    return event

    @property
    def gone(self) -> bool:
        """A subscribed channel was destroyed."""
        return self._gone is not None

    def close(self) -> None:
        """Stop receiving events (idempotent)."""
        if not self._closed:
            self._closed = True
            self._router._detach(self)

    def __enter__(self) -> ChannelEvents:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> ChannelEvents:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __aiter__(self) -> AsyncIterator[JsonObject]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[JsonObject]:
        while not self._closed:
            yield await self._queue.get()


@dataclass
class RouterStats:
    """Counters of the router (exported as metrics)."""

    events: int = 0
    handlers_started: int = 0
    handler_errors: int = 0
    unrouted: int = 0
    orphans_hung_up: int = 0
    reconnects: int = 0


class StasisRouter:
    """Dispatches the app's ARI events to routes (``StasisStart``) and subscriptions (ids)."""

    def __init__(self, client: AriClient, app: str) -> None:
        self.client = client
        self.app = app
        self.stats = RouterStats()
        self._routes: dict[str, StasisHandler] = {}
        self._subscriptions: dict[str, set[ChannelEvents]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._reconnect_hooks: list[ReconnectHook] = []
        #: Wall time of the last event seen (for readiness and debugging).
        self.last_event_at: float | None = None

    # --- registration -------------------------------------------------------------------

    def route(self, name: str, handler: StasisHandler) -> None:
        """``StasisStart`` with ``args[0] == name`` → ``handler`` in its own task."""
        if not name or name == WHISPER_ARG:
            raise ValueError(f"route name {name!r} is empty or reserved")
        if name in self._routes:
            raise ValueError(f"route {name!r} is already taken")
        self._routes[name] = handler

    def subscribe(self, *ids: str) -> ChannelEvents:
        """Every ARI event that concerns these channel/bridge/playback/recording ids."""
        subscription = ChannelEvents(self, ids)
        self._attach(subscription, subscription.ids)
        return subscription

    def on_reconnect(self, hook: ReconnectHook) -> None:
        """Run ``hook(channels)`` after each websocket reconnection (``GET /channels``)."""
        self._reconnect_hooks.append(hook)

    def _attach(self, subscription: ChannelEvents, ids: Iterable[str]) -> None:
        for key in ids:
            self._subscriptions.setdefault(key, set()).add(subscription)

    def _detach(self, subscription: ChannelEvents) -> None:
        for key in subscription.ids:
            subscribers = self._subscriptions.get(key)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscriptions[key]

    def subscribed(self, key: str) -> bool:
        """Whether a live subscription receives the events of ``key``."""
        return key in self._subscriptions

    # --- the reader ---------------------------------------------------------------------

    async def run(self, events: AriEvents) -> None:
        """Read the websocket until it is closed; every event goes through :meth:`dispatch`."""
        async for event in events:
            self.dispatch(event)

    def dispatch(self, event: JsonObject) -> None:
        """Hand one event to its subscribers and, for ``StasisStart``, its route. Never raises."""
        self.stats.events += 1
        self.last_event_at = time.time()
        try:
            delivered = False
            for key in event_ids(event):
                for subscription in tuple(self._subscriptions.get(key, ())):
                    subscription.deliver(event)
                    delivered = True
            if event.get("type") == "StasisStart":
                self._stasis_start(event, expected=delivered)
        except Exception:  # a malformed event must never stop the reader
            log.exception("ari_event_dispatch_failed", ari_event=str(event.get("type")))

    def _stasis_start(self, event: JsonObject, *, expected: bool) -> None:
        channel = event.get("channel")
        if not isinstance(channel, dict) or not isinstance(channel.get("id"), str):
            log.warning("stasis_start_without_channel")
            return
        args = tuple(str(a) for a in event.get("args") or ())
        call = StasisCall(channel_id=channel["id"], args=args, channel=channel)
        handler = self._routes.get(args[0]) if args else None
        if handler is not None:
            self.stats.handlers_started += 1
            self.spawn(self._guarded(handler, call), f"stasis-{args[0]}")
        elif not expected:
            self.stats.unrouted += 1
            self.spawn(self._release(call), "stasis-release")

    async def _guarded(self, handler: StasisHandler, call: StasisCall) -> None:
        try:
            await handler(call)
        except Exception:
            self.stats.handler_errors += 1
            log.exception("stasis_handler_failed", channel_id=call.channel_id, args=call.args)

    async def _release(self, call: StasisCall) -> None:
        """A channel nobody waits for: never leave it silent in Stasis."""
        try:
            if call.channel_id.startswith(SNOOP_PREFIX):
                log.info("orphan_snoop_hung_up", channel_id=call.channel_id)
                await self.client.hangup(call.channel_id)
            else:
                log.warning(
                    "stasis_start_unrouted_continues_in_dialplan",
                    channel_id=call.channel_id,
                    args=call.args,
                )
                await self.client.continue_in_dialplan(call.channel_id)
        except AriError as exc:
            log.warning("stasis_release_failed", channel_id=call.channel_id, error=str(exc))

    def spawn(self, coro: Awaitable[None], name: str) -> asyncio.Task[None]:
        """Run ``coro`` as a task the router keeps a reference to (and cancels on close)."""

        async def run() -> None:
            await coro

        task = asyncio.create_task(run(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        """Cancel the handler tasks still running and wait for them."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # --- reconnection -------------------------------------------------------------------

    async def reclaim(self) -> None:
        """After a (re)connection: hang up our snoop channels nobody owns; run the hooks.

        Pending prompt timers are not touched (they live in the executor, not here).
        """
        self.stats.reconnects += 1
        try:
            channels = await self.client.channels()
        except AriError as exc:
            log.warning("ari_reclaim_failed", error=str(exc))
            return
        for channel in channels:
            channel_id = str(channel.get("id", ""))
            if channel_id.startswith(SNOOP_PREFIX) and not self.subscribed(channel_id):
                self.stats.orphans_hung_up += 1
                log.info("orphan_snoop_hung_up", channel_id=channel_id)
                with contextlib.suppress(AriError):
                    await self.client.hangup(channel_id)
        for hook in self._reconnect_hooks:
            try:
                await hook(channels)
            except Exception:
                log.exception("ari_reconnect_hook_failed")


def snoop_id(unique: str) -> str:
    """Our id for a snoop channel (recognised by :meth:`StasisRouter.reclaim`)."""
    return f"{SNOOP_PREFIX}{unique}"
