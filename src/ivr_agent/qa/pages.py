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
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from ivr_agent.core.breaches import BREACH_LABELS, BREACHES
from ivr_agent.db.models import QA_INDICES
from ivr_agent.platform.keys import DATABASE, SETTINGS
from ivr_agent.qa.http import replay_bundle, store_score
from ivr_agent.qa.listing import DIRECTIONS, QaFilter, QaListRow, known_operators, qa_calls
from ivr_agent.qa.records import Actor, actor_of
from ivr_agent.web import static_files, templates
from ivr_agent.web.auth import SESSION_COOKIE, open_route, request_token
from ivr_agent.web.errors import ApiError
from ivr_agent.web.formats import masked, seconds
from ivr_agent.web.query import int_parameter
from ivr_agent.web.redirects import login_location
from ivr_agent.web.templates import render_page

QA_ROLES = frozenset({"qa", "admin"})
PER_PAGE = 25
INDEX_LABELS = {
    "skill": "Service skill",
    "attitude": "Service attitude",
    "timeliness": "Timeliness",
    "parts": "Parts supply",
    "overall": "Overall",
}


#: The points of each QA index (the database checks 1 to 5).
SCORE_POINTS = tuple(range(1, 6))

QaPage = Callable[[web.Request, Actor], Awaitable[web.StreamResponse]]


def message_page(title: str, message: str, *, status: int, error: bool = False) -> web.Response:
    """A short page on the QA layout ("Forbidden", a bad filter, a score not stored)."""
    return templates.message_page(
        title, message, status=status, error=error, layout="qa/layout.html"
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
    prev: str | None
    next: str | None


@dataclass(frozen=True)
class HistoryRow:
    """One version of a call's QA score; ``scores`` in :data:`QA_INDICES` order."""

    version: int
    state: str
    at: str
    scores: tuple[int, ...]
    index: str
    comment: str


def form_token(session_token: str, call_id: str) -> str:
    """The scoring form's anti-forgery token for this session and call."""
    return hmac.new(
        session_token.encode(), f"qa-score:{call_id}".encode(), hashlib.sha256
    ).hexdigest()


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
            return message_page("Forbidden", "QA replay needs a qa or admin token.", status=403)
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
    )
    return filters, page


def filter_form(request: web.Request, operators: list[str]) -> Filters:
    """The filter form as asked for in the query (unknown values match no choice)."""
    q = request.query
    return Filters(
        start=q.get("from", ""),
        end=q.get("to", ""),
        operator=q.get("operator", ""),
        direction=q.get("direction", ""),
        breach=q.get("breach", ""),
        operators=[("", "any"), *((o, o) for o in operators)],
        directions=[("", "any"), *((d, d) for d in DIRECTIONS)],
        breaches=[("", "any"), *((b, BREACH_LABELS[b]) for b in BREACHES)],
    )


def list_rows(rows: list[QaListRow], zone: ZoneInfo) -> list[ListRow]:
    """The calls of one page of the list, formatted (the caller's number masked)."""
    return [
        ListRow(
            call_id=row.call_id,
            offered=row.offered_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
            direction=row.direction,
            operator=row.operator_id or "—",
            caller=masked(row.caller_number),
            duration=seconds(row.duration_seconds),
            breaches=tuple((b, BREACH_LABELS[b]) for b in row.breaches),
            recording=row.recording_status or "none",
            qa_index="—" if row.qa_index is None else f"{row.qa_index:.1f}",
        )
        for row in rows
    ]


def pager(request: web.Request, page: int, total: int) -> Pager:
    """Page ``page`` of ``total`` calls; the links keep the other filters of the query."""
    pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
    query = {k: v for k, v in request.query.items() if k != "page" and v}

    def link(number: int) -> str:
        return "/qa?" + urlencode({**query, "page": str(number)})

    return Pager(
        page=page,
        pages=pages,
        total=total,
        prev=link(page - 1) if page > 1 else None,
        next=link(page + 1) if page < pages else None,
    )


@qa_page
async def qa_list_handler(request: web.Request, actor: Actor) -> web.StreamResponse:
    """``/qa``: calls to review, newest first, with filters and pages."""
    settings = request.app[SETTINGS]
    db = request.app[DATABASE]
    try:
        filters, page = _filters(request, settings.zone)
    except ApiError as exc:
        return message_page("QA · bad filter", exc.message, error=True, status=400)
    rows, total = await qa_calls(db, filters, page=page, per_page=PER_PAGE)
    return render_page(
        "qa/list.html",
        filters=filter_form(request, await known_operators(db)),
        rows=list_rows(rows, settings.zone),
        pager=pager(request, page, total),
    )


# ---------------------------------------------------------------------- call --


def call_facts(call: dict[str, Any], zone: ZoneInfo) -> list[tuple[str, str]]:
    """What QA sees of a call, as (label, text) pairs (the caller's number masked)."""

    def when(value: str | None) -> str:
        if value is None:
            return "—"
        return datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

    return [
        ("Direction", call["direction"]),
        ("Caller", masked(call["caller_number"])),
        ("Operator", call["operator_id"] or "—"),
        ("Offered", when(call["offered_at"])),
        ("Answered", when(call["answered_at"])),
        ("Ended", when(call["ended_at"])),
        ("Ring time", seconds(call["ring_seconds"])),
        ("Talk", seconds(call["talk_seconds"])),
        ("Satisfaction key", (call.get("extra") or {}).get("satisfaction", "—")),
    ]


def history_rows(scores: list[dict[str, Any]], zone: ZoneInfo) -> list[HistoryRow]:
    """Every version of the call's score, newest first."""
    return [
        HistoryRow(
            version=s["version"],
            state="superseded" if s["superseded"] else "current",
            at=datetime.fromisoformat(s["created_at"]).astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            scores=tuple(s["scores"][n] for n in QA_INDICES),
            index=f"{s['satisfaction_index']:.2f}",
            comment=s["comment"],
        )
        for s in reversed(scores)
    ]


@qa_page
async def qa_call_handler(request: web.Request, actor: Actor) -> web.StreamResponse:
    """``/qa/calls/{id}``: replay one call and score it."""
    call_id = request.match_info["call_id"]
    bundle = await replay_bundle(request, call_id)
    if bundle is None:
        return message_page("Call not found", "No call with this id.", status=404)
    zone = request.app[SETTINGS].zone
    recording = bundle["recording"]
    scores = bundle["scores"]
    return render_page(
        "qa/call.html",
        call_id=call_id,
        facts=call_facts(bundle["call"], zone),
        recording={
            "playable": bool(recording) and recording["status"] == "ok",
            "recording_id": recording["recording_id"] if recording else None,
            "status": recording["status"] if recording else "none",
            "reason": (recording or {}).get("reason"),
        },
        form_token=form_token(request_token(request) or "", call_id),
        # A new score corrects the latest version still in force.
        latest=next((s for s in reversed(scores) if not s["superseded"]), None),
        indices=[(name, INDEX_LABELS[name]) for name in QA_INDICES],
        choices=SCORE_POINTS,
        history=history_rows(scores, zone),
        # For replay.js, in <script type="application/json"> (tojson escapes "<", so "</"
        # never ends the element).
        data={
            "recording": recording,
            "markers": bundle["markers"],
            "duration": bundle["call"]["duration_seconds"],
        },
    )


async def qa_score_form_handler(request: web.Request) -> web.StreamResponse:
    """``POST /qa/calls/{id}/score``: the scoring form (session cookie + form token)."""
    call_id = request.match_info["call_id"]
    # Our pages send no referrer, so browsers post with "Origin: null"; a real other origin,
    # or a browser saying the request is not same-origin, is refused.
    origin = request.headers.get("Origin")
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if (origin not in (None, "null", f"{request.scheme}://{request.host}")) or (
        fetch_site is not None and fetch_site not in ("same-origin", "none")
    ):
        return message_page("Forbidden", "Cross-site form refused.", status=403)
    token = request.cookies.get(SESSION_COOKIE)
    actor = None
    if token:
        async with request.app[DATABASE].sessions() as session:
            actor = await actor_of(session, token)
    if token is None or actor is None:
        raise web.HTTPSeeOther(login_location(f"/qa/calls/{call_id}"))
    if actor.role not in QA_ROLES:
        return message_page("Forbidden", "Scoring needs a qa or admin token.", status=403)
    form = await request.post()
    given = str(form.get("form_token", ""))
    if not hmac.compare_digest(given, form_token(token, call_id)):
        return message_page("Forbidden", "The form has expired; reload the page.", status=403)
    body = {k: str(v) for k, v in form.items() if k != "form_token"}
    try:
        await store_score(request, call_id, body, actor)
    except ApiError as exc:
        return message_page("Score not stored", exc.message, error=True, status=exc.status)
    raise web.HTTPSeeOther(f"/qa/calls/{call_id}#scores")


def setup_qa(app: web.Application) -> None:
    """Register the QA pages, the scoring form and their static files."""
    app.router.add_get("/qa", qa_list_handler)
    app.router.add_get("/qa/calls/{call_id}", qa_call_handler)
    app.router.add_post("/qa/calls/{call_id}/score", open_route(qa_score_form_handler))
    static_files.add_route(app, "/static/qa", "static", "qa")
