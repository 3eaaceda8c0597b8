"""The parts of the app that run only while this agent is the active one for its PBX.

They are written like aiohttp ``cleanup_ctx`` generators (set up, ``yield``, tear down), so
the same part runs unchanged whether the app starts it once at start-up (one agent per
PBX, no election) or the leadership starts and stops it each time this agent gains or loses
the lock. Started in the order added, stopped in reverse; a new generator each start.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from ivr_agent.platform.logging import get_logger

log = get_logger(__name__)

CleanupCtx = Callable[[web.Application], AsyncIterator[None]]


class ActiveParts:
    """An ordered list of parts, started and stopped together, any number of times."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self._parts: list[CleanupCtx] = []
        self._running: list[AsyncIterator[None]] = []

    def add(self, part: CleanupCtx) -> None:
        """Run ``part`` whenever the active parts run (after those added before)."""
        self._parts.append(part)

    @property
    def running(self) -> bool:
        """Whether the parts are started."""
        return bool(self._running)

    async def start(self) -> None:
        """Start every part in order; if one fails, stop those started and re-raise."""
        if self._running:
            return
        for part in self._parts:
            steps = part(self.app)
            try:
                await anext(steps)
            except BaseException:
                await self.stop()
                raise
            self._running.append(steps)

    async def stop(self) -> None:
        """Stop the running parts in reverse order; a part that fails to stop is logged and
        the others are stopped all the same."""
        while self._running:
            steps = self._running.pop()
            try:
                await anext(steps)
            except StopAsyncIteration:
                continue
            except Exception:
                log.exception("an active part failed to stop")
                continue
            log.error("an active part yielded twice; left as is")
