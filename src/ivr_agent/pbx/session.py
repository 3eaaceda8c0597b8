"""The agent's ARI session with the PBX: client, Stasis router, events websocket.

:func:`running_session` is what the composition root (``app.py``) enters after AMI: it opens
the ARI client and the one events websocket of the app and starts the router's reader. The
features (prompts, callbacks, inbound recording) get the :class:`Ivr` and register their
Stasis routes on it; the session itself knows none of them. Nothing waits for ARI to
answer: if it is down at start the websocket keeps retrying with backoff, the ``ari``
readiness component says so, and prompts that fall due meanwhile are reported ``Played: no``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import secrets
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from ivr_agent.core.events import PROMPT_USER_EVENT, SURVEY_USER_EVENT, sent_from_a_channel
from ivr_agent.pbx.ami import AmiError
from ivr_agent.pbx.ari import AriClient, AriTarget
from ivr_agent.pbx.ari_events import AriEvents
from ivr_agent.pbx.bridge_members import BridgeMembers
from ivr_agent.pbx.stasis import StasisRouter
from ivr_agent.platform.health import Component, State
from ivr_agent.platform.logging import get_logger
from ivr_agent.settings import Settings

if TYPE_CHECKING:
    from ivr_agent.pbx.ami import AmiConnection

log = get_logger(__name__)

Audience = Literal["caller", "both"]
PromptPhase = Literal["started", "finished"]


class Catalogue(Protocol):
    """What the IVR needs of the prompt catalogue (``ivr_agent.prompts.PromptCatalogue``)."""

    @property
    def names(self) -> frozenset[str]:
        """Every prompt name the catalogue knows."""
        ...

    def audience(self, name: str) -> Audience:
        """Who hears the prompt when whispered: the caller only, or both parties."""
        ...

    def media(self, name: str, variables: Mapping[str, str] = ...) -> str:
        """ARI media URI of the pre-rendered prompt."""
        ...

    async def ensure_media(self, name: str, variables: Mapping[str, str]) -> str:
        """Like :meth:`media`, rendering on demand."""
        ...

    def available(self, name: str) -> bool:
        """Whether the settings give what the prompt needs (e.g. the hotline number)."""
        ...


#: Headers that seal the agent's own ``UserEvent`` reports (see :class:`ReportSeal`).
NONCE_HEADER = "Nonce"
SEAL_HEADER = "Seal"
#: The fields a seal covers, in this order (all of them are in every report).
SEALED_FIELDS = ("Linkedid", "Prompt", "Phase", "Played", "To")
_REPORT_EVENTS = frozenset({PROMPT_USER_EVENT, SURVEY_USER_EVENT})


class ReportSeal:
    """Tells the agent's own AMI ``UserEvent`` reports from ones another AMI client forged.

    Any AMI user with the ``user`` write class can send ``UserEvent: IvrAgentPrompt`` or
    ``IvrAgentSurvey`` with whatever headers it likes. The dialplan hook's reports are raised
    on the caller's channel, which an AMI action cannot imitate
    (:func:`~ivr_agent.core.events.sent_from_a_channel`); the agent's own reports go through the
    AMI action like a forgery would, so each carries a ``Nonce`` (never used twice) and a
    ``Seal``: an HMAC-SHA256, under a key that never leaves this process, of the nonce and
    :data:`SEALED_FIELDS`. Another client reading the stream sees sealed reports but can make
    no new one, and resending one it saw fails as a nonce already used.

    :meth:`genuine` is the check at the AMI edge, before an event is captured or reaches the
    tracker (a capture then holds only the reports this check let through, and replays
    agree with the live run). It passes every event that is not a report.
    """

    #: How many nonces are remembered to refuse a resent report (the newest ones).
    REMEMBERED = 65_536

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)
        self._prefix = secrets.token_hex(4)
        self._counter = itertools.count(1)
        self._seen: set[str] = set()
        self._order: deque[str] = deque()

    def __repr__(self) -> str:
        return "ReportSeal(key=<secret>)"

    def seal(self, fields: Mapping[str, str]) -> dict[str, str]:
        """``fields`` (a report's headers) with a fresh ``Nonce`` and its ``Seal``."""
        nonce = f"{self._prefix}-{next(self._counter)}"
        return {**fields, NONCE_HEADER: nonce, SEAL_HEADER: self._mac(nonce, fields)}

    def genuine(self, raw: Mapping[str, str]) -> bool:
        """False for a report the agent or its hook did not produce (or one resent)."""
        if raw.get("Event") != "UserEvent" or raw.get("UserEvent") not in _REPORT_EVENTS:
            return True
        if sent_from_a_channel(raw):
            return True  # raised on a channel: the dialplan hook
        nonce, seal = raw.get(NONCE_HEADER), raw.get(SEAL_HEADER)
        if not isinstance(nonce, str) or not isinstance(seal, str) or nonce in self._seen:
            return False
        if not hmac.compare_digest(seal, self._mac(nonce, raw)):
            return False
        self._seen.add(nonce)
        self._order.append(nonce)
        if len(self._order) > self.REMEMBERED:
            self._seen.discard(self._order.popleft())
        return True

    def _mac(self, nonce: str, fields: Mapping[str, object]) -> str:
        material = "\x1f".join([nonce, *(str(fields.get(name, "")) for name in SEALED_FIELDS)])
        return hmac.new(self._key, material.encode(), hashlib.sha256).hexdigest()


def is_agent_report(raw: Mapping[str, str]) -> bool:
    """Whether ``raw`` is a report an agent sent through the AMI action (sealed with that
    agent's own key; not one the dialplan hook raised on a caller's channel)."""
    return (
        raw.get("Event") == "UserEvent"
        and raw.get("UserEvent") in _REPORT_EVENTS
        and not sent_from_a_channel(raw)
    )


class DialplanRecorder(Protocol):
    """Who keeps the recordings the ``ivr-agent-inbound`` hook starts with ``MixMonitor``."""

    def name_for(self, linkedid: str) -> str | None:
        """The PBX recording name for the call ``linkedid`` (None: not recordable)."""

    def started(self, linkedid: str, name: str, at: float) -> None:
        """The caller left the greeting at ``at`` (epoch seconds): MixMonitor runs from then."""


@dataclass
class PromptStats:
    """Counters of the prompt reports sent over AMI."""

    reports_sent: int = 0
    reports_failed: int = 0


@dataclass
class PlaybackStats:
    """Counters of playbacks the PBX could not play (exported as metrics)."""

    #: Prompts in calls that the PBX ended as ``failed``: a media file it could not fetch or
    #: open (missing, unreachable URL, unreadable format).
    failed: int = 0
    #: Prompts cut short because the call ended while they played (ARI says ``failed`` for
    #: them too; not counted in ``failed``, which pages someone).
    interrupted: int = 0
    #: Catalogue prompts the playability check found the PBX cannot play (each time found).
    check_failed: int = 0
    #: Catalogue prompts the PBX cannot play now, as the last check found (a gauge).
    unplayable: int = 0


@dataclass
class Ivr:
    """Everything an IVR feature needs; the app keeps it under the AppKey ``IVR``."""

    client: AriClient
    router: StasisRouter
    catalogue: Catalogue
    settings: Settings
    ami: AmiConnection | None = None
    events: AriEvents | None = None
    report_stats: PromptStats = field(default_factory=PromptStats)
    playback_stats: PlaybackStats = field(default_factory=PlaybackStats)
    seal: ReportSeal = field(default_factory=ReportSeal)
    #: Keeps a caller's finished suggestion recording (linkedid, PBX recording name, start
    #: and end in PBX time): set by the composition root to the inbound recorder's; None:
    #: nobody keeps them (the PBX's copy stays).
    keep_suggestion: Callable[[str, str, float, float | None], None] | None = None
    #: The inbound recorder when the dialplan records callers with ``MixMonitor``
    #: (IVR_AGENT_INBOUND_RECORDER=mixmonitor): the greeting names the file and says when
    #: the caller left it. None: callers are recorded over ARI, or not at all.
    dialplan_recorder: DialplanRecorder | None = None
    #: Bridge membership from AMI (who the operator of a call is, for prompts both
    #: parties hear); None: ask ARI.
    bridges: BridgeMembers | None = None

    async def report_prompt(
        self, linkedid: str, prompt: str, phase: PromptPhase, played: bool, *, to: str = "caller"
    ) -> None:
        """Tell the tracker about a prompt through AMI ``UserEvent: IvrAgentPrompt``.

        Going through the PBX (rather than feeding the tracker directly) stamps the report
        with the PBX clock and puts it in the AMI capture, so a replay is identical to the
        live run. ``to``: who heard it (caller, both, customer). The report is sealed
        (:class:`ReportSeal`), so the AMI edge can refuse forged ones. Never raises: without
        AMI the report is lost and counted.
        """
        if self.ami is None:
            self.report_stats.reports_failed += 1
            return
        report = {
            "Prompt": prompt,
            "Phase": phase,
            "Played": "yes" if played else "no",
            "Linkedid": linkedid,
            "To": to,
        }
        try:
            await self.ami.action(
                {"Action": "UserEvent", "UserEvent": PROMPT_USER_EVENT, **self.seal.seal(report)}
            )
            self.report_stats.reports_sent += 1
        except AmiError as exc:
            self.report_stats.reports_failed += 1
            log.warning(
                "prompt_report_failed",
                prompt=prompt,
                phase=phase,
                linkedid=linkedid,
                error=str(exc),
            )


def ari_target(settings: Settings) -> AriTarget:
    """The ARI of the settings (``IVR_AGENT_ARI_URL``); raises ValueError if unset."""
    endpoint = settings.ari_url
    if endpoint is None:
        raise ValueError("IVR_AGENT_ARI_URL is not set")
    return AriTarget(
        base_url=endpoint.base_url,
        username=endpoint.username,
        password=endpoint.password.get_secret_value(),
    )


@contextlib.asynccontextmanager
async def running_session(
    settings: Settings,
    component: Component,
    *,
    ami: AmiConnection | None,
    catalogue: Catalogue,
    seal: ReportSeal | None = None,
    bridges: BridgeMembers | None = None,
) -> AsyncIterator[Ivr]:
    """The ARI session, live for the duration of the block (client, events websocket,
    router); closed in reverse order afterwards. ``seal``: the one the AMI edge checks
    reports with (default: a new one); ``bridges``: bridge membership the AMI side keeps
    (None: prompts for both parties ask ARI who is bridged)."""
    client = AriClient(ari_target(settings), timeout=settings.ari_timeout_seconds)
    router = StasisRouter(client, settings.ari_app)

    async def connected() -> None:
        component.set(State.UP, client.target.base_url)
        await router.reclaim()

    events = AriEvents(client, [settings.ari_app], on_connect=connected)
    ivr = Ivr(
        client=client,
        router=router,
        catalogue=catalogue,
        settings=settings,
        ami=ami,
        events=events,
        seal=seal if seal is not None else ReportSeal(),
        bridges=bridges,
    )
    component.set(State.CONNECTING, client.target.base_url)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(client.close)
        stack.push_async_callback(router.close)
        # Not awaited: start() waits for the first connection, which may never come.
        starter = asyncio.create_task(events.start(), name="ari-events-start")
        reader = asyncio.create_task(router.run(events), name="ari-router")

        async def stop_reading() -> None:
            starter.cancel()
            await events.close()
            reader.cancel()
            for task in (starter, reader):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            component.set(State.DOWN, "closed")

        stack.push_async_callback(stop_reading)
        yield ivr


def ari_probe(ivr: Ivr, component: Component) -> Callable[[], Awaitable[None]]:
    """A readiness probe: the component follows the websocket's connection state."""

    async def probe() -> None:
        if ivr.events is not None and ivr.events.connected.is_set():
            component.set(State.UP, ivr.client.target.base_url)
        else:
            component.set(State.DOWN, "ARI events websocket not connected")

    return probe
