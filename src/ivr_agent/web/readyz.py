"""``/readyz`` for anonymous callers from a short cache; token holders get a fresh probe.

``/readyz`` is open (a load balancer carries no token), and each answer runs every readiness
probe (a database round trip, the ARI state) — which anyone could make us do as often as they
liked. So:

- Without a valid token (none, an unknown one, or one that cannot be checked in time because
  the database is down or slow) the answer is the last probe run's while it is under
  :data:`READYZ_CACHE_SECONDS` old; otherwise one request runs the probes and the requests
  arriving meanwhile wait for it and share its answer. However many anonymous callers there
  are, the probes run at most once per :data:`READYZ_CACHE_SECONDS`.
- With a valid token (``Authorization: Bearer``, or the dashboard's session cookie) the probes
  run on every request, as before, and that answer refreshes the cache.

The status and body are the same either way; an anonymous answer may be that many seconds old.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from ivr_agent.web.errors import Handler

#: How long an anonymous ``/readyz`` may be answered from the last probe run.
READYZ_CACHE_SECONDS = 5.0
READYZ_PATH = "/readyz"


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    content_type: str
    charset: str | None
    at: float

    def response(self) -> web.Response:
        return web.Response(
            status=self.status,
            body=self.body,
            content_type=self.content_type,
            charset=self.charset,
        )


class ReadyzCache:
    """The last ``/readyz`` answer, and the lock that lets one request at a time refresh it."""

    def __init__(
        self,
        max_age: float = READYZ_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_age = max_age
        self._clock = clock
        self._answer: _Answer | None = None
        self._refreshing = asyncio.Lock()

    def _remember(self, response: web.StreamResponse) -> None:
        if isinstance(response, web.Response) and isinstance(response.body, bytes):
            self._answer = _Answer(
                response.status,
                response.body,
                response.content_type,
                response.charset,
                self._clock(),
            )

    def _current(self) -> _Answer | None:
        answer = self._answer
        if answer is None or self._clock() - answer.at >= self.max_age:
            return None
        return answer

    async def fresh(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Run the probes now (a caller with a valid token); the answer refreshes the cache."""
        response = await handler(request)
        self._remember(response)
        return response

    async def cached(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The last answer if recent enough, else a fresh one shared with concurrent callers."""
        answer = self._current()
        if answer is None:
            async with self._refreshing:
                answer = self._current()  # another request may have refreshed it meanwhile
                if answer is None:
                    response = await handler(request)
                    self._remember(response)
                    answer = self._current()
                    if answer is None:  # not a plain JSON answer: pass it on, uncached
                        return response
        return answer.response()
