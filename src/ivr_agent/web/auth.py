"""Bearer-token authentication and role checks for every ``/api/…`` route and page.

A handler declares the roles it admits with :func:`requires`; ``admin`` is always admitted.
Routes without a declaration are open only if listed in :data:`OPEN_PATHS` — anything
else is refused, so a new route is never public by accident.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from ivr_agent.db.database import Database
from ivr_agent.db.tokens import role_of
from ivr_agent.platform.logging import get_logger
from ivr_agent.web.errors import ApiError, Handler
from ivr_agent.web.readyz import READYZ_PATH, ReadyzCache

log = get_logger(__name__)

OPEN_PATHS = frozenset({"/healthz", READYZ_PATH})
#: How long ``/readyz`` waits to learn whether its token is valid (the probes' own bound).
TOKEN_CHECK_SECONDS = 2.0
#: The dashboard's session cookie (HttpOnly, SameSite=Strict): the API token a browser
#: signed in with at ``/login``, so pages and their API calls need no token in a URL.
SESSION_COOKIE = "ivr_agent_session"
ROLE = web.RequestKey("role", str)
_ROLES_ATTR = "_ivr_agent_roles"

F = TypeVar("F", bound=Callable[..., Any])


def requires(*roles: str) -> Callable[[F], F]:
    """Declare which roles may call a handler (``admin`` may call every handler)."""

    def mark(handler: F) -> F:
        setattr(handler, _ROLES_ATTR, frozenset(roles) | {"admin"})
        return handler

    return mark


def open_route(handler: F) -> F:
    """Declare a handler that needs no token (health, and /metrics when public)."""
    setattr(handler, _ROLES_ATTR, None)
    return handler


def bearer_token(request: web.Request) -> str | None:
    """The token of ``Authorization: Bearer …``, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def request_token(request: web.Request) -> str | None:
    """The bearer token, else (reads only) the dashboard's session cookie, if any.

    The cookie never authorises a change: a request that writes must carry the bearer
    header, which no other site can make a browser send (no cross-site request forgery).
    """
    token = bearer_token(request)
    if token is None and request.method in {"GET", "HEAD"}:
        token = request.cookies.get(SESSION_COOKIE) or None
    return token


async def _has_valid_token(request: web.Request, database: Callable[[], Database]) -> bool:
    """Whether the request carries a valid token; ``False`` when that cannot be told in
    :data:`TOKEN_CHECK_SECONDS` (the database is down or slow)."""
    token = request_token(request)
    if token is None:
        return False
    try:
        async with asyncio.timeout(TOKEN_CHECK_SECONDS), database().sessions() as session:
            return await role_of(session, token) is not None
    except Exception:  # any failure means "not known to be valid"; the reason is for the logs
        log.debug("token check for /readyz failed", exc_info=True)
        return False


def auth_middleware(database: Callable[[], Database]) -> Any:
    """Middleware checking the token and role of every request that is not open.

    ``/readyz`` stays open; it is answered fresh for a valid token and from a short cache
    for everyone else (``web/readyz.py``).
    """
    readyz = ReadyzCache()

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == READYZ_PATH:
            if await _has_valid_token(request, database):
                return await readyz.fresh(request, handler)
            return await readyz.cached(request, handler)
        if request.path in OPEN_PATHS:
            return await handler(request)
        route_handler = getattr(request.match_info, "handler", None)
        roles = getattr(route_handler, _ROLES_ATTR, frozenset({"admin"}))
        if roles is None:
            return await handler(request)
        token = request_token(request)
        if token is None:
            raise ApiError(401, "unauthenticated", "an Authorization: Bearer token is required")
        async with database().sessions() as session:
            role = await role_of(session, token)
        if role is None:
            raise ApiError(401, "unauthenticated", "the token is unknown or revoked")
        if role not in roles:
            raise ApiError(
                403, "forbidden", f"role {role!r} may not do this", {"allowed": sorted(roles)}
            )
        request[ROLE] = role
        return await handler(request)

    return authenticate
