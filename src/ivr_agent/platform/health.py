"""Liveness and readiness: ``/healthz`` (the process answers) and ``/readyz`` (its parts).

Each part of the agent (database, AMI, ARI) owns a :class:`Component` in the
:class:`Readiness` registry and updates it as its connection comes and goes. ``/readyz``
is 200 only when every enabled part is up, so a load balancer or systemd watchdog can tell
"running but blind" from "working".
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from pydantic import Field

from ivr_agent.platform.apidoc import Reply, documented

PROBE_TIMEOUT_SECONDS = 2.0


class State(enum.StrEnum):
    """Connection state of one part of the agent."""

    DISABLED = "disabled"  # not configured: does not count against readiness
    CONNECTING = "connecting"
    UP = "up"
    DOWN = "down"
    #: Left to the active agent of this PBX while this one stands by (counts as ready).
    STANDBY = "standby"


@dataclass
class Component:
    """The state of one part, with the reason for the last change (safe to show)."""

    name: str
    state: State = State.CONNECTING
    detail: str = ""

    def set(self, state: State, detail: str = "") -> None:
        """Record a state change (called by the part itself)."""
        self.state = state
        self.detail = detail


@dataclass
class Readiness:
    """All parts whose state ``/readyz`` reports."""

    components: dict[str, Component] = field(default_factory=dict)
    # Probes refresh a component on each /readyz (e.g. a database ping).
    probes: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)
    #: With leader election: ``active`` or ``standby`` (None: no election, always active).
    role: str | None = None

    def component(self, name: str, *, enabled: bool = True) -> Component:
        """The component called ``name``, created on first use."""
        if name not in self.components:
            initial = State.CONNECTING if enabled else State.DISABLED
            self.components[name] = Component(name, initial)
        return self.components[name]

    def add_probe(self, name: str, probe: Callable[[], Awaitable[None]]) -> None:
        """Run ``probe`` (which updates component ``name``) before each readiness report."""
        self.probes[name] = probe

    async def refresh(self) -> None:
        """Run every probe; a probe that hangs marks its component down."""
        # A copy: parts register their probes as they start (a standby taking over starts
        # its ARI parts while a /readyz awaits a probe), which must not break the loop.
        for name, probe in list(self.probes.items()):
            try:
                async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
                    await probe()
            except TimeoutError:
                self.component(name).set(
                    State.DOWN, f"no answer within {PROBE_TIMEOUT_SECONDS:g} s"
                )

    @property
    def ready(self) -> bool:
        """True when every enabled part is up."""
        return all(
            c.state in (State.UP, State.DISABLED, State.STANDBY) for c in self.components.values()
        )

    def report(self) -> dict[str, dict[str, str]]:
        """JSON-ready view, one entry per part."""
        return {
            c.name: {"state": c.state.value, **({"detail": c.detail} if c.detail else {})}
            for c in self.components.values()
        }


READINESS = web.AppKey("readiness", Readiness)


class Alive(Reply):
    """``GET /healthz``."""

    status: str = Field(description="Always ok.")


class PartState(Reply):
    """The state of one part of the agent."""

    state: State
    detail: str | None = Field(default=None, description="Why, when not up (safe to show).")


class Ready(Reply):
    """``GET /readyz``: 200 when every enabled part is up, else 503; each part's state."""

    ready: bool
    components: dict[str, PartState]
    role: str | None = Field(
        default=None,
        description="With leader election: active (acts for its PBX) or standby.",
    )


@documented("The process answers", response=Alive)
async def healthz(_request: web.Request) -> web.Response:
    """200 while the process serves requests."""
    return web.json_response({"status": "ok"})


@documented(
    "Every configured part is up (database, outbox, AMI, ARI, prompts)",
    description="Without a token: from the last check, at most 5 s old; with a valid token "
    "it checks now. 503 (same body) while a part is not up.",
    response=Ready,
    extra_statuses=(503,),
)
async def readyz(request: web.Request) -> web.Response:
    """200 when every enabled part is up, else 503; always lists each part's state."""
    readiness = request.app[READINESS]
    await readiness.refresh()
    body: dict[str, object] = {"ready": readiness.ready, "components": readiness.report()}
    if readiness.role is not None:
        body["role"] = readiness.role
    return web.json_response(body, status=200 if readiness.ready else 503)


def setup_health(app: web.Application, readiness: Readiness) -> None:
    """Register the open (token-free) health routes."""
    app[READINESS] = readiness
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
