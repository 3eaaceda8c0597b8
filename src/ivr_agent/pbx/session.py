"""The IVR layer as one component: ARI client, Stasis router, prompt catalogue, features.

:func:`running_ivr` is what the composition root (``app.py``) enters after AMI: it opens the
ARI client and the one events websocket of the app, starts the router's reader, and enters
every feature listed in :data:`INSTALLERS` (each gets the :class:`Ivr` and registers routes
or starts workers). Nothing waits for ARI to answer: if it is down at start the websocket
keeps retrying with backoff, the ``ari`` readiness component says so, and prompts that fall
due meanwhile are reported ``Played: no``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from prometheus_client import CollectorRegistry

from ivr_agent.callbacks import dialer
from ivr_agent.core.events import PROMPT_USER_EVENT
from ivr_agent.pbx.ami import AmiError
from ivr_agent.pbx.ari import AriClient, AriEvents, AriTarget
from ivr_agent.pbx.stasis import StasisRouter
from ivr_agent.platform.health import Component, State
from ivr_agent.platform.logging import get_logger
from ivr_agent.prompts import greeting, survey
from ivr_agent.prompts.catalogue import PromptCatalogue
from ivr_agent.prompts.executor import PromptExecutor, PromptJob
from ivr_agent.prompts.whisper import SnoopWhisper
from ivr_agent.settings import Settings

if TYPE_CHECKING:
    from ivr_agent.db.database import Database
    from ivr_agent.pbx.ami import AmiConnection

log = get_logger(__name__)

Audience = Literal["caller", "both"]
PromptPhase = Literal["started", "finished"]


class Catalogue(Protocol):
    """What the IVR needs of the prompt catalogue (``prompts.catalogue.PromptCatalogue``)."""

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


def load_catalogue(settings: Settings) -> Catalogue:
    """The configured prompt catalogue."""
    return PromptCatalogue.from_settings(settings)


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
    executor: PromptExecutor | None = None
    report_stats: PromptStats = field(default_factory=PromptStats)
    #: The agent's database (the callback dialer claims and finishes attempts there).
    database: Database | None = None

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

    async def report_job(self, job: PromptJob, phase: PromptPhase, played: bool) -> None:
        """:meth:`report_prompt` for a tracker command being played (its call's Linkedid is
        the caller's channel id: a call's first channel's Uniqueid)."""
        command = job.command
        if command.channel_id is None:
            self.report_stats.reports_failed += 1
            return
        await self.report_prompt(command.channel_id, command.prompt, phase, played, to=job.to)


Installer = Callable[[Ivr], AbstractAsyncContextManager[None] | None]

#: Features of the IVR layer, entered in order by :func:`running_ivr` (and left in reverse).
#: Each gets the :class:`Ivr`; it registers its Stasis routes, returns a context manager
#: to run workers, or None.
INSTALLERS: list[Installer] = [greeting.install, survey.install, dialer.install]


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
async def running_ivr(
    settings: Settings,
    component: Component,
    *,
    ami: AmiConnection | None,
    catalogue: Catalogue | None = None,
    installers: list[Installer] | None = None,
    registry: CollectorRegistry | None = None,
    database: Database | None = None,
) -> AsyncIterator[Ivr]:
    """The IVR layer, live for the duration of the block (ARI websocket, router, prompt
    executor, features). ``registry``: where the executor's Prometheus series go."""
    client = AriClient(ari_target(settings), timeout=settings.ari_timeout_seconds)
    router = StasisRouter(client, settings.ari_app)

    async def connected() -> None:
        component.set(State.UP, client.target.base_url)
        await router.reclaim()

    events = AriEvents(client, [settings.ari_app], on_connect=connected)
    ivr = Ivr(
        client=client,
        router=router,
        catalogue=catalogue if catalogue is not None else load_catalogue(settings),
        settings=settings,
        ami=ami,
        events=events,
        database=database,
    )
    executor = PromptExecutor(SnoopWhisper(ivr), ivr.report_job, registry=registry)
    ivr.executor = executor
    component.set(State.CONNECTING, client.target.base_url)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(client.close)
        stack.push_async_callback(router.close)
        stack.push_async_callback(executor.close)
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
        for install in installers if installers is not None else INSTALLERS:
            feature = install(ivr)
            if feature is not None:
                await stack.enter_async_context(feature)
        yield ivr


def ari_probe(ivr: Ivr, component: Component) -> Callable[[], Awaitable[None]]:
    """A readiness probe: the component follows the websocket's connection state."""

    async def probe() -> None:
        if ivr.events is not None and ivr.events.connected.is_set():
            component.set(State.UP, ivr.client.target.base_url)
        else:
            component.set(State.DOWN, "ARI events websocket not connected")

    return probe
