"""The doctor's AMI session with the agent's own user: login, ``Getvar``, ``ListCommands``
and its ``UserEvent`` echo, counting every event that arrives by name."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from ivr_agent.core.events import SUBSCRIBED_EVENTS
from ivr_agent.pbx.ami import AmiConnection, AmiError, EventSink, RawEvent, flatten
from ivr_agent.pbx.clock import PbxClock
from ivr_agent.platform.health import Component, State
from ivr_agent.settings import Endpoint

#: The doctor's own UserEvent: no application of the agent's is called so.
DOCTOR_EVENT = "IvrAgentDoctor"
#: Seconds to wait for the AMI login.
LOGIN_TIMEOUT = 5.0


@dataclass
class RememberingComponent(Component):
    """A component that remembers why it went down (the reconnect overwrites the reason)."""

    failures: list[str] = field(default_factory=list)

    def set(self, state: State, detail: str = "") -> None:
        super().set(state, detail)
        if state is State.DOWN:
            self.failures.append(detail.split("; retrying")[0])


class CountingConnection(AmiConnection):
    """The agent's AMI connection (same subscription), counting every event by name."""

    def __init__(self, endpoint: Endpoint, sink: EventSink, component: Component) -> None:
        super().__init__(
            endpoint,
            sink,
            events=SUBSCRIBED_EVENTS,
            component=component,
            action_timeout=5.0,
            ping_interval=3600.0,
        )
        self.arrived: Counter[str] = Counter()

    def on_event(self, raw: RawEvent) -> None:
        self.arrived[raw.get("Event", "?")] += 1
        super().on_event(raw)


class AmiSession:
    """A logged-in AMI session of the agent's user, as the doctor uses it."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.clock = PbxClock()
        self.events: list[RawEvent] = []
        self._echo = asyncio.Event()
        self._nonce = secrets.token_hex(8)
        self.component = RememberingComponent("ami")
        self.connection = CountingConnection(endpoint, self._sink, self.component)

    def _sink(self, raw: RawEvent, received_at: float) -> None:
        self.events.append(raw)
        self.clock.observe_ami(raw, received_at)
        if raw.get("UserEvent") == DOCTOR_EVENT and raw.get("Nonce") == self._nonce:
            self._echo.set()

    async def login(self) -> str | None:
        """None once logged in; else why not (refused, unreachable, no answer)."""
        await self.connection.start()
        deadline = time.monotonic() + LOGIN_TIMEOUT
        while time.monotonic() < deadline and not self.component.failures:
            with contextlib.suppress(TimeoutError):
                await self.connection.wait_logged_in(0.05)
                return None
        if self.component.failures:
            return self.component.failures[0]
        return f"no login within {LOGIN_TIMEOUT:g} s"

    async def getvar(self, expression: str) -> str | None:
        """The PBX's value of a variable or function (None if the action failed)."""
        try:
            reply = await self.connection.action({"Action": "Getvar", "Variable": expression})
        except AmiError:
            return None
        return str(reply.get("Value") or "")

    async def commands(self) -> dict[str, str]:
        """``ListCommands``: action name → its synopsis and classes."""
        try:
            reply = await self.connection.action({"Action": "ListCommands"})
        except AmiError:
            return {}
        return flatten(reply)

    async def send_echo(self) -> None:
        """Send the doctor's UserEvent (it comes back if read and filter allow)."""
        with contextlib.suppress(AmiError):
            await self.connection.action(
                {"Action": "UserEvent", "UserEvent": DOCTOR_EVENT, "Nonce": self._nonce}
            )

    async def echo(self, timeout: float) -> RawEvent | None:
        """The doctor's UserEvent as it arrived, or None within ``timeout``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._echo.wait(), timeout)
        for raw in self.events:
            if raw.get("UserEvent") == DOCTOR_EVENT and raw.get("Nonce") == self._nonce:
                return raw
        return None

    def unconsumed(self) -> dict[str, int]:
        """Events that arrived although the agent does not consume them, by name."""
        return {
            name: count
            for name, count in self.connection.arrived.items()
            if name not in SUBSCRIBED_EVENTS
        }


@contextlib.asynccontextmanager
async def ami_session(endpoint: Endpoint) -> AsyncIterator[AmiSession]:
    """An AMI session of the agent's user for the time of the block (closed however it ends)."""
    ami = AmiSession(endpoint)
    try:
        yield ami
    finally:
        await ami.connection.close()
