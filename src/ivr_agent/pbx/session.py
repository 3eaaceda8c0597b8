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
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from ivr_agent.core.events import PROMPT_USER_EVENT
from ivr_agent.pbx.ami import AmiError
from ivr_agent.pbx.ari import AriClient, AriTarget
from ivr_agent.pbx.ari_events import AriEvents
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


@dataclass
class PromptStats:
    """Counters of the prompt reports sent over AMI."""

    reports_sent: int = 0
    reports_failed: int = 0


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

    async def report_prompt(
        self, linkedid: str, prompt: str, phase: PromptPhase, played: bool, *, to: str = "caller"
    ) -> None:
        """Tell the tracker about a prompt through AMI ``UserEvent: IvrAgentPrompt``.

        Going through the PBX (rather than feeding the tracker directly) stamps the report
        with the PBX clock and puts it in the AMI capture, so a replay is identical to the
        live run. ``to``: who heard it (caller, both, customer). Never raises: without AMI the
        report is lost and counted.
        """
        if self.ami is None:
            self.report_stats.reports_failed += 1
            return
        try:
            await self.ami.action(
                {
                    "Action": "UserEvent",
                    "UserEvent": PROMPT_USER_EVENT,
                    "Prompt": prompt,
                    "Phase": phase,
                    "Played": "yes" if played else "no",
                    "Linkedid": linkedid,
                    "To": to,
                }
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
) -> AsyncIterator[Ivr]:
    """The ARI session, live for the duration of the block (client, events websocket,
    router); closed in reverse order afterwards."""
    client = AriClient(ari_target(settings), timeout=settings.ari_timeout_seconds)
    router = StasisRouter(client, settings.ari_app)

    async def connected() -> None:
        component.set(State.UP, client.target.base_url)
        await router.reclaim()

    events = AriEvents(client, [settings.ari_app], on_connect=connected)
    ivr = Ivr(
        client=client, router=router, catalogue=catalogue, settings=settings, ami=ami, events=events
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
