"""Writing a recording when the data directory may be full: wait for space, do not lose it.

A full disk is a fault that passes (an admin frees space, a log rotates); the recording is
still on the PBX meanwhile, and nothing is deleted there before the agent has kept it. So a
write the disk refuses is tried again every ``retry_seconds`` for up to ``limit_seconds``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from ivr_agent.platform.logging import get_logger
from ivr_agent.recordings.files import download_path

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
    return await when_disk_allows_async(
        lambda: asyncio.to_thread(work, *args),
        what=what,
        retry_seconds=retry_seconds,
        limit_seconds=limit_seconds,
        on_retry=on_retry,
    )


async def when_disk_allows_async(
    work: Callable[[], Awaitable[_T]],
    *,
    what: dict[str, object],
    retry_seconds: float = DISK_RETRY_SECONDS,
    limit_seconds: float | None = None,
    on_retry: Callable[[], None] | None = None,
) -> _T:
    """``await work()``, tried again while it raises ``OSError``, as :func:`when_disk_allows`
    (a download into the data dir: it removes its partial file when the disk refuses it)."""
    limit = DISK_RETRY_LIMIT_SECONDS if limit_seconds is None else limit_seconds
    deadline = time.monotonic() + limit
    tries = 0
    while True:
        try:
            return await work()
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


async def download_when_disk_allows(
    download: Callable[[Path], Awaitable[object]],
    data_dir: Path,
    *,
    what: dict[str, object],
    retry_seconds: float = DISK_RETRY_SECONDS,
    limit_seconds: float | None = None,
    on_retry: Callable[[], None] | None = None,
) -> Path:
    """``download(target)`` into a new file under ``data_dir`` (``files.download_path``);
    the file. A download the disk refuses (the downloader removes its part) starts again
    when there is room, as :func:`when_disk_allows`; any other error is raised at once."""

    async def attempt() -> Path:
        target = await asyncio.to_thread(download_path, data_dir)
        await download(target)
        return target

    return await when_disk_allows_async(
        attempt,
        what=what,
        retry_seconds=retry_seconds,
        limit_seconds=limit_seconds,
        on_retry=on_retry,
    )
