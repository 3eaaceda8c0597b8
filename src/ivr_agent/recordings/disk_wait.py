"""Writing a recording when the data directory may be full: wait for space, do not lose it.

A full disk is a fault that passes (an admin frees space, a log rotates); the recording is
still on the PBX meanwhile, and nothing is deleted there before the agent has kept it. So a
write the disk refuses is tried again every ``retry_seconds`` for up to ``limit_seconds``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ivr_agent.platform.logging import get_logger

log = get_logger(__name__)
_T = TypeVar("_T")

#: How often a refused write is tried again, and for how long.
DISK_RETRY_SECONDS = 10.0
DISK_RETRY_LIMIT_SECONDS = 3600.0


async def when_disk_allows(
    work: Callable[..., _T],
    *args: Any,
    what: dict[str, object],
    retry_seconds: float = DISK_RETRY_SECONDS,
    limit_seconds: float | None = None,
    on_retry: Callable[[], None] | None = None,
) -> _T:
    """``work(*args)`` in a thread, tried again while it raises ``OSError`` (logged once,
    with ``what``); the last error is raised after ``limit_seconds`` (default
    :data:`DISK_RETRY_LIMIT_SECONDS`)."""
    limit = DISK_RETRY_LIMIT_SECONDS if limit_seconds is None else limit_seconds
    deadline = time.monotonic() + limit
    tries = 0
    while True:
        try:
            return await asyncio.to_thread(work, *args)
        except OSError as exc:
            if time.monotonic() > deadline:
                raise
            if tries == 0:  # once per recording: a full disk lasts many tries
                log.warning(
                    "recording_disk_refused", error=str(exc), retry_every=retry_seconds, **what
                )
            tries += 1
            if on_retry is not None:
                on_retry()
            await asyncio.sleep(retry_seconds)
