"""The operator's wrap-up pages: ``/wrap-up`` (their answered calls still without a record)
and ``/calls/{id}/wrap-up`` (the call record form, its versions, and whether it is late).

Sign-in is the dashboard's (``/login``, the session cookie). The pages are for ``operator``
tokens (their own calls only: another's call is "not found") and ``admin``. The form posts
with the session cookie, which the API never accepts for a change, so this route checks it
itself with the guards of ``web/forms.py``: a form token (HMAC of the call id keyed by the
session's token) and a same-origin ``Origin``/``Sec-Fetch-Site``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from ivr_agent.core.records import (
    CALLBACK_STATUS_LABELS,
    RECORD_STATUSES,
    RECORD_TYPES,
    STATUS_LABELS,
    TYPE_LABELS,
)
from ivr_agent.platform.keys import DATABASE, SETTINGS
from ivr_agent.records.http import load_wrap_up, store_record, wrap_up_limit, writer_of
from ivr_agent.records.store import CallRecord, WrapUp, Writer, calls_without_record
from ivr_agent.web.auth import CREDENTIAL, open_route
from ivr_agent.web.errors import ApiError
from ivr_agent.web.forms import cross_site, form_token, valid_form_token
from ivr_agent.web.i18n import DASH, PageLocale, request_locale
from ivr_agent.web.redirects import login_location
from ivr_agent.web.templates import render_page, staff_message_page

#: Who may use the wrap-up pages (an operator for its own calls; admin for any).
WRAP_UP_ROLES = frozenset({"operator", "admin"})
#: The form's fields a record takes (the rest of a posted form is ignored).
FORM_FIELDS = (
    "type",
    "status",
    "summary",
    "result",
    "follow_up_owner",
    "expected_completion",
    "contact_number",
    "contact_name",
    "supersedes",
    "specialist_id",
)


def _purpose(call_id: str) -> str:
    """What the wrap-up form's token is for: this call's record."""
    return f"wrap-up:{call_id}"


def _admitted(request: web.Request) -> Writer | web.Response:
    """The signed-in writer, or the page that says why not (sign-in redirect raised)."""
    writer = writer_of(request)
    if writer is None:
        raise web.HTTPSeeOther(login_location(request.rel_url.raw_path))
    if writer.role not in WRAP_UP_ROLES:
        t = request_locale(request)
        return staff_message_page(
            t,
            t.gettext("Forbidden"),
            t.gettext("Wrap-up needs an operator or admin token."),
            status=403,
        )
    return writer


@dataclass(frozen=True)
class PendingRow:
    """A call of the wrap-up list, formatted."""

    call_id: str
    ended: str
    caller: str
    due: str
    late: bool


@open_route
async def wrap_up_list_handler(request: web.Request) -> web.StreamResponse:
    """``/wrap-up``: the operator's answered calls without a record, latest first."""
    writer = _admitted(request)
    if isinstance(writer, web.Response):
        return writer
    t = request_locale(request)
    zone = request.app[SETTINGS].zone
    pending = await calls_without_record(
        request.app[DATABASE],
        writer.operator_id if writer.role == "operator" else None,
        now=datetime.now(UTC),
        wrap_up=wrap_up_limit(request.app),
    )
    return render_page(
        "records/list.html",
        t,
        title=t.gettext("Wrap-up"),
        operator=writer.operator_id or DASH,
        minutes=t.decimal(request.app[SETTINGS].wrap_up_minutes, 0),
        rows=[
            PendingRow(
                call_id=p.call_id,
                ended=t.date_time(p.ended_at, zone),
                caller=p.caller_number or DASH,
                due=t.date_time(p.due_at, zone),
                late=p.late,
            )
            for p in pending
        ],
    )


def _local_input(moment: datetime | None, zone: ZoneInfo) -> str:
    """A time as a ``datetime-local`` input's value in the call centre's zone."""
    if moment is None:
        return ""
    return moment.astimezone(zone).replace(tzinfo=None).isoformat(timespec="minutes")


def _form_values(record: CallRecord | None, bundle: WrapUp, zone: ZoneInfo) -> dict[str, str]:
    """The form's initial values: the current record's, else the call's defaults."""
    if record is None:
        return {
            "type": "consultation",
            "status": "open",
            "summary": "",
            "result": "",
            "follow_up_owner": bundle.operator_id or "",
            "expected_completion": "",
            "contact_number": bundle.caller_number or "",
            "contact_name": "",
            "specialist_id": "",
        }
    return {
        "type": record.type,
        "status": record.status,
        "summary": record.summary,
        "result": record.result,
        "follow_up_owner": record.follow_up_owner or "",
        "expected_completion": _local_input(record.expected_completion, zone),
        "contact_number": record.contact_number or "",
        "contact_name": record.contact_name or "",
        # A hand-over is an action, not a field kept with the record: empty each time.
        "specialist_id": "",
    }


def _render_form(
    request: web.Request,
    bundle: WrapUp,
    *,
    values: Mapping[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> web.Response:
    t = request_locale(request)
    zone = request.app[SETTINGS].zone
    credential = request[CREDENTIAL]
    current = bundle.current
    if bundle.late:
        state = t.gettext("Late: the record was due at %(due)s.")
    elif bundle.first_entered_at is not None:
        state = t.gettext("Entered in time (due at %(due)s).")
    else:
        state = t.gettext("Due at %(due)s.")
    return render_page(
        "records/wrap_up.html",
        t,
        status=status,
        title=t.gettext("Wrap-up"),
        call_id=bundle.call_id,
        facts=[
            (t.gettext("Operator"), bundle.operator_id or DASH),
            (t.gettext("Caller"), bundle.caller_number or DASH),
            (t.gettext("Answered at"), t.date_time(bundle.answered_at, zone)),
            (t.gettext("Ended at"), t.date_time(bundle.ended_at, zone)),
            (t.gettext("First entered at"), t.date_time(bundle.first_entered_at, zone)),
        ],
        late=bundle.late,
        state=state % {"due": t.date_time(bundle.due_at, zone)},
        form_token=form_token(credential.token, _purpose(bundle.call_id)),
        latest=current,
        values=values or _form_values(current, bundle, zone),
        types=[(v, t.gettext(TYPE_LABELS[v])) for v in RECORD_TYPES],
        statuses=[(v, t.gettext(STATUS_LABELS[v])) for v in RECORD_STATUSES],
        error=error,
        specialist_due=t.seconds(request.app[SETTINGS].specialist_due_seconds),
        handed=[
            {
                "callback_id": h["callback_id"],
                "text": t.gettext("Specialist %(operator)s: %(status)s, due by %(deadline)s")
                % {
                    "operator": h["operator_id"],
                    "status": t.gettext(CALLBACK_STATUS_LABELS.get(h["status"], h["status"])),
                    "deadline": t.date_time(datetime.fromisoformat(h["deadline"]), zone),
                },
            }
            for h in bundle.specialist_callbacks
        ],
        history=[
            {
                "version": r.version,
                "superseded": r.superseded,
                "at": t.date_time(r.created_at, zone),
                "type": t.gettext(TYPE_LABELS[r.type]),
                "status": t.gettext(STATUS_LABELS[r.status]),
                "summary": r.summary,
                "by": r.entered_by,
            }
            for r in reversed(bundle.history)
        ],
    )


@open_route
async def wrap_up_page_handler(request: web.Request) -> web.StreamResponse:
    """``/calls/{id}/wrap-up``: the call record form."""
    writer = _admitted(request)
    if isinstance(writer, web.Response):
        return writer
    try:
        bundle = await load_wrap_up(request, request.match_info["call_id"], writer)
    except ApiError:
        t = request_locale(request)
        return staff_message_page(
            t, t.gettext("Call not found"), t.gettext("No call with this id."), status=404
        )
    if bundle.answered_at is None:
        t = request_locale(request)
        return staff_message_page(
            t,
            t.gettext("Nothing to wrap up"),
            t.gettext("This call was not answered: it has no record."),
            status=409,
        )
    return _render_form(request, bundle)


def _posted(form: Mapping[str, Any], zone: ZoneInfo) -> dict[str, str]:
    """The form's record fields; a ``datetime-local`` time (no zone) is the call centre's."""
    body = {k: str(form[k]) for k in FORM_FIELDS if k in form}
    when = body.get("expected_completion", "").strip()
    if when:
        try:
            moment = datetime.fromisoformat(when)
        except ValueError:
            return body  # the schema names the field
        if moment.tzinfo is None:
            body["expected_completion"] = moment.replace(tzinfo=zone).isoformat()
    return body


def error_text(error: ApiError, t: PageLocale) -> str:
    """Why a record was not stored, in ``t``'s language."""
    field = str(error.details.get("field") or "")
    if error.status == 409 and error.error_id == "record_conflict":
        return t.gettext("Someone changed this record meanwhile; reload the page and try again.")
    if error.status == 409:
        return t.gettext("This call was not answered: it has no record.")
    messages = {
        "summary": t.gettext("Write a summary of the call."),
        "contact_number": t.gettext("The contact number must have 5 to 20 digits."),
        "expected_completion": t.gettext("The expected completion is not a date and time."),
        "type": t.gettext("Choose what the call was about."),
        "status": t.gettext("Choose the follow-up status."),
        "specialist_id": t.gettext("The specialist is an operator id of 1 to 6 digits."),
    }
    return messages.get(
        field, t.gettext("The form was not filled in as expected; reload the page.")
    )


@open_route
async def wrap_up_form_handler(request: web.Request) -> web.StreamResponse:
    """``POST /calls/{id}/wrap-up``: the record form (session cookie + form token)."""
    call_id = request.match_info["call_id"]
    t = request_locale(request)
    forbidden = t.gettext("Forbidden")
    if cross_site(request):
        return staff_message_page(t, forbidden, t.gettext("Cross-site form refused."), status=403)
    writer = _admitted(request)
    if isinstance(writer, web.Response):
        return writer
    form = await request.post()
    given = str(form.get("form_token", ""))
    if not valid_form_token(given, request[CREDENTIAL].token, _purpose(call_id)):
        return staff_message_page(
            t, forbidden, t.gettext("The form has expired; reload the page."), status=403
        )
    body = _posted(form, request.app[SETTINGS].zone)
    try:
        await store_record(request, call_id, body, writer)
    except ApiError as exc:
        if exc.status == 404:
            return staff_message_page(
                t, t.gettext("Call not found"), t.gettext("No call with this id."), status=404
            )
        bundle = await load_wrap_up(request, call_id, writer)
        values = {k: str(form.get(k, "")) for k in FORM_FIELDS}
        return _render_form(
            request, bundle, values=values, error=error_text(exc, t), status=exc.status
        )
    raise web.HTTPSeeOther(f"/calls/{call_id}/wrap-up#saved")


def setup_wrap_up(app: web.Application) -> None:
    """Register the wrap-up pages and form."""
    app.router.add_get("/wrap-up", wrap_up_list_handler)
    app.router.add_get("/calls/{call_id}/wrap-up", wrap_up_page_handler)
    app.router.add_post("/calls/{call_id}/wrap-up", wrap_up_form_handler)
