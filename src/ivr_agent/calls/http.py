"""``GET /api/calls`` and ``GET /api/calls/{call_id}``: finished calls, as exported.

``GET /api/calls?format=csv|xlsx`` (or ``Accept: text/csv``) downloads every call matching
the filters (``since``) as a spreadsheet, streamed: rows are fetched in pages of
:data:`EXPORT_PAGE` and written as they come (``limit`` and ``after`` page the JSON list
only). One column per key of the call's JSON; holds, prompts and links as JSON text; then
the links flattened (``calls.links.LINK_COLUMNS``): the kind of call (inbound, survey,
return_call, specialist), the original call it follows up, the calls placed for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from aiohttp import web

from ivr_agent.calls.links import LINK_COLUMNS, link_cells, linked_pages
from ivr_agent.calls.schemas import MAX_PAGE, Call, CallPage, CallsQuery
from ivr_agent.calls.store import get_call, list_calls, outcome_pages
from ivr_agent.db.errors import UnknownCursorError
from ivr_agent.platform.apidoc import documented
from ivr_agent.platform.keys import DATABASE, SETTINGS
from ivr_agent.web.auth import requires
from ivr_agent.web.errors import ApiError, bad_parameter
from ivr_agent.web.query import int_parameter
from ivr_agent.web.tabular import requested_format, stream_table

#: How many calls one page of an export fetches (each page its own short transaction).
EXPORT_PAGE = 500
#: The export's columns: the keys of a call's JSON, in its order, then the flat links.
EXPORT_COLUMNS = (*Call.model_fields, *LINK_COLUMNS)


def _since(request: web.Request) -> datetime | None:
    raw = request.query.get("since")
    if raw is None:
        return None
    try:
        since = datetime.fromisoformat(raw)
    except ValueError:
        raise bad_parameter("since", "must be an ISO 8601 date or time") from None
    if since.tzinfo is None:
        since = since.replace(tzinfo=request.app[SETTINGS].zone)
    return since


def _limit(request: web.Request) -> int:
    return int_parameter(request.query, "limit", default=100, low=1, high=MAX_PAGE)


@requires("ops", "qa")
@documented("Finished calls, oldest first, paged", query=CallsQuery, response=CallPage)
async def list_calls_handler(request: web.Request) -> web.StreamResponse:
    """Calls ending at or after ``since``, oldest first; ``after`` is the paging cursor;
    with ``format=csv|xlsx`` all of them as a streamed spreadsheet."""
    fmt = requested_format(request)
    since = _since(request)
    if fmt is not None:
        return await stream_table(request, fmt, "calls", EXPORT_COLUMNS, _rows(request, since))
    limit, after = _limit(request), request.query.get("after")
    try:
        calls = await list_calls(
            request.app[DATABASE], since=since, limit=limit, after_call_id=after
        )
    except UnknownCursorError:
        raise bad_parameter("after", "is not the call_id of a listed call") from None
    next_after = calls[-1]["call_id"] if len(calls) == limit else None
    return web.json_response({"calls": calls, "next_after": next_after})


async def _rows(request: web.Request, since: datetime | None) -> AsyncIterator[Sequence[Any]]:
    db = request.app[DATABASE]
    async for page in linked_pages(db, outcome_pages(db, since=since, batch=EXPORT_PAGE)):
        for call in page:
            yield [call.get(column) for column in Call.model_fields] + link_cells(call)


@requires("ops", "qa")
@documented("One finished call", response=Call, errors=(404,))
async def get_call_handler(request: web.Request) -> web.Response:
    """One call, or 404."""
    call = await get_call(request.app[DATABASE], request.match_info["call_id"])
    if call is None:
        raise ApiError(404, "call_not_found", "no call with this id")
    return web.json_response(call)


def setup_calls_api(app: web.Application) -> None:
    """Register the call routes."""
    app.router.add_get("/api/calls", list_calls_handler)
    app.router.add_get("/api/calls/{call_id}", get_call_handler)
