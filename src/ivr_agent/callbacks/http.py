"""``POST /api/callbacks``, ``GET /api/callbacks/{callback_id}`` and ``GET /api/callbacks``.

Creating a callback needs role ``ops`` (or ``admin``): it makes the agent phone a customer.
Reading needs ``ops`` or ``qa``: QA reviews survey scores and recordings. Every bad input is
a 400 naming the field (body fields, or query parameters), and nothing is stored then.
Times go out in the call centre's zone (``IVR_AGENT_TIMEZONE``); a time without a zone
coming in is read in that zone too.

``GET /api/callbacks?format=csv|xlsx`` (or ``Accept: text/csv``) downloads every callback
matching the filters (``status``, ``follow_up``, ``from``, ``to``) as a spreadsheet, streamed
in pages of :data:`MAX_PAGE` (``limit`` and ``offset`` page the JSON list only); one column
per key of the callback's JSON, the attempts and scores as JSON text.

A created callback is stored first; then, if a dialer runs in this agent, it is woken
(:data:`WAKE_DIALER`) so a callback due now is dialled at once instead of at the next poll.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import insert

from ivr_agent.callbacks.calendar import callback_config
from ivr_agent.callbacks.jobs import CallbackRequest, create_callback
from ivr_agent.callbacks.queries import MAX_PAGE, get_callback, list_callbacks
from ivr_agent.callbacks.schemas import (
    Callback,
    CallbackCreated,
    CallbackPage,
    CallbacksQuery,
    NewCallback,
)
from ivr_agent.db.models import CALLBACK_STATUSES, AuditLogRow
from ivr_agent.platform.apidoc import documented
from ivr_agent.platform.keys import DATABASE, SETTINGS
from ivr_agent.platform.slots import Slot
from ivr_agent.web.auth import ROLE, requires
from ivr_agent.web.errors import ApiError, bad_parameter
from ivr_agent.web.query import bool_parameter, int_parameter
from ivr_agent.web.tabular import requested_format, stream_table
from ivr_agent.web.validation import json_body

FIELDS = tuple(NewCallback.model_fields)
QUERY_PARAMETERS = frozenset(f.alias or n for n, f in CallbacksQuery.model_fields.items())
#: The export's columns: the keys of a callback's JSON, in its order.
EXPORT_COLUMNS = tuple(Callback.model_fields)
#: How far a reference time may lie from now: further is a typo, not a callback to plan.
REFERENCE_RANGE = timedelta(days=31)
#: Filled by the composition root while the callback dialer runs (its ``Dialer.wake``):
#: makes it look for due callbacks now. Empty (no dialer here): the callback waits for the
#: poll of whichever agent dials.
WAKE_DIALER: web.AppKey[Slot[Callable[[], None]]] = web.AppKey("wake_dialer")


def _time(name: str, raw: str, request: web.Request) -> datetime:
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise bad_parameter(
            name, "must be an ISO 8601 date-time, e.g. 2026-11-23T10:00:00+08:00"
        ) from None
    return _zoned(moment, request)


def _zoned(moment: datetime, request: web.Request) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=request.app[SETTINGS].zone)
    return moment


def _callback_request(body: NewCallback, request: web.Request, now: datetime) -> CallbackRequest:
    # The model checked each field's form; what depends on the others or on now is here.
    if body.kind == "specialist":
        if body.reason is not None:
            raise bad_parameter("reason", "must be left out for kind specialist")
        if body.operator_id is None:
            raise bad_parameter("operator_id", "is required for kind specialist")
        reason = "specialist"
    else:
        if body.reason is None:
            raise bad_parameter("reason", "is required")
        if body.operator_id is not None:
            raise bad_parameter("operator_id", "is only for kind specialist")
        reason = body.reason
    if body.reference_time is None:
        if reason not in ("manual", "specialist"):
            raise bad_parameter("reference_time", f"is required for reason {reason}")
        reference = now
    else:
        reference = _zoned(body.reference_time, request)
        if abs(reference - now) > REFERENCE_RANGE:
            raise bad_parameter(
                "reference_time", f"must lie within {REFERENCE_RANGE.days} days of now"
            )
    return CallbackRequest(
        body.customer_number,
        body.customer_name,
        reason,
        reference,
        operator_id=body.operator_id,
    )


def _field_error(exc: ValueError) -> ApiError:
    # The store names the field first ("customer_number: must be …").
    field, _, problem = str(exc).partition(": ")
    if field in FIELDS:
        return bad_parameter(field, problem)
    return ApiError(400, "invalid_callback", str(exc))


@requires("ops")
@documented(
    "Request a callback",
    description="Stored, audited, and the agent's dialer woken; nothing is stored on a 400.",
    body=NewCallback,
    response=CallbackCreated,
    status=201,
)
async def create_callback_handler(request: web.Request) -> web.Response:
    """Create a callback; 201 with its id, due time and deadline."""
    settings = request.app[SETTINGS]
    now = datetime.now(UTC)
    callback = _callback_request(await json_body(request, NewCallback), request, now)
    config = callback_config(settings)
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
    wake = request.app[WAKE_DIALER].value
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
@documented(
    "One callback: status, attempts, outcome, survey scores, satisfaction index, recording",
    response=Callback,
    errors=(404,),
)
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
@documented(
    "Callbacks due in [from, to), by due time, paged", query=CallbacksQuery, response=CallbackPage
)
async def list_callbacks_handler(request: web.Request) -> web.StreamResponse:
    """Callbacks due in ``[from, to)`` with ``status``, by due time; ``limit``/``offset`` page;
    with ``format=csv|xlsx`` all of them as a streamed spreadsheet."""
    unknown = sorted(set(request.query) - QUERY_PARAMETERS)
    if unknown:
        raise bad_parameter(
            unknown[0], f"is not a parameter; use {', '.join(sorted(QUERY_PARAMETERS))}"
        )
    status = request.query.get("status")
    if status is not None and status not in CALLBACK_STATUSES:
        raise bad_parameter("status", f"must be one of {', '.join(CALLBACK_STATUSES)}")
    follow_up = bool_parameter(request.query, "follow_up")
    due_from = _time("from", request.query["from"], request) if "from" in request.query else None
    due_to = _time("to", request.query["to"], request) if "to" in request.query else None
    if due_from is not None and due_to is not None and due_to < due_from:
        raise bad_parameter("to", "must not be before from")
    filters = _Filters(status, follow_up, due_from, due_to)
    fmt = requested_format(request)
    if fmt is not None:
        return await stream_table(
            request, fmt, "callbacks", EXPORT_COLUMNS, _export_rows(request, filters)
        )
    limit = _count(request, "limit", "100", 1, MAX_PAGE)
    offset = _count(request, "offset", "0", 0, 10_000_000)
    callbacks = await _page(request, filters, limit, offset)
    next_offset = offset + limit if len(callbacks) == limit else None
    return web.json_response({"callbacks": callbacks, "next_offset": next_offset})


@dataclass(frozen=True)
class _Filters:
    status: str | None
    follow_up: bool | None
    due_from: datetime | None
    due_to: datetime | None


async def _page(
    request: web.Request, filters: _Filters, limit: int, offset: int
) -> list[dict[str, Any]]:
    return await list_callbacks(
        request.app[DATABASE],
        request.app[SETTINGS].zone,
        status=filters.status,
        follow_up=filters.follow_up,
        due_from=filters.due_from,
        due_to=filters.due_to,
        limit=limit,
        offset=offset,
    )


async def _export_rows(request: web.Request, filters: _Filters) -> AsyncIterator[Sequence[Any]]:
    # Offset pages: a callback created meanwhile may shift a page by one row; an export is
    # a snapshot a person reads, and every page is its own short transaction.
    offset = 0
    while True:
        page = await _page(request, filters, MAX_PAGE, offset)
        for callback in page:
            yield [callback.get(column) for column in EXPORT_COLUMNS]
        if len(page) < MAX_PAGE:
            return
        offset += MAX_PAGE


def setup_callbacks_api(app: web.Application) -> None:
    """Register the callback routes."""
    app[WAKE_DIALER] = Slot("the callback dialer")
    app.router.add_post("/api/callbacks", create_callback_handler)
    app.router.add_get("/api/callbacks", list_callbacks_handler)
    app.router.add_get("/api/callbacks/{callback_id}", get_callback_handler)
