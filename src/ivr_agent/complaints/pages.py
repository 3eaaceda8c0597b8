"""The complaint pages: ``/complaints`` (the list, with filters) and ``/complaints/{id}``
(the complaint, its timeline, and the supervisor's actions: assign, feedback, resolve,
confirm, reopen).

Sign-in is the dashboard's (``/login``, the session cookie). ``ops``, ``qa`` and ``admin``
see the pages; ``ops`` and ``admin`` act. The action form posts with the session cookie, so
it carries the guards of ``web/forms.py`` (a per-session form token, a same-origin check),
and goes through the same validation and store call as ``POST
/api/complaints/{id}/events``: the same 400s and 409s, shown on the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ivr_agent.callbacks import callback_config
from ivr_agent.complaints.http import (
    chase_after,
    check_department,
    directory_of,
    request_actor,
)
from ivr_agent.complaints.model import Complaint, ComplaintError, TimelineEntry
from ivr_agent.complaints.queries import ComplaintFilter, list_complaints
from ivr_agent.complaints.schemas import TransitionBody
from ivr_agent.complaints.store import get_complaint, transition
from ivr_agent.core.complaints import (
    COMPLAINT_STATES,
    EVENT_LABELS,
    STATE_LABELS,
    TRANSITION_LABELS,
    IllegalTransition,
    allowed_transitions,
)
from ivr_agent.platform.keys import DATABASE, SETTINGS
from ivr_agent.web.auth import CREDENTIAL, open_route
from ivr_agent.web.errors import ApiError
from ivr_agent.web.forms import cross_site, form_token, valid_form_token
from ivr_agent.web.i18n import DASH, PageLocale, request_locale
from ivr_agent.web.redirects import login_location
from ivr_agent.web.templates import render_page, staff_message_page
from ivr_agent.web.validation import validated

VIEW_ROLES = frozenset({"ops", "qa", "admin"})
ACT_ROLES = frozenset({"ops", "admin"})
#: The most complaints the list page shows.
PAGE_ROWS = 200


def _purpose(complaint_id: str) -> str:
    return f"complaint:{complaint_id}"


def _refusal(request: web.Request, roles: frozenset[str]) -> web.Response | None:
    """The page that says why the request may not see (or act), or None when it may; no
    sign-in is a redirect to ``/login``."""
    credential = request.get(CREDENTIAL)
    if credential is None:
        raise web.HTTPSeeOther(login_location(request.rel_url.raw_path))
    if credential.role not in roles:
        t = request_locale(request)
        return staff_message_page(
            t,
            t.gettext("Forbidden"),
            t.gettext("Complaints need an ops, qa or admin token."),
            status=403,
        )
    return None


@dataclass(frozen=True)
class Row:
    """A complaint of the list, formatted."""

    complaint_id: str
    registered: str
    customer: str
    summary: str
    department: str
    state: str
    state_text: str
    overdue: bool
    escalated: bool


def _department_name(request: web.Request, department_id: str | None) -> str:
    if department_id is None:
        return DASH
    department = directory_of(request.app).departments.get(department_id)
    return department.name if department is not None else department_id


def _customer(complaint: Complaint) -> str:
    row = complaint.row
    return " ".join(v for v in (row.customer_name, row.customer_number) if v) or DASH


def _flag(request: web.Request, name: str) -> bool | None:
    return {"true": True, "false": False}.get(request.query.get(name, ""))


@open_route
async def list_page_handler(request: web.Request) -> web.StreamResponse:
    """``/complaints``: latest first, filtered by state, department, overdue, escalated."""
    refused = _refusal(request, VIEW_ROLES)
    if refused is not None:
        return refused
    t = request_locale(request)
    zone = request.app[SETTINGS].zone
    now = datetime.now(UTC)
    state = request.query.get("state") or None
    department = request.query.get("department") or None
    filters = ComplaintFilter(
        state=state if state in COMPLAINT_STATES else None,
        department_id=department,
        overdue=_flag(request, "overdue"),
        escalated=_flag(request, "escalated"),
    )
    limit = chase_after(request.app)
    complaints = await list_complaints(
        request.app[DATABASE], filters, now=now, chase_after=limit, limit=PAGE_ROWS
    )
    departments = directory_of(request.app).departments
    return render_page(
        "complaints/list.html",
        t,
        title=t.gettext("Complaints"),
        states=[("", t.gettext("Any state"))]
        + [(s, t.gettext(STATE_LABELS[s])) for s in COMPLAINT_STATES],
        departments=[("", t.gettext("Any department"))]
        + [(d.id, d.name) for d in departments.values()],
        chosen={
            "state": filters.state or "",
            "department": department or "",
            "overdue": filters.overdue is True,
            "escalated": filters.escalated is True,
        },
        rows=[
            Row(
                complaint_id=c.complaint_id,
                registered=t.date_time(c.row.created_at, zone),
                customer=_customer(c),
                summary=c.row.summary if len(c.row.summary) <= 80 else c.row.summary[:79] + "…",
                department=_department_name(request, c.row.department_id),
                state=c.row.state,
                state_text=t.gettext(STATE_LABELS[c.row.state]),
                overdue=c.is_overdue(now, limit),
                escalated=c.row.escalated_at is not None,
            )
            for c in complaints
        ],
    )


def _details_text(entry: TimelineEntry, request: web.Request, t: PageLocale) -> str:
    """What a timeline entry's details say, briefly."""
    d = entry.details
    if entry.kind == "assigned":
        return _department_name(request, d.get("department_id"))
    if entry.kind == "notified":
        outcome = t.gettext("sent") if d.get("ok") else t.gettext("failed")
        return f"{d.get('channel', '')} {d.get('target') or DASH}: {outcome}"
    if entry.kind == "resolved" and d.get("callback_id"):
        return t.gettext("callback %(id)s") % {"id": d["callback_id"]}
    if entry.kind == "resolved" and d.get("callback_error"):
        return str(d["callback_error"])
    return ""


def _render(
    request: web.Request,
    complaint: Complaint,
    *,
    error: str | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    t = request_locale(request)
    zone = request.app[SETTINGS].zone
    credential = request[CREDENTIAL]
    row = complaint.row
    now = datetime.now(UTC)
    acts = credential.role in ACT_ROLES
    allowed = allowed_transitions(row.state)  # type: ignore[arg-type]  # CHECK constraint
    values = values or {}
    return render_page(
        "complaints/complaint.html",
        t,
        status=status,
        title=t.gettext("Complaint"),
        complaint_id=complaint.complaint_id,
        state=row.state,
        state_text=t.gettext(STATE_LABELS[row.state]),
        overdue=complaint.is_overdue(now, chase_after(request.app)),
        summary=row.summary,
        facts=[
            (t.gettext("Customer"), _customer(complaint)),
            (t.gettext("Department"), _department_name(request, row.department_id)),
            (t.gettext("Registered at"), t.date_time(row.created_at, zone)),
            (t.gettext("Waiting since"), t.date_time(row.silent_since, zone)),
            (t.gettext("Resolved at"), t.date_time(row.resolved_at, zone)),
            (t.gettext("Chased at"), t.date_time(row.chased_at, zone)),
            (t.gettext("Escalated at"), t.date_time(row.escalated_at, zone)),
            (t.gettext("Call"), str(row.call_id) if row.call_id else DASH),
            (t.gettext("Callback"), str(row.callback_id) if row.callback_id else DASH),
        ],
        timeline=[
            {
                "kind": e.kind,
                "kind_text": t.gettext(EVENT_LABELS[e.kind]),
                "at": t.date_time(e.at, zone),
                "actor": e.actor,
                "note": e.note,
                "details": _details_text(e, request, t),
            }
            for e in complaint.timeline
        ],
        acts=acts and bool(allowed),
        form_token=form_token(credential.token, _purpose(complaint.complaint_id)),
        transitions=[(m, t.gettext(TRANSITION_LABELS[m])) for m in allowed],
        departments=[("", DASH)]
        + [(d.id, d.name) for d in directory_of(request.app).departments.values()],
        values={
            "transition": values.get("transition", allowed[0] if allowed else ""),
            "department_id": values.get("department_id", row.department_id or ""),
            "note": values.get("note", ""),
        },
        error=error,
    )


def _not_found(t: PageLocale) -> web.Response:
    return staff_message_page(
        t, t.gettext("Complaint not found"), t.gettext("No complaint with this id."), status=404
    )


@open_route
async def complaint_page_handler(request: web.Request) -> web.StreamResponse:
    """``/complaints/{id}``: the complaint, its timeline and (ops) its actions."""
    refused = _refusal(request, VIEW_ROLES)
    if refused is not None:
        return refused
    complaint = await get_complaint(request.app[DATABASE], request.match_info["complaint_id"])
    if complaint is None:
        return _not_found(request_locale(request))
    return _render(request, complaint)


def error_text(exc: ApiError | IllegalTransition | ComplaintError, t: PageLocale) -> str:
    """Why an action was refused, in ``t``'s language."""
    if isinstance(exc, IllegalTransition):
        return t.gettext("This complaint is %(state)s now: that action is not possible.") % {
            "state": t.gettext(STATE_LABELS[exc.state])
        }
    field = str(exc.details.get("field") or "") if isinstance(exc, ApiError) else exc.field
    messages = {
        "department_id": t.gettext("Choose the department that handles the complaint."),
        "note": t.gettext("The note is too long."),
        "transition": t.gettext("Choose an action."),
    }
    return messages.get(
        field or "", t.gettext("The form was not filled in as expected; reload the page.")
    )


@open_route
async def action_form_handler(request: web.Request) -> web.StreamResponse:
    """``POST /complaints/{id}``: a supervisor's action (session cookie + form token)."""
    complaint_id = request.match_info["complaint_id"]
    t = request_locale(request)
    forbidden = t.gettext("Forbidden")
    if cross_site(request):
        return staff_message_page(t, forbidden, t.gettext("Cross-site form refused."), status=403)
    refused = _refusal(request, ACT_ROLES)
    if refused is not None:
        return refused
    form = await request.post()
    credential = request[CREDENTIAL]
    if not valid_form_token(
        str(form.get("form_token", "")), credential.token, _purpose(complaint_id)
    ):
        return staff_message_page(
            t, forbidden, t.gettext("The form has expired; reload the page."), status=403
        )
    values = {k: str(form.get(k, "")) for k in ("transition", "department_id", "note")}
    posted: dict[str, Any] = {
        "transition": values["transition"],
        "note": values["note"],
        "department_id": values["department_id"] if values["transition"] == "assign" else None,
    }
    try:
        body = validated(TransitionBody, posted)
        if body.transition == "assign":
            if body.department_id is None:
                raise ComplaintError("department_id: is required", "department_id")
            check_department(request.app, body.department_id)
        await transition(
            request.app[DATABASE],
            complaint_id,
            body.transition,
            request_actor(request),
            now=datetime.now(UTC),
            note=body.note,
            department_id=body.department_id,
            callbacks=callback_config(request.app[SETTINGS]),
            pbx_id=request.app[SETTINGS].pbx_id,
        )
    except (ApiError, IllegalTransition, ComplaintError) as exc:
        complaint = await get_complaint(request.app[DATABASE], complaint_id)
        if complaint is None:
            return _not_found(t)
        status = 409 if isinstance(exc, IllegalTransition) else 400
        return _render(request, complaint, error=error_text(exc, t), values=values, status=status)
    raise web.HTTPSeeOther(f"/complaints/{complaint_id}#timeline")


def setup_complaint_pages(app: web.Application) -> None:
    """Register the complaint pages and the action form."""
    app.router.add_get("/complaints", list_page_handler)
    app.router.add_get("/complaints/{complaint_id}", complaint_page_handler)
    app.router.add_post("/complaints/{complaint_id}", action_form_handler)
