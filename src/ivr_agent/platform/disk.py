"""The data directory's free space, as a readiness check.

A full data directory does not stop the agent (outcomes go straight to PostgreSQL, a
recording waits with the PBX keeping its copy, the in-flight journal is written again from
memory), but it loses its crash safety meanwhile: ``/readyz`` says so at once, not only
when the next outcome fails to reach the spool.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from ivr_agent.platform.health import Component, State

#: Below this much free space the data directory counts as full: a recording of a few
#: minutes (8 kHz, 16 bit: about 1 MB a minute) or a spool burst would not fit.
MIN_FREE_BYTES = 16 * 1024 * 1024


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer can still use on the filesystem holding ``path``."""
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def disk_probe(path: Path, component: Component) -> Callable[[], Awaitable[None]]:
    """A readiness probe of ``path``'s free space (down under :data:`MIN_FREE_BYTES`)."""

    async def probe() -> None:
        try:
            free = await asyncio.to_thread(free_bytes, path)
        except OSError as exc:
            component.set(State.DOWN, f"{path}: {exc.strerror or exc}")
            return
        if free < MIN_FREE_BYTES:
            component.set(State.DOWN, f"{path}: {free / (1024 * 1024):.1f} MiB free")
        else:
            # No figure when up: /readyz answers stay the same between checks.
            component.set(State.UP)

    return probe
