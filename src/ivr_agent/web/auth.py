"""Bearer-token authentication and role checks for every ``/api/…`` route and page.

A handler declares the roles it admits with :func:`requires`; ``admin`` is always admitted.
Routes without a declaration are open only if listed in :data:`OPEN_PATHS` — anything
else is refused, so a new route is never public by accident.

A request's credential is a bearer token or the dashboard's session cookie (a server-side
session, ``db/tokens.py``); the middleware checks it once — unknown, revoked and expired
are refused alike — and puts it on the request as :data:`CREDENTIAL`. A credential it
refuses is taken off the request before an open route (a page) sees it, so no handler can
act on it; for a live session the cookie is presented to handlers as the session's token,
so code that looks a request's token up itself keeps working.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from multidict import CIMultiDict

from ivr_agent.db.database import Database
from ivr_agent.db.tokens import (
    SESSION_PREFIX,
    Credential,
    session_credential,
    token_credential,
)
from ivr_agent.platform.logging import get_logger
from ivr_agent.web.errors import ApiError, Handler
from ivr_agent.web.readyz import READYZ_PATH, ReadyzCache

log = get_logger(__name__)

OPEN_PATHS = frozenset({"/healthz", READYZ_PATH})
#: Paths whose answers never depend on who asks: no credential is looked up for them.
ANONYMOUS_PREFIXES = ("/static/",)
#: How long ``/readyz`` waits to learn whether its token is valid (the probes' own bound).
TOKEN_CHECK_SECONDS = 2.0
#: The dashboard's session cookie (HttpOnly, SameSite=Strict): the secret of the server-side
#: session a browser got at ``/login``, so pages and their API calls need no token in a URL.
SESSION_COOKIE = "ivr_agent_session"
READ_METHODS = frozenset({"GET", "HEAD"})
ROLE = web.RequestKey("role", str)
#: The credential the middleware admitted (set on every request that carried a valid one).
CREDENTIAL = web.RequestKey("credential", Credential)
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


def admitted_roles(path: str, handler: Callable[..., Any]) -> frozenset[str] | None:
    """The roles :func:`auth_middleware` admits to ``handler`` served at ``path``
    (``None``: open to anyone; a handler that declared nothing is ``admin``'s only)."""
    if path in OPEN_PATHS or path.startswith(ANONYMOUS_PREFIXES):
        return None
    roles: frozenset[str] | None = getattr(handler, _ROLES_ATTR, frozenset({"admin"}))
    return roles


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
    Behind :func:`auth_middleware` the cookie of a live session reads as its token.
    """
    token = bearer_token(request)
    if token is None and request.method in READ_METHODS:
        token = request.cookies.get(SESSION_COOKIE) or None
    return token


async def cookie_credential(database: Database, value: str) -> Credential | None:
    """The credential of a session cookie's value: a live session's secret only.

    An API token presented as the cookie is refused (issue 14): the cookie is what a
    browser keeps and a page's script may leak, so it never carries a token's power — sign
    in at ``/login`` for a session."""
    if not value.startswith(SESSION_PREFIX):
        return None
    async with database.sessions() as session:
        return await session_credential(session, value)


async def bearer_credential(database: Database, token: str) -> Credential | None:
    """The credential of a valid bearer token."""
    async with database.sessions() as session:
        return await token_credential(session, token)


@dataclass(frozen=True)
class _Presented:
    """What a request carried and what each piece turned out to be."""

    bearer: str | None
    cookie: str | None
    from_bearer: Credential | None
    from_cookie: Credential | None

    @property
    def any(self) -> bool:
        return self.bearer is not None or self.cookie is not None

    def for_route(self, method: str) -> Credential | None:
        """The credential a protected route accepts: the bearer's if one was sent, else
        the cookie's for a read."""
        if self.bearer is not None:
            return self.from_bearer
        return self.from_cookie if method in READ_METHODS else None

    def for_open_route(self) -> Credential | None:
        """What an open route (a page, the sign-in, the QA form) may know of the caller."""
        return self.from_bearer if self.bearer is not None else self.from_cookie


async def _presented(request: web.Request, database: Database) -> _Presented:
    bearer = bearer_token(request)
    cookie = request.cookies.get(SESSION_COOKIE) or None
    return _Presented(
        bearer,
        cookie,
        None if bearer is None else await bearer_credential(database, bearer),
        None if cookie is None else await cookie_credential(database, cookie),
    )


def _cookie_header(cookies: Mapping[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


def _as_handlers_see_it(request: web.Request, presented: _Presented) -> web.Request:
    """The request with refused credentials taken off and a live session's cookie reading
    as its token; the request itself when nothing changes."""
    headers = CIMultiDict(request.headers)
    changed = False
    if presented.bearer is not None and presented.from_bearer is None:
        del headers["Authorization"]
        changed = True
    if presented.cookie is not None:
        cookies = dict(request.cookies)
        if presented.from_cookie is None:
            del cookies[SESSION_COOKIE]
            changed = True
        elif presented.from_cookie.token != presented.cookie:
            cookies[SESSION_COOKIE] = presented.from_cookie.token
            changed = True
        headers.popall("Cookie", None)
        if cookies:
            headers["Cookie"] = _cookie_header(cookies)
    return request.clone(headers=headers) if changed else request


async def _has_valid_token(request: web.Request, database: Callable[[], Database]) -> bool:
    """Whether the request carries a valid token; ``False`` when that cannot be told in
    :data:`TOKEN_CHECK_SECONDS` (the database is down or slow)."""
    if bearer_token(request) is None and not request.cookies.get(SESSION_COOKIE):
        return False
    try:
        async with asyncio.timeout(TOKEN_CHECK_SECONDS):
            presented = await _presented(request, database())
    except Exception:  # any failure means "not known to be valid"; the reason is for the logs
        log.debug("token check for /readyz failed", exc_info=True)
        return False
    return presented.for_route(request.method) is not None


def auth_middleware(database: Callable[[], Database]) -> Any:
    """Middleware checking the credential and role of every request that is not open.

    ``/readyz`` stays open; it is answered fresh for a valid token and from a short cache
    for everyone else (``web/readyz.py``). Open routes get the request with any refused
    credential removed (:func:`_as_handlers_see_it`), and :data:`CREDENTIAL` when the
    caller has a valid one.
    """
    readyz = ReadyzCache()

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == READYZ_PATH:
            if await _has_valid_token(request, database):
                return await readyz.fresh(request, handler)
            return await readyz.cached(request, handler)
        if request.path in OPEN_PATHS or request.path.startswith(ANONYMOUS_PREFIXES):
            return await handler(request)
        route_handler = getattr(request.match_info, "handler", None)
        roles = getattr(route_handler, _ROLES_ATTR, frozenset({"admin"}))
        if roles is None:
            return await _open(request, handler)
        if bearer_token(request) is None and (
            request.method not in READ_METHODS or not request.cookies.get(SESSION_COOKIE)
        ):
            raise ApiError(401, "unauthenticated", "an Authorization: Bearer token is required")
        presented = await _presented(request, database())
        credential = presented.for_route(request.method)
        if credential is None:
            raise ApiError(401, "unauthenticated", "the token is unknown, revoked or expired")
        if credential.role not in roles:
            raise ApiError(
                403,
                "forbidden",
                f"role {credential.role!r} may not do this",
                {"allowed": sorted(roles)},
            )
        request = _as_handlers_see_it(request, presented)
        request[CREDENTIAL] = credential
        request[ROLE] = credential.role
        return await handler(request)

    async def _open(request: web.Request, handler: Handler) -> web.StreamResponse:
        if bearer_token(request) is None and not request.cookies.get(SESSION_COOKIE):
            return await handler(request)
        try:
            presented = await _presented(request, database())
        except Exception:  # an open route still answers; it just learns nobody is signed in
            log.warning("credential check failed; answering as anonymous", exc_info=True)
            presented = _Presented(
                bearer_token(request), request.cookies.get(SESSION_COOKIE), None, None
            )
        request = _as_handlers_see_it(request, presented)
        credential = presented.for_open_route()
        if credential is not None:
            request[CREDENTIAL] = credential
            request[ROLE] = credential.role
        return await handler(request)

    return authenticate
