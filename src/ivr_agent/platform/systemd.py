"""systemd's notify protocol: readiness, status and the watchdog (``Type=notify`` units).

The protocol is one datagram per message, ``KEY=VALUE`` lines, sent to the ``AF_UNIX``
socket named by ``NOTIFY_SOCKET`` (a leading ``@`` names an abstract socket). It is small
enough to speak here: the PyPI client (``sdnotify``) has had no release since 2017, and
``systemd-python`` needs libsystemd's headers to build.

What the agent sends (:func:`running_notifier`):

- ``READY=1`` once it serves HTTP (database open and migrated, parts started) — not when
  every ``/readyz`` component is up: a PBX that is down must not hold the start until
  systemd's start timeout kills the agent. ``STATUS=`` tells which parts are up, and changes
  with them (``systemctl status`` shows it), so "running but blind" is visible there too.
- ``WATCHDOG=1`` every half ``WATCHDOG_USEC``, from a task on the event loop: a loop that is
  stuck (a blocking call, a busy handler) stops the pings and systemd restarts the agent.
- ``STOPPING=1`` when it begins to shut down.

Without ``NOTIFY_SOCKET`` (not started by systemd) nothing is sent. A failed send is logged
once and never stops the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator

from ivr_agent.platform.health import Readiness, State
from ivr_agent.platform.logging import get_logger
from ivr_agent.platform.tasks import background
from ivr_agent.settings import SystemdEnvironment

log = get_logger(__name__)

#: How often the readiness probes run for ``STATUS=`` (sent when it changes).
STATUS_SECONDS = 10.0


class Notifier:
    """Sends notify messages to systemd; does nothing without a socket."""

    def __init__(self, address: str | None) -> None:
        self._address = address
        self._failed = False

    @property
    def enabled(self) -> bool:
        """True when started by systemd with a notify socket."""
        return bool(self._address)

    def notify(self, *lines: str) -> bool:
        """Send ``lines`` (``KEY=VALUE`` each) as one message; True when it was sent."""
        if not self._address:
            return False
        address = self._address
        if address.startswith("@"):  # an abstract socket
            address = "\0" + address[1:]
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.setblocking(False)  # never block the event loop on systemd
                sock.sendto("\n".join(lines).encode(), address)
        except OSError as exc:
            if not self._failed:  # once: a watchdog would repeat it every few seconds
                log.warning("systemd notify failed", error=str(exc))
            self._failed = True
            return False
        return True


def readiness_status(readiness: Readiness) -> str:
    """One line for ``STATUS=``: ready or not, and each enabled part that is not up."""
    parts = [c for c in readiness.components.values() if c.state is not State.DISABLED]
    waiting = [f"{c.name} {c.state.value}" for c in parts if c.state is not State.UP]
    if not waiting:
        return "ready: " + ", ".join(f"{c.name} up" for c in parts)
    return "serving, not ready: " + ", ".join(waiting)


async def _keep_pinging(notifier: Notifier, interval: float) -> None:
    # Its own task, so that slow readiness probes never delay a ping.
    while True:
        await asyncio.sleep(interval)
        notifier.notify("WATCHDOG=1")


async def _keep_status(notifier: Notifier, readiness: Readiness, last: str) -> None:
    while True:
        await asyncio.sleep(STATUS_SECONDS)
        await readiness.refresh()  # the parts only probes update (database, outbox, disk)
        now = readiness_status(readiness)
        if now != last:
            notifier.notify(f"STATUS={now}")
            last = now


@contextlib.asynccontextmanager
async def running_notifier(
    environment: SystemdEnvironment, readiness: Readiness
) -> AsyncIterator[Notifier]:
    """For a serving agent: ``READY=1`` now, ``WATCHDOG=1`` and ``STATUS=`` while the block
    runs (from the event loop), ``STOPPING=1`` when it ends."""
    notifier = Notifier(environment.notify_socket)
    if not notifier.enabled:
        yield notifier
        return
    await readiness.refresh()
    status = readiness_status(readiness)
    notifier.notify("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")
    watchdog = environment.watchdog_seconds
    log.info("systemd notified", ready=True, watchdog_seconds=watchdog)
    try:
        async with contextlib.AsyncExitStack() as stack:
            if watchdog is not None:
                pings = _keep_pinging(notifier, watchdog / 2)
                await stack.enter_async_context(background(pings, "systemd-watchdog"))
            updates = _keep_status(notifier, readiness, status)
            await stack.enter_async_context(background(updates, "systemd-status"))
            yield notifier
    finally:
        notifier.notify("STOPPING=1", "STATUS=stopping")
