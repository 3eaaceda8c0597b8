"""Complaint routes: ``POST/GET /api/complaints``, ``GET /api/complaints/{id}`` and
``POST /api/complaints/{id}/events``.

Registering: ``ops`` (supervisors) and ``operator`` (an operator registers a complaint of a
call it answered; another's call is "no such call"). Reading: ``ops`` and ``qa``. Moving a
complaint on (assign, feedback, resolve, confirm, reopen): ``ops``. ``admin`` may do all.
A bad body or parameter is a 400 naming the field, an illegal transition a 409 naming the
complaint's state; nothing is stored on either. Every change is audited (``complaint.*``).
Times go out in the call centre's zone (``IVR_AGENT_TIMEZONE``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from ivr_agent.callbacks import callback_config
from ivr_agent.complaints.model import (
    Actor,
    Complaint,
    ComplaintError,
    ComplaintExists,
    UnknownComplaint,
)
from ivr_agent.complaints.queries import MAX_PAGE, ComplaintFilter, list_complaints
from ivr_agent.complaints.schemas import (
    ComplaintDetail,
    ComplaintPage,
    ComplaintsQuery,
    NewComplaintBody,
    TransitionBody,
)
from ivr_agent.complaints.store import NewComplaint, get_complaint, register, transition
from ivr_agent.core.complaints import COMPLAINT_STATES, IllegalTransition
from ivr_agent.db.models import CallRow
from ivr_agent.notify import Directory
from ivr_agent.platform.apidoc import documented
from ivr_agent.platform.keys import DATABASE, DIRECTORY, SETTINGS
from ivr_agent.web.auth import CREDENTIAL, requires
from ivr_agent.web.errors import ApiError, bad_parameter
from ivr_agent.web.query import bool_parameter, int_parameter
from ivr_agent.web.validation import json_body

QUERY_PARAMETERS = frozenset(f.alias or n for n, f in ComplaintsQuery.model_fields.items())


def chase_after(app: web.Application) -> timedelta:
    """``IVR_AGENT_COMPLAINT_CHASE_DAYS`` as a duration."""
    return timedelta(days=app[SETTINGS].complaint_chase_days)


def directory_of(app: web.Application) -> Directory:
    """The departments directory in force (``IVR_AGENT_DEPARTMENTS_FILE``, loaded at start;
    empty without one: no department can be assigned)."""
    return app.get(DIRECTORY) or Directory()


def request_actor(request: web.Request) -> Actor:
    """Who acts, as the timeline and the audit log name them."""
    credential = request.get(CREDENTIAL)
    if credential is None:
        raise ApiError(401, "unauthenticated", "an Authorization: Bearer token is required")
    return Actor(f"token:{credential.token_id}", credential.role)


def check_department(app: web.Application, department_id: str | None) -> None:
    """400 naming ``department_id`` unless the directory knows it."""
    departments = directory_of(app).departments
    if department_id is not None and department_id not in departments:
        known = ", ".join(sorted(departments)) or "none are configured"
        raise bad_parameter("department_id", f"is not a department (known: {known})")


def complaint_json(request: web.Request, complaint: Complaint, *, timeline: bool) -> dict[str, Any]:
    """The complaint as the API answers it."""
    app = request.app
    return complaint.to_json(
        app[SETTINGS].zone, datetime.now(UTC), chase_after(app), timeline=timeline
    )


def _error(exc: ComplaintError) -> ApiError:
    if isinstance(exc, UnknownComplaint):
        return ApiError(404, "complaint_not_found", "no complaint with this id")
    if isinstance(exc, ComplaintExists):
        return ApiError(
            409,
            "complaint_exists",
            str(exc),
            {"field": "call_id", "complaint_id": exc.complaint_id},
        )
    _, _, problem = str(exc).partition(": ")
    return bad_parameter(exc.field or "body", problem or str(exc))


async def _operators_call(request: web.Request, call_id: str | None) -> None:
    """An operator registers complaints of its own calls only (others: as if unknown)."""
    credential = request[CREDENTIAL]
    if credential.role != "operator" or call_id is None:
        return
    async with request.app[DATABASE].transaction("operator's call") as session:
        call = await session.get(CallRow, call_id)
    if call is None or call.operator_id != credential.operator_id:
        raise bad_parameter("call_id", f"no call {call_id}")


@requires("ops", "operator")
@documented(
    "Register a complaint (投诉, S7)",
    description="With department_id it is assigned at once. operator: only for its own calls "
    "(call_id), and a complaint needs no call. 409 when the call already has its complaint.",
    body=NewComplaintBody,
    response=ComplaintDetail,
    status=201,
    errors=(409,),
)
async def register_handler(request: web.Request) -> web.Response:
    """``POST /api/complaints``."""
    actor = request_actor(request)
    body = await json_body(request, NewComplaintBody)
    check_department(request.app, body.department_id)
    await _operators_call(request, body.call_id)
    new = NewComplaint(
        summary=body.summary,
        customer_number=body.customer_number,
        customer_name=body.customer_name,
        call_id=body.call_id,
        department_id=body.department_id,
        note=body.note,
    )
    try:
        complaint = await register(request.app[DATABASE], new, actor, now=datetime.now(UTC))
    except ComplaintError as exc:
        raise _error(exc) from None
    return web.json_response(complaint_json(request, complaint, timeline=True), status=201)


@requires("ops", "qa")
@documented(
    "Complaints registered in [from, to), latest first, filtered and paged",
    query=ComplaintsQuery,
    response=ComplaintPage,
)
async def list_handler(request: web.Request) -> web.Response:
    """``GET /api/complaints``."""
    query = request.query
    unknown = sorted(set(query) - QUERY_PARAMETERS)
    if unknown:
        raise bad_parameter(
            unknown[0], f"is not a parameter; use {', '.join(sorted(QUERY_PARAMETERS))}"
        )
    state = query.get("state")
    if state is not None and state not in COMPLAINT_STATES:
        raise bad_parameter("state", f"must be one of {', '.join(COMPLAINT_STATES)}")
    created_from = _time(request, "from")
    created_to = _time(request, "to")
    if created_from and created_to and created_to < created_from:
        raise bad_parameter("to", "must not be before from")
    filters = ComplaintFilter(
        state=state,
        department_id=query.get("department"),
        created_from=created_from,
        created_to=created_to,
        overdue=bool_parameter(query, "overdue"),
        escalated=bool_parameter(query, "escalated"),
    )
    limit = int_parameter(query, "limit", default=100, low=1, high=MAX_PAGE)
    offset = int_parameter(query, "offset", default=0, low=0, high=10_000_000)
    complaints = await list_complaints(
        request.app[DATABASE],
        filters,
        now=datetime.now(UTC),
        chase_after=chase_after(request.app),
        limit=limit,
        offset=offset,
    )
    return web.json_response(
        {
            "complaints": [complaint_json(request, c, timeline=False) for c in complaints],
            "next_offset": offset + limit if len(complaints) == limit else None,
        }
    )


def _time(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.strip().replace(" ", "+"))
    except ValueError:
        raise bad_parameter(name, "must be an ISO 8601 date or time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=request.app[SETTINGS].zone)


@requires("ops", "qa")
@documented("One complaint with its timeline", response=ComplaintDetail, errors=(404,))
async def get_handler(request: web.Request) -> web.Response:
    """``GET /api/complaints/{id}``."""
    complaint = await get_complaint(request.app[DATABASE], request.match_info["complaint_id"])
    if complaint is None:
        raise ApiError(404, "complaint_not_found", "no complaint with this id")
    return web.json_response(complaint_json(request, complaint, timeline=True))


@requires("ops")
@documented(
    "Move a complaint on: assign, feedback, resolve, confirm or reopen, with a note",
    description="409 naming the complaint's state when it does not allow the transition; "
    "resolve schedules the complaint_resolved callback (24-72 h, S7).",
    body=TransitionBody,
    response=ComplaintDetail,
    status=201,
    errors=(404, 409),
)
async def transition_handler(request: web.Request) -> web.Response:
    """``POST /api/complaints/{id}/events``."""
    actor = request_actor(request)
    body = await json_body(request, TransitionBody)
    if body.transition == "assign":
        if body.department_id is None:
            raise bad_parameter("department_id", "is required to assign")
        check_department(request.app, body.department_id)
    elif body.department_id is not None:
        raise bad_parameter("department_id", "is only for assign")
    try:
        complaint = await transition(
            request.app[DATABASE],
            request.match_info["complaint_id"],
            body.transition,
            actor,
            now=datetime.now(UTC),
            note=body.note,
            department_id=body.department_id,
            callbacks=callback_config(request.app[SETTINGS]),
            pbx_id=request.app[SETTINGS].pbx_id,
        )
    except IllegalTransition as exc:
        raise ApiError(
            409,
            "illegal_transition",
            str(exc),
            {"state": exc.state, "transition": exc.transition},
        ) from None
    except ComplaintError as exc:
        raise _error(exc) from None
    return web.json_response(complaint_json(request, complaint, timeline=True), status=201)


def setup_complaints_api(app: web.Application) -> None:
    """Register the complaint routes."""
    app.router.add_post("/api/complaints", register_handler)
    app.router.add_get("/api/complaints", list_handler)
    app.router.add_get("/api/complaints/{complaint_id}", get_handler)
    app.router.add_post("/api/complaints/{complaint_id}/events", transition_handler)
