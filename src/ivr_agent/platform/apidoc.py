"""What a route documents about itself: the API reference is read from the handlers.

A handler of the HTTP API says, next to its code, what it takes and what it answers —
``@documented("One call, or 404", response=Call, errors=(404,))`` — and registers its path
as usual (``app.router.add_get``). ``web/openapi.py`` walks the app's router and builds the
OpenAPI document from these declarations and the roles of ``web.auth.requires``: the path
and method come from the router, so the document cannot list a route the app does not
serve, and a test checks that every route the app serves is documented.

Only metadata lives here (no aiohttp, no I/O), so every layer may declare its routes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

_DOC_ATTR = "_ivr_agent_apidoc"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Operation:
    """One documented operation: a handler's part of the API reference.

    ``response``: the model of the JSON body of a success (``status``); ``media_type`` for a
    body that is not JSON (audio, Server-Sent Events, Prometheus text) — then ``response``
    is ``None``. ``body``: the model a JSON request body is validated with. ``query``: the
    model whose fields are the query parameters. ``errors``: the statuses the handler
    itself answers with the error shape (401/403 of protected routes and 400 of routes
    with parameters are added by the document).
    """

    summary: str
    description: str = ""
    response: type[BaseModel] | None = None
    status: int = 200
    media_type: str = "application/json"
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    extra_statuses: tuple[int, ...] = ()


#: Every documented handler, in declaration order (a test checks each is served).
DOCUMENTED: list[Callable[..., Any]] = []


def documented(
    summary: str,
    *,
    description: str = "",
    response: type[BaseModel] | None = None,
    status: int = 200,
    media_type: str = "application/json",
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    errors: tuple[int, ...] = (),
    extra_statuses: tuple[int, ...] = (),
) -> Callable[[F], F]:
    """Declare a handler's part of the API reference (see :class:`Operation`)."""
    operation = Operation(
        summary,
        description,
        response,
        status,
        media_type,
        body,
        query,
        errors,
        extra_statuses,
    )

    def mark(handler: F) -> F:
        setattr(handler, _DOC_ATTR, operation)
        DOCUMENTED.append(handler)
        return handler

    return mark


def operation_of(handler: Callable[..., Any]) -> Operation | None:
    """The :class:`Operation` a handler declared, or ``None`` (not part of the API)."""
    found = getattr(handler, _DOC_ATTR, None)
    return found if isinstance(found, Operation) else None


class Reply(BaseModel):
    """Base of the response models: a field the model does not describe is an error, so
    the test that validates real answers catches a field added without its documentation."""

    model_config = ConfigDict(extra="forbid")
