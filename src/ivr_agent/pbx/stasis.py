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
  (id prefix :data:`ANY_SNOOP_PREFIX`) is hung up, any other channel continues in the
  dialplan (the hook's next step: the caller still reaches the queue).
* After every (re)connection of the websocket :meth:`StasisRouter.reclaim` runs: Asterisk
  does not replay missed events and does not resend ``StasisStart``, so it lists
  ``GET /channels`` and releases what sits in our app with nobody to act on it:

  - A channel is *owned* while a handler task of ours runs for it or a live subscription
    receives its events. On a websocket reconnect within one process the handlers and
    subscriptions live on and keep their channels; after an agent restart nothing is owned.
  - A caller inside ``Stasis(<app>,ROUTE,…)`` of a route registered ``from_dialplan`` (the
    hooks' ``greet`` and ``survey``) that nobody owns is continued in the dialplan: its
    handler died with the previous agent process, and without this the caller would sit in
    silence until hanging up. The channel listing tells which channels are in Stasis and
    why (``dialplan.app_name`` ``Stasis``, ``dialplan.app_data`` ``<app>,ROUTE,…``).
    Channels of other routes (the callback dialer's) are left to their features'
    ``on_reconnect`` hooks and reconciliation.
  - Snoop channels: every snoop id carries the creating process's :data:`INSTANCE_ID`
    (:func:`snoop_id`). An unowned snoop of this instance is hung up; so is one of another
    instance that sits in *our* app, because Asterisk gives an app's events to one
    websocket only — the one we now hold — so its owner is gone (a dead or displaced agent
    of the same app). Snoops in other apps belong to other agents on the PBX (each agent
    needs its own ``IVR_AGENT_ARI_APP``) and are never touched; a snoop whose spied
    channel hangs up ends with it. A recording snoop in our app (``Stasis`` argument
    :data:`RECORDING_SNOOP_ARG`) is left running: the inbound recorder adopts its recording
    (``recordings/inbound.py``), and it ends with its call in any case.

  A ``from_dialplan`` route registered after the first reclaim (features start after the
  websocket may have connected) gets the same sweep for its channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from types import TracebackType

from ivr_agent.pbx.ari import AriClient, AriError, JsonObject
from ivr_agent.pbx.ari_events import AriEvents
from ivr_agent.platform.logging import get_logger

log = get_logger(__name__)

#: Ids of the snoop channels of every ivr-agent process start with this.
ANY_SNOOP_PREFIX = "ivr-agent-snoop-"
#: This process's instance id, carried by every snoop id it creates (:func:`snoop_id`).
INSTANCE_ID = secrets.token_hex(4)
#: Ids of the snoop channels *this* process creates start with this (reclaim recognises them).
SNOOP_PREFIX = f"{ANY_SNOOP_PREFIX}{INSTANCE_ID}-"
#: The dialplan application of a channel inside Stasis (``dialplan.app_name`` of a channel).
STASIS_APP_NAME = "Stasis"
#: How many channel ids continued by reclaim are remembered until their ``StasisEnd``.
RELEASED_MEMORY = 1000
#: The Stasis argument our snoop channels carry (``appArgs``).
WHISPER_ARG = "whisper"
#: The Stasis argument of the inbound recorder's snoop channels: reclaim leaves those to
#: the recorder, which adopts their recordings (an agent restart or failover loses none).
RECORDING_SNOOP_ARG = "record"

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


def stasis_entry(channel: JsonObject) -> tuple[str, tuple[str, ...]] | None:
    """``(app, args)`` of a channel (as ``GET /channels`` lists it) inside ``Stasis()``, or
    None when it is not in Stasis (or the listing does not say)."""
    dialplan = channel.get("dialplan")
    if not isinstance(dialplan, dict):
        return None
    name, data = dialplan.get("app_name"), dialplan.get("app_data")
    if not isinstance(name, str) or name.lower() != STASIS_APP_NAME.lower():
        return None
    if not isinstance(data, str):
        return None
    app, *args = data.split(",")
    return app.strip(), tuple(arg.strip() for arg in args)


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
        #: Set once a subscribed channel's ``StasisEnd`` or ``ChannelDestroyed`` has been
        #: delivered, consumed by :meth:`next` or not.
        self._ended = asyncio.Event()

    def add(self, *ids: str) -> None:
        """Also receive the events of ``ids`` (e.g. a bridge created later)."""
        new = set(ids) - self.ids
        self.ids |= new
        self._router._attach(self, new)

    def deliver(self, event: JsonObject) -> None:
        """Queue one event (the router calls this; never blocks)."""
        if event.get("type") in ("StasisEnd", "ChannelDestroyed"):
            channel = event.get("channel") or {}
            if channel.get("id") in self.ids:
                self._ended.set()
        self._queue.put_nowait(event)

    async def ended(self, timeout: float) -> bool:
        """Whether a subscribed channel has left our app or been destroyed, now or within
        ``timeout`` seconds.

        For the agent's own snoop channels, which have no dialplan to go on to, leaving
        the app means they were hung up (they end with the call they spy on). The app gets
        the snoop's ``StasisEnd``; its ``ChannelDestroyed`` may never reach it (the app's
        subscription to the channel ends with ``StasisEnd``), so waiting for that alone
        took every hang-up for a failure.
        """
        if self.has_ended or timeout <= 0:
            return self.has_ended
        try:
            await asyncio.wait_for(self._ended.wait(), timeout)
        except TimeoutError:
            return False
        return True

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
    def has_ended(self) -> bool:
        """A subscribed channel's ``StasisEnd`` or ``ChannelDestroyed`` has been delivered
        (whether or not :meth:`next` consumed it): see :meth:`ended`."""
        return self._ended.is_set()

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
    #: Callers found in a hook route's Stasis with no live handler, continued in the dialplan.
    stranded_continued: int = 0


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
        #: Routes that channels enter from the dialplan hooks (continued when stranded).
        self._dialplan_routes: set[str] = set()
        #: Channel id → number of live handler tasks for it.
        self._handled: dict[str, int] = {}
        #: Channels reclaim continued, until their ``StasisEnd`` (a ``StasisStart`` still in
        #: the websocket for one of them must not start a handler any more).
        self._released: dict[str, None] = {}
        self._reclaimed = False
        #: Wall time of the last event seen (for readiness and debugging).
        self.last_event_at: float | None = None

    # --- registration -------------------------------------------------------------------

    def route(self, name: str, handler: StasisHandler, *, from_dialplan: bool = False) -> None:
        """``StasisStart`` with ``args[0] == name`` → ``handler`` in its own task.

        ``from_dialplan``: channels enter this route from a dialplan hook
        (``Stasis(<app>,name,…)``) and must go on in the dialplan when their handler is gone:
        :meth:`reclaim` continues those that no live handler owns (a previous agent process
        died while handling them).
        """
        if not name or name == WHISPER_ARG:
            raise ValueError(f"route name {name!r} is empty or reserved")
        if name in self._routes:
            raise ValueError(f"route {name!r} is already taken")
        self._routes[name] = handler
        if from_dialplan:
            self._dialplan_routes.add(name)
            if self._reclaimed:
                # The websocket connected (and reclaim ran) before this route existed.
                with contextlib.suppress(RuntimeError):  # no running loop: nothing to sweep
                    self.spawn(self._sweep(name), f"stasis-sweep-{name}")

    def subscribe(self, *ids: str) -> ChannelEvents:
        """Every ARI event that concerns these channel/bridge/playback/recording ids."""
        subscription = ChannelEvents(self, ids)
        self._attach(subscription, subscription.ids)
        return subscription

    def on_reconnect(self, hook: ReconnectHook) -> Callable[[], None]:
        """Run ``hook(channels)`` after each websocket reconnection (``GET /channels``);
        returns what unregisters it."""
        self._reconnect_hooks.append(hook)
        return lambda: self._reconnect_hooks.remove(hook)

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

    def owned(self, channel_id: str) -> bool:
        """Whether a live handler task or subscription of this router owns the channel."""
        return channel_id in self._handled or self.subscribed(channel_id)

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
            kind = event.get("type")
            if kind == "StasisStart":
                self._stasis_start(event, expected=delivered)
            elif kind in ("StasisEnd", "ChannelDestroyed") and self._released:
                channel = event.get("channel")
                if isinstance(channel, dict):
                    self._released.pop(str(channel.get("id")), None)
        except Exception:  # a malformed event must never stop the reader
            log.exception("ari_event_dispatch_failed", ari_event=str(event.get("type")))

    def _stasis_start(self, event: JsonObject, *, expected: bool) -> None:
        channel = event.get("channel")
        if not isinstance(channel, dict) or not isinstance(channel.get("id"), str):
            log.warning("stasis_start_without_channel")
            return
        args = tuple(str(a) for a in event.get("args") or ())
        call = StasisCall(channel_id=channel["id"], args=args, channel=channel)
        if call.channel_id in self._released:
            # Entered just before reclaim listed the channels, which continued it already.
            del self._released[call.channel_id]
            log.info("stasis_start_already_continued", channel_id=call.channel_id, args=args)
            return
        handler = self._routes.get(args[0]) if args else None
        if handler is not None:
            self.stats.handlers_started += 1
            self._handle(call.channel_id)
            task = self.spawn(self._guarded(handler, call), f"stasis-{args[0]}")
            task.add_done_callback(lambda _: self._unhandle(call.channel_id))
        elif not expected:
            self.stats.unrouted += 1
            self.spawn(self._release(call), "stasis-release")

    def _handle(self, channel_id: str) -> None:
        self._handled[channel_id] = self._handled.get(channel_id, 0) + 1

    def _unhandle(self, channel_id: str) -> None:
        left = self._handled.get(channel_id, 0) - 1
        if left > 0:
            self._handled[channel_id] = left
        else:
            self._handled.pop(channel_id, None)

    async def _guarded(self, handler: StasisHandler, call: StasisCall) -> None:
        try:
            await handler(call)
        except Exception:
            self.stats.handler_errors += 1
            log.exception("stasis_handler_failed", channel_id=call.channel_id, args=call.args)

    async def _release(self, call: StasisCall) -> None:
        """A channel nobody waits for: never leave it silent in Stasis."""
        try:
            if call.channel_id.startswith(ANY_SNOOP_PREFIX):
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

    def spawn(self, coro: Awaitable[object], name: str) -> asyncio.Task[None]:
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
        """After a (re)connection: release what sits in our app unowned; run the hooks.

        Callers of ``from_dialplan`` routes are continued in the dialplan, our unowned snoop
        channels (and those of a gone agent of this app) hung up — see the module docstring.
        Pending prompt timers are not touched (they live in the executor, not here).
        """
        self.stats.reconnects += 1
        try:
            channels = await self.client.channels()
        except AriError as exc:
            log.warning("ari_reclaim_failed", error=str(exc))
            return
        finally:
            self._reclaimed = True
        await self._release_unowned(channels)
        for hook in self._reconnect_hooks:
            try:
                await hook(channels)
            except Exception:
                log.exception("ari_reconnect_hook_failed")

    async def _sweep(self, route: str) -> None:
        """Continue the stranded callers of ``route`` (registered after the last reclaim)."""
        try:
            channels = await self.client.channels()
        except AriError as exc:
            log.warning("ari_stranded_sweep_failed", route=route, error=str(exc))
            return
        await self._release_unowned(channels, only_route=route)

    async def _release_unowned(
        self, channels: list[JsonObject], *, only_route: str | None = None
    ) -> None:
        for channel in channels:
            channel_id = channel.get("id")
            if not isinstance(channel_id, str) or not channel_id or self.owned(channel_id):
                continue
            entry = stasis_entry(channel)
            in_our_app = entry is not None and entry[0] == self.app
            if channel_id.startswith(ANY_SNOOP_PREFIX):
                recording = (
                    in_our_app and entry is not None and entry[1][:1] == (RECORDING_SNOOP_ARG,)
                )
                if (
                    only_route is None
                    and not recording
                    and (in_our_app or (entry is None and channel_id.startswith(SNOOP_PREFIX)))
                ):
                    await self._hang_up_orphan_snoop(channel_id)
                continue
            if entry is None or not in_our_app or not entry[1]:
                continue
            route = entry[1][0]
            if route in self._dialplan_routes and only_route in (None, route):
                await self._continue_stranded(channel_id, entry[1])

    async def _hang_up_orphan_snoop(self, channel_id: str) -> None:
        self.stats.orphans_hung_up += 1
        owner = "this agent" if channel_id.startswith(SNOOP_PREFIX) else "gone"
        log.info("orphan_snoop_hung_up", channel_id=channel_id, owner=owner)
        with contextlib.suppress(AriError):
            await self.client.hangup(channel_id)

    async def _continue_stranded(self, channel_id: str, args: tuple[str, ...]) -> None:
        """A hook's caller whose handler is gone: on to the hook's next step (the queue)."""
        self.stats.stranded_continued += 1
        log.warning("stranded_caller_continued_in_dialplan", channel_id=channel_id, args=args)
        self._released[channel_id] = None
        while len(self._released) > RELEASED_MEMORY:
            self._released.pop(next(iter(self._released)))
        try:
            await self.client.continue_in_dialplan(channel_id)
        except AriError as exc:  # 404: hung up meanwhile
            self._released.pop(channel_id, None)
            log.info("stranded_continue_failed", channel_id=channel_id, error=str(exc))


def snoop_id(unique: str) -> str:
    """This process's id for a snoop channel: ``ivr-agent-snoop-<instance>-<unique>``
    (recognised by :meth:`StasisRouter.reclaim`)."""
    return f"{SNOOP_PREFIX}{unique}"
