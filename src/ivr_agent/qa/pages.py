"""QA replay pages: ``/qa`` (the call list with filters, paginated) and ``/qa/calls/{id}``
(player, waveform, the call's timeline drawn on it, and the scoring form).

Pages are rendered on the server from jinja2 templates (``web/templates/qa/``, on the
shared ``base.html``; every value escaped): this module builds plain data, the templates
hold the markup. ``static/qa/replay.js`` draws the waveform and the timeline from a JSON
data block (never executed, so the page keeps ``script-src 'self'``). Sign-in is the
dashboard's: the session cookie from ``/login``. Pages need the ``qa`` or ``admin`` role.

The scoring form posts with the session cookie, which the API never accepts for a change;
this one form route checks it itself, with two guards against cross-site requests on top of
the cookie's ``SameSite=Strict``: a form token (HMAC of the call id keyed by the session
token, so no other site can forge it) and, when the browser sends them, a same-origin
``Origin`` (or ``null``: the pages send no referrer) and ``Sec-Fetch-Site``.

Pages speak the reader's language (``web/i18n.py``): texts, dates and numbers, the breach and
index labels (defined once in the core), the replay's marker labels and replay.js's texts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from ivr_agent.calls import call_links
from ivr_agent.core.breaches import BREACH_LABELS, BREACHES
from ivr_agent.core.outcome import DIRECTION_LABELS
from ivr_agent.core.satisfaction import INDEX_LABELS
from ivr_agent.core.texts import N_
from ivr_agent.db.models import QA_INDICES
from ivr_agent.platform.keys import DATABASE, SETTINGS
from ivr_agent.qa.http import replay_bundle, store_score
from ivr_agent.qa.listing import DIRECTIONS, QaFilter, QaListRow, known_operators, qa_calls
from ivr_agent.qa.records import Actor, actor_of
from ivr_agent.web import static_files, templates
from ivr_agent.web.auth import SESSION_COOKIE, open_route, request_token
from ivr_agent.web.call_links import CallLink, kind_text, related_calls
from ivr_agent.web.errors import ApiError
from ivr_agent.web.formats import masked
from ivr_agent.web.forms import cross_site, form_token, valid_form_token
from ivr_agent.web.i18n import DASH, PageLocale, request_locale
from ivr_agent.web.query import int_parameter
from ivr_agent.web.redirects import login_location
from ivr_agent.web.templates import render_page

QA_ROLES = frozenset({"qa", "admin"})
PER_PAGE = 25
#: How the pages name a recording's state (``db.models.RECORDING_STATUSES``, or none).
RECORDING_LABELS = {
    "ok": N_("recorded"),
    "corrupt": N_("corrupt"),
    "missing": N_("missing"),
    "purged": N_("purged"),
    "none": N_("none"),
}
#: How the list's filters are named in a message about a bad one (query parameter → label).
FILTER_LABELS = {
    "from": N_("From"),
    "to": N_("To"),
    "operator": N_("Operator"),
    "direction": N_("Direction"),
    "breach": N_("Breach"),
    "page": N_("Page"),
}


#: The points of each QA index (the database checks 1 to 5).
SCORE_POINTS = tuple(range(1, 6))

QaPage = Callable[[web.Request, Actor], Awaitable[web.StreamResponse]]


def message_page(
    locale: PageLocale, title: str, message: str, *, status: int, error: bool = False
) -> web.Response:
    """A short page on the QA layout ("Forbidden", a bad filter, a score not stored)."""
    return templates.message_page(
        locale, title, message, status=status, error=error, layout="qa/layout.html"
    )


@dataclass(frozen=True)
class Filters:
    """The list's filter form: the values asked for and the choices as (value, label)."""

    start: str
    end: str
    operator: str
    direction: str
    breach: str
    operators: list[tuple[str, str]]
    directions: list[tuple[str, str]]
    breaches: list[tuple[str, str]]


@dataclass(frozen=True)
class ListRow:
    """A call of the QA list, formatted; ``breaches`` are (kind, label) pairs."""

    call_id: str
    offered: str
    direction: str
    #: Links to the original call of a return call, or to the return call of a call (S8).
    related: tuple[CallLink, ...]
    operator: str
    caller: str
    duration: str
    breaches: tuple[tuple[str, str], ...]
    recording: str
    qa_index: str


@dataclass(frozen=True)
class Pager:
    """Where the list is: links to the newer and older pages (``None`` at either end)."""

    page: int
    pages: int
    total: int
    total_text: str
    prev: str | None
    next: str | None


@dataclass(frozen=True)
class HistoryRow:
    """One version of a call's QA score; ``scores`` in :data:`QA_INDICES` order."""

    version: int
    state: str
    state_text: str
    at: str
    scores: tuple[int, ...]
    index: str
    comment: str


def _purpose(call_id: str) -> str:
    """What the scoring form's token is for: this call's score."""
    return f"qa-score:{call_id}"


def qa_page(handler: QaPage) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A page for a signed-in ``qa``/``admin`` browser; others go to ``/login`` or get 403."""

    async def checked(request: web.Request) -> web.StreamResponse:
        token = request_token(request)
        actor = None
        if token is not None:
            async with request.app[DATABASE].sessions() as session:
                actor = await actor_of(session, token)
        if actor is None:
            raise web.HTTPSeeOther(login_location(request.rel_url.raw_path))
        if actor.role not in QA_ROLES:
            t = request_locale(request)
            return message_page(
                t,
                t.gettext("Forbidden"),
                t.gettext("QA replay needs a qa or admin token."),
                status=403,
            )
        return await handler(request, actor)

    checked.__doc__ = handler.__doc__
    return open_route(checked)


# ---------------------------------------------------------------------- list --


def _date(request: web.Request, name: str) -> date | None:
    raw = request.query.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(
            400, "invalid_parameter", f"{name}: not a date (YYYY-MM-DD)", {"field": name}
        ) from None


def _filters(request: web.Request, zone: ZoneInfo) -> tuple[QaFilter, int]:
    start, end = _date(request, "from"), _date(request, "to")
    direction = request.query.get("direction") or None
    breach = request.query.get("breach") or None
    operator = (request.query.get("operator") or "").strip() or None
    if direction is not None and direction not in DIRECTIONS:
        raise ApiError(400, "invalid_parameter", "direction: unknown", {"field": "direction"})
    if breach is not None and breach not in BREACHES:
        raise ApiError(400, "invalid_parameter", "breach: unknown", {"field": "breach"})
    page = int_parameter(request.query, "page", default=1, low=1, high=100_000)
    filters = QaFilter(
        start=datetime.combine(start, time(), zone) if start else None,
        end=datetime.combine(end + timedelta(days=1), time(), zone) if end else None,
        operator_id=operator,
        direction=direction,
        breach=breach,
        wrap_up=timedelta(minutes=request.app[SETTINGS].wrap_up_minutes),
    )
    return filters, page


def _label(t: PageLocale, labels: Mapping[str, str], value: str) -> str:
    """``value``'s label in ``t``'s language; the value itself when it has none."""
    return t.gettext(labels[value]) if value in labels else value


def filter_form(request: web.Request, operators: list[str], t: PageLocale) -> Filters:
    """The filter form as asked for in the query (unknown values match no choice)."""
    q = request.query
    anything = ("", t.gettext("any"))
    return Filters(
        start=q.get("from", ""),
        end=q.get("to", ""),
        operator=q.get("operator", ""),
        direction=q.get("direction", ""),
        breach=q.get("breach", ""),
        operators=[anything, *((o, o) for o in operators)],
        directions=[anything, *((d, t.gettext(DIRECTION_LABELS[d])) for d in DIRECTIONS)],
        breaches=[anything, *((b, t.gettext(BREACH_LABELS[b])) for b in BREACHES)],
    )


def direction_text(direction: str, links: Mapping[str, Any], t: PageLocale) -> str:
    """A call's direction, with the kind of callback that placed it (S8: return call …)."""
    text = _label(t, DIRECTION_LABELS, direction)
    kind = kind_text(links, t)
    return text if kind is None else f"{text} · {kind}"


def list_rows(
    rows: list[QaListRow],
    zone: ZoneInfo,
    t: PageLocale,
    links: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[ListRow]:
    """The calls of one page of the list, formatted (the caller's number masked); ``links``:
    each call's links (``calls.call_links``) to its original call or its return call."""
    links = links or {}
    return [
        ListRow(
            call_id=row.call_id,
            offered=t.date_time(row.offered_at, zone),
            direction=direction_text(row.direction, links.get(row.call_id, {}), t),
            related=related_calls(links.get(row.call_id, {}), t, "/qa/calls/"),
            operator=row.operator_id or DASH,
            caller=masked(row.caller_number),
            duration=t.seconds(row.duration_seconds),
            breaches=tuple((b, t.gettext(BREACH_LABELS[b])) for b in row.breaches),
            recording=_label(t, RECORDING_LABELS, row.recording_status or "none"),
            qa_index=t.decimal(row.qa_index),
        )
        for row in rows
    ]


def pager(request: web.Request, page: int, total: int, t: PageLocale) -> Pager:
    """Page ``page`` of ``total`` calls; the links keep the other filters of the query."""
    pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
    query = {k: v for k, v in request.query.items() if k != "page" and v}

    def link(number: int) -> str:
        return "/qa?" + urlencode({**query, "page": str(number)})

    return Pager(
        page=page,
        pages=pages,
        total=total,
        total_text=t.count(total),
        prev=link(page - 1) if page > 1 else None,
        next=link(page + 1) if page < pages else None,
    )


@qa_page
async def qa_list_handler(request: web.Request, actor: Actor) -> web.StreamResponse:
    """``/qa``: calls to review, newest first, with filters and pages."""
    settings = request.app[SETTINGS]
    db = request.app[DATABASE]
    t = request_locale(request)
    try:
        filters, page = _filters(request, settings.zone)
    except ApiError as exc:
        return message_page(
            t, t.gettext("QA · bad filter"), bad_filter_text(exc, t), error=True, status=400
        )
    rows, total = await qa_calls(db, filters, page=page, per_page=PER_PAGE)
    return render_page(
        "qa/list.html",
        t,
        filters=filter_form(request, await known_operators(db), t),
        rows=list_rows(rows, settings.zone, t, await call_links(db, rows)),
        pager=pager(request, page, total, t),
    )


def bad_filter_text(error: ApiError, t: PageLocale) -> str:
    """What a bad filter of the list is, in ``t``'s language, naming it and its parameter."""
    field = str(error.details.get("field", ""))
    text = t.gettext("The filter “%(label)s” (%(field)s) is not valid.") % {
        "label": _label(t, FILTER_LABELS, field),
        "field": field,
    }
    if field in ("from", "to"):
        text += " " + t.gettext("Write dates as YYYY-MM-DD.")
    elif field == "page":
        text += " " + t.gettext("Pages are numbered from 1.")
    return text


# ---------------------------------------------------------------------- call --


#: The caller's answer to the satisfaction question (``extra.satisfaction``).
SATISFACTION_LABELS = {"satisfied": N_("satisfied (key 1)"), "suggestion": N_("suggestion (key 2)")}


def call_facts(call: dict[str, Any], zone: ZoneInfo, t: PageLocale) -> list[tuple[str, str]]:
    """What QA sees of a call, as (label, text) pairs (the caller's number masked)."""

    def when(value: str | None) -> str:
        return t.date_time(None if value is None else datetime.fromisoformat(value), zone)

    answer = (call.get("extra") or {}).get("satisfaction")
    return [
        (t.gettext("Direction"), direction_text(call["direction"], call, t)),
        (t.gettext("Caller"), masked(call["caller_number"])),
        (t.gettext("Operator"), call["operator_id"] or DASH),
        (t.gettext("Offered at"), when(call["offered_at"])),
        (t.gettext("Answered at"), when(call["answered_at"])),
        (t.gettext("Ended at"), when(call["ended_at"])),
        (t.gettext("Ring time"), t.seconds(call["ring_seconds"])),
        (t.gettext("Talk"), t.seconds(call["talk_seconds"])),
        (
            t.gettext("Satisfaction key"),
            DASH if answer is None else _label(t, SATISFACTION_LABELS, str(answer)),
        ),
    ]


def history_rows(scores: list[dict[str, Any]], zone: ZoneInfo, t: PageLocale) -> list[HistoryRow]:
    """Every version of the call's score, newest first."""
    return [
        HistoryRow(
            version=s["version"],
            state="superseded" if s["superseded"] else "current",
            state_text=t.gettext("superseded") if s["superseded"] else t.gettext("current"),
            at=t.date_time_short(datetime.fromisoformat(s["created_at"]), zone),
            scores=tuple(s["scores"][n] for n in QA_INDICES),
            index=t.decimal(s["satisfaction_index"], 2),
            comment=s["comment"],
        )
        for s in reversed(scores)
    ]


def replay_texts(t: PageLocale) -> dict[str, Any]:
    """What replay.js writes, in ``t``'s language: the lanes' names and the templates of a
    time (``{seconds}``) and of a marker's tooltip (``{label}``, ``{start}``, ``{end}``)."""
    return {
        "lanes": {
            "call": t.gettext("call"),
            "prompts": t.gettext("prompts"),
            "holds": t.gettext("holds"),
            "caller": t.gettext("caller"),
            "recording": t.gettext("recording"),
        },
        "seconds": t.gettext("%(seconds)s s") % {"seconds": "{seconds}"},
        "at": t.gettext("%(label)s at %(start)s") % {"label": "{label}", "start": "{start}"},
        "from_until": t.gettext("%(label)s from %(start)s until %(end)s")
        % {"label": "{label}", "start": "{start}", "end": "{end}"},
    }


@qa_page
async def qa_call_handler(request: web.Request, actor: Actor) -> web.StreamResponse:
    """``/qa/calls/{id}``: replay one call and score it."""
    call_id = request.match_info["call_id"]
    t = request_locale(request)
    bundle = await replay_bundle(request, call_id, t)
    if bundle is None:
        return message_page(
            t, t.gettext("Call not found"), t.gettext("No call with this id."), status=404
        )
    zone = request.app[SETTINGS].zone
    recording = bundle["recording"]
    scores = bundle["scores"]
    return render_page(
        "qa/call.html",
        t,
        call_id=call_id,
        facts=call_facts(bundle["call"], zone, t),
        related=related_calls(bundle["call"], t, "/qa/calls/"),
        recording={
            "playable": bool(recording) and recording["status"] == "ok",
            "recording_id": recording["recording_id"] if recording else None,
            "status": _label(t, RECORDING_LABELS, recording["status"] if recording else "none"),
            "reason": (recording or {}).get("reason"),
        },
        suggestions=[
            {
                "playable": s["status"] == "ok",
                "recording_id": s["recording_id"],
                "seconds": f"{s['seconds']:.0f}" if s["seconds"] is not None else "?",
                "status": _label(t, RECORDING_LABELS, s["status"]),
                "reason": s.get("reason"),
            }
            for s in bundle["suggestions"]
        ],
        form_token=form_token(request_token(request) or "", _purpose(call_id)),
        # A new score corrects the latest version still in force.
        latest=next((s for s in reversed(scores) if not s["superseded"]), None),
        indices=[(name, t.gettext(INDEX_LABELS[name])) for name in QA_INDICES],
        choices=SCORE_POINTS,
        history=history_rows(scores, zone, t),
        # For replay.js, in <script type="application/json"> (tojson escapes "<", so "</"
        # never ends the element).
        data={
            "recording": recording,
            "markers": bundle["markers"],
            "duration": bundle["call"]["duration_seconds"],
            "texts": replay_texts(t),
        },
    )


async def qa_score_form_handler(request: web.Request) -> web.StreamResponse:
    """``POST /qa/calls/{id}/score``: the scoring form (session cookie + form token)."""
    call_id = request.match_info["call_id"]
    t = request_locale(request)
    forbidden = t.gettext("Forbidden")
    if cross_site(request):
        return message_page(t, forbidden, t.gettext("Cross-site form refused."), status=403)
    token = request.cookies.get(SESSION_COOKIE)
    actor = None
    if token:
        async with request.app[DATABASE].sessions() as session:
            actor = await actor_of(session, token)
    if token is None or actor is None:
        raise web.HTTPSeeOther(login_location(f"/qa/calls/{call_id}"))
    if actor.role not in QA_ROLES:
        return message_page(
            t, forbidden, t.gettext("Scoring needs a qa or admin token."), status=403
        )
    form = await request.post()
    given = str(form.get("form_token", ""))
    if not valid_form_token(given, token, _purpose(call_id)):
        return message_page(
            t, forbidden, t.gettext("The form has expired; reload the page."), status=403
        )
    body = {k: str(v) for k, v in form.items() if k != "form_token"}
    try:
        await store_score(request, call_id, body, actor)
    except ApiError as exc:
        return message_page(
            t,
            t.gettext("Score not stored"),
            score_error_text(exc, t),
            error=True,
            status=exc.status,
        )
    raise web.HTTPSeeOther(f"/qa/calls/{call_id}#scores")


def score_error_text(error: ApiError, t: PageLocale) -> str:
    """Why a score was not stored, in ``t``'s language."""
    field = str(error.details.get("field") or "")
    if error.status == 404:
        return t.gettext("No call with this id.")
    if error.status == 409:
        return t.gettext(
            "Another reviewer changed this call's score meanwhile; reload the page and score again."
        )
    if field in INDEX_LABELS:
        return t.gettext("“%(index)s” needs a score from 1 to 5.") % {
            "index": t.gettext(INDEX_LABELS[field])
        }
    if field == "comment":
        return t.gettext("The comment is too long.")
    return t.gettext("The form was not filled in as expected; reload the page.")


def setup_qa(app: web.Application) -> None:
    """Register the QA pages, the scoring form and their static files."""
    app.router.add_get("/qa", qa_list_handler)
    app.router.add_get("/qa/calls/{call_id}", qa_call_handler)
    app.router.add_post("/qa/calls/{call_id}/score", open_route(qa_score_form_handler))
    static_files.add_route(app, "/static/qa", "static", "qa")
