"""API errors: one exception type, one JSON shape, caught once at the edge.

Every error body is ``{"error": {"status", "error_id", "message", "details"}}``; the
``error_id`` is machine-readable and stable, ``details`` names the offending field.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from ivr_agent.db.errors import StoreError
from ivr_agent.platform.logging import get_logger

log = get_logger(__name__)


class ApiError(Exception):
    """An expected failure of an API request."""

    def __init__(
        self, status: int, error_id: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_id = error_id
        self.message = message
        self.details = details or {}


def bad_parameter(name: str, problem: str) -> ApiError:
    """400 naming the query parameter or body field ``name``."""
    return ApiError(400, "invalid_parameter", f"{name}: {problem}", {"field": name})


class ErrorDetail(BaseModel):
    """What went wrong: ``error_id`` is stable, ``details.field`` names a bad parameter."""

    status: int
    error_id: str
    message: str
    details: dict[str, Any]


class ErrorBody(BaseModel):
    """The body of every error answer of the API."""

    error: ErrorDetail


def error_response(error: ApiError) -> web.Response:
    """The JSON response for ``error``."""
    body = {
        "error": {
            "status": error.status,
            "error_id": error.error_id,
            "message": error.message,
            "details": error.details,
        }
    }
    return web.json_response(body, status=error.status)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn :class:`ApiError`, store failures and unknown routes into the JSON error shape."""
    try:
        return await handler(request)
    except ApiError as error:
        return error_response(error)
    except StoreError as exc:
        log.error("request failed in the store", path=request.path, error=str(exc))
        return error_response(ApiError(503, "store_unavailable", "the database is unavailable"))
    except web.HTTPException as exc:
        if exc.status >= 400 and request.path.startswith("/api/"):
            return error_response(
                ApiError(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
            )
        raise
