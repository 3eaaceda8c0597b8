"""``POST /api/callbacks``, ``GET /api/callbacks/{callback_id}`` and ``GET /api/callbacks``.

Creating a callback needs role ``ops`` (or ``admin``): it makes the agent phone a customer.
Reading needs ``ops`` or ``qa``: QA reviews survey scores and recordings. Every bad input is
a 400 naming the field (body fields, or query parameters), and nothing is stored then.
Times go out in the call centre's zone (``IVR_AGENT_TIMEZONE``); a time without a zone
coming in is read in that zone too.

A created callback is stored first; then, if a dialer runs in this agent, it is woken
(:data:`WAKE_DIALER`) so a callback due now is dialled at once instead of at the next poll.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import insert

from ivr_agent.callbacks.jobs import CallbackRequest, create_callback
from ivr_agent.callbacks.queries import MAX_PAGE, get_callback, list_callbacks
from ivr_agent.core.callbacks import REASONS, CallbackConfig
from ivr_agent.db.models import CALLBACK_STATUSES, AuditLogRow
from ivr_agent.platform.keys import DATABASE, SETTINGS
from ivr_agent.web.auth import ROLE, requires
from ivr_agent.web.errors import ApiError, bad_parameter
from ivr_agent.web.query import int_parameter

FIELDS = ("customer_number", "customer_name", "reason", "reference_time")
QUERY_PARAMETERS = frozenset({"status", "from", "to", "limit", "offset"})
#: How far a reference time may lie from now: further is a typo, not a callback to plan.
REFERENCE_RANGE = timedelta(days=31)
#: Set by the composition root while the callback dialer runs (its ``Dialer.wake``): makes
#: it look for due callbacks now. Unset (no dialer here): the callback waits for the poll
#: of whichever agent dials.
WAKE_DIALER: web.AppKey[Callable[[], None]] = web.AppKey("wake_dialer")


def _time(name: str, raw: object, request: web.Request) -> datetime:
    if not isinstance(raw, str):
        raise bad_parameter(name, "must be an ISO 8601 date-time string")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise bad_parameter(
            name, "must be an ISO 8601 date-time, e.g. 2026-11-23T10:00:00+08:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=request.app[SETTINGS].zone)
    return moment


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.text())
    except (ValueError, UnicodeDecodeError):
        raise bad_parameter("body", "must be a JSON object") from None
    if not isinstance(body, dict):
        raise bad_parameter("body", "must be a JSON object")
    extra = sorted(set(body) - set(FIELDS))
    if extra:
        raise bad_parameter(extra[0], f"is not a field; fields are {', '.join(FIELDS)}")
    return body


def _callback_request(body: dict[str, Any], request: web.Request, now: datetime) -> CallbackRequest:
    # Fields are checked in contract order so the error names the first bad one.
    number = body.get("customer_number")
    if number is None:
        raise bad_parameter("customer_number", "is required")
    name = body.get("customer_name")
    reason = body.get("reason")
    if not isinstance(reason, str) or reason not in REASONS:
        raise bad_parameter("reason", f"must be one of {', '.join(REASONS)}")
    raw_time = body.get("reference_time")
    if raw_time is None:
        if reason != "manual":
            raise bad_parameter("reference_time", f"is required for reason {reason}")
        reference = now
    else:
        reference = _time("reference_time", raw_time, request)
        if abs(reference - now) > REFERENCE_RANGE:
            raise bad_parameter(
                "reference_time", f"must lie within {REFERENCE_RANGE.days} days of now"
            )
    return CallbackRequest(number, name, reason, reference)


def _field_error(exc: ValueError) -> ApiError:
    # The store names the field first ("customer_number: must be …").
    field, _, problem = str(exc).partition(": ")
    if field in FIELDS:
        return bad_parameter(field, problem)
    return ApiError(400, "invalid_callback", str(exc))


@requires("ops")
async def create_callback_handler(request: web.Request) -> web.Response:
    """Create a callback; 201 with its id, due time and deadline."""
    settings = request.app[SETTINGS]
    now = datetime.now(UTC)
    callback = _callback_request(await _body(request), request, now)
    config = CallbackConfig.from_settings(settings)
    db = request.app[DATABASE]
    async with db.transaction("create callback") as session:
        try:
            created = await create_callback(session, callback, config, now)
        except ValueError as exc:
            raise _field_error(exc) from None
        # Who asked for a phone call to a customer is worth keeping (the token's role).
        await session.execute(
            insert(AuditLogRow).values(
                actor=f"role:{request[ROLE]}",
                action="callback.create",
                object=created.callback_id,
                details={"reason": callback.reason},
            )
        )
    # Only after the commit: a dialer woken earlier would not see the row yet.
    wake = request.app.get(WAKE_DIALER)
    if wake is not None:
        wake()
    zone = settings.zone
    return web.json_response(
        {
            "callback_id": created.callback_id,
            "due_at": created.due_at.astimezone(zone).isoformat(),
            "deadline": created.deadline.astimezone(zone).isoformat(),
            "overdue": created.overdue,
            "status": "pending",
        },
        status=201,
    )


@requires("ops", "qa")
async def get_callback_handler(request: web.Request) -> web.Response:
    """One callback with its attempts, scores, satisfaction index and recording, or 404."""
    found = await get_callback(
        request.app[DATABASE], request.match_info["callback_id"], request.app[SETTINGS].zone
    )
    if found is None:
        raise ApiError(404, "callback_not_found", "no callback with this id")
    return web.json_response(found)


def _count(request: web.Request, name: str, default: str, low: int, high: int) -> int:
    return int_parameter(request.query, name, default=int(default), low=low, high=high)


@requires("ops", "qa")
async def list_callbacks_handler(request: web.Request) -> web.Response:
    """Callbacks due in ``[from, to)`` with ``status``, by due time; ``limit``/``offset`` page."""
    unknown = sorted(set(request.query) - QUERY_PARAMETERS)
    if unknown:
        raise bad_parameter(
            unknown[0], f"is not a parameter; use {', '.join(sorted(QUERY_PARAMETERS))}"
        )
    status = request.query.get("status")
    if status is not None and status not in CALLBACK_STATUSES:
        raise bad_parameter("status", f"must be one of {', '.join(CALLBACK_STATUSES)}")
    due_from = _time("from", request.query["from"], request) if "from" in request.query else None
    due_to = _time("to", request.query["to"], request) if "to" in request.query else None
    if due_from is not None and due_to is not None and due_to < due_from:
        raise bad_parameter("to", "must not be before from")
    limit = _count(request, "limit", "100", 1, MAX_PAGE)
    offset = _count(request, "offset", "0", 0, 10_000_000)
    callbacks = await list_callbacks(
        request.app[DATABASE],
        request.app[SETTINGS].zone,
        status=status,
        due_from=due_from,
        due_to=due_to,
        limit=limit,
        offset=offset,
    )
    next_offset = offset + limit if len(callbacks) == limit else None
    return web.json_response({"callbacks": callbacks, "next_offset": next_offset})


def setup_callbacks_api(app: web.Application) -> None:
    """Register the callback routes."""
    app.router.add_post("/api/callbacks", create_callback_handler)
    app.router.add_get("/api/callbacks", list_callbacks_handler)
    app.router.add_get("/api/callbacks/{callback_id}", get_callback_handler)
