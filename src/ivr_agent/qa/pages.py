"""QA replay pages: ``/qa`` (the call list with filters, paginated) and ``/qa/calls/{id}``
(player, waveform, the call's timeline drawn on it, and the scoring form).

Pages are rendered on the server with every value escaped; ``static/qa/replay.js`` draws
the waveform and the timeline from a JSON data block (never executed, so the page keeps
``script-src 'self'``). Sign-in is the dashboard's: the session cookie from ``/login``.
Pages need the ``qa`` or ``admin`` role.

The scoring form posts with the session cookie, which the API never accepts for a change;
this one form route checks it itself, with two guards against cross-site requests on top of
the cookie's ``SameSite=Strict``: a form token (HMAC of the call id keyed by the session
token, so no other site can forge it) and, when the browser sends them, a same-origin
``Origin`` (or ``null``: the pages send no referrer) and ``Sec-Fetch-Site``.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from importlib import resources
from string import Template
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from ivr_agent.core.breaches import BREACH_LABELS, BREACHES
from ivr_agent.dashboard.pages import SECURITY_HEADERS, masked, seconds
from ivr_agent.db.models import QA_INDICES
from ivr_agent.platform.keys import DATABASE, SETTINGS
from ivr_agent.qa.store import (
    DIRECTIONS,
    Actor,
    QaFilter,
    QaListRow,
    actor_of,
    known_operators,
    qa_calls,
)
from ivr_agent.recordings.http import replay_bundle, store_score
from ivr_agent.web import static_files
from ivr_agent.web.auth import SESSION_COOKIE, open_route, request_token
from ivr_agent.web.errors import ApiError

QA_ROLES = frozenset({"qa", "admin"})
PER_PAGE = 25
INDEX_LABELS = {
    "skill": "Service skill",
    "attitude": "Service attitude",
    "timeliness": "Timeliness",
    "parts": "Parts supply",
    "overall": "Overall",
}

QaPage = Callable[[web.Request, Actor], Awaitable[web.StreamResponse]]


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _template(name: str) -> Template:
    folder = resources.files("ivr_agent.web") / "templates" / "qa"
    return Template((folder / name).read_text("utf-8"))


def _page(
    title: str, main: str, *, scripts: tuple[str, ...] = (), status: int = 200
) -> web.Response:
    text = _template("page.html").substitute(
        title=_e(title),
        main=main,
        scripts="".join(f'<script src="/static/qa/{s}" defer></script>' for s in scripts),
    )
    return web.Response(
        text=text, content_type="text/html", status=status, headers=SECURITY_HEADERS
    )


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
            raise web.HTTPSeeOther(f"/login?next={request.rel_url.path}")
        if actor.role not in QA_ROLES:
            return _page("Forbidden", "<p>QA replay needs a qa or admin token.</p>", status=403)
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
    page_raw = request.query.get("page", "1")
    if not page_raw.isdigit() or not 1 <= int(page_raw) <= 100_000:
        raise ApiError(400, "invalid_parameter", "page: a number from 1", {"field": "page"})
    filters = QaFilter(
        start=datetime.combine(start, time(), zone) if start else None,
        end=datetime.combine(end + timedelta(days=1), time(), zone) if end else None,
        operator_id=operator,
        direction=direction,
        breach=breach,
    )
    return filters, int(page_raw)


def _options(values: list[tuple[str, str]], selected: str | None) -> str:
    return "".join(
        f'<option value="{_e(v)}"{" selected" if v == (selected or "") else ""}>'
        f"{_e(label)}</option>"
        for v, label in values
    )


def _filter_form(request: web.Request, operators: list[str]) -> str:
    q = request.query
    return (
        '<form class="filters card" method="get" action="/qa">'
        f'<label>From <input type="date" name="from" value="{_e(q.get("from", ""))}"></label>'
        f'<label>To <input type="date" name="to" value="{_e(q.get("to", ""))}"></label>'
        '<label>Operator <select name="operator">'
        + _options([("", "any"), *((o, o) for o in operators)], q.get("operator"))
        + '</select></label><label>Direction <select name="direction">'
        + _options([("", "any"), *((d, d) for d in DIRECTIONS)], q.get("direction"))
        + '</select></label><label>Breach <select name="breach">'
        + _options([("", "any"), *((b, BREACH_LABELS[b]) for b in BREACHES)], q.get("breach"))
        + '</select></label><button type="submit">Filter</button></form>'
    )


def _list_rows(rows: list[QaListRow], zone: ZoneInfo) -> str:
    if not rows:
        return '<tr><td colspan="8" class="empty">No calls match.</td></tr>'
    out = []
    for row in rows:
        breaches = " ".join(
            f'<span class="badge {b}">{_e(BREACH_LABELS[b])}</span>' for b in row.breaches
        )
        recording = row.recording_status or "none"
        index = "—" if row.qa_index is None else f"{row.qa_index:.1f}"
        out.append(
            f'<tr data-call-id="{_e(row.call_id)}">'
            f'<td><a href="/qa/calls/{_e(row.call_id)}">'
            f"{row.offered_at.astimezone(zone).strftime('%Y-%m-%d %H:%M:%S')}</a></td>"
            f"<td>{_e(row.direction)}</td><td>{_e(row.operator_id or '—')}</td>"
            f"<td>{_e(masked(row.caller_number))}</td>"
            f'<td class="num">{_e(seconds(row.duration_seconds))}</td>'
            f'<td>{breaches}</td><td>{_e(recording)}</td><td class="num">{index}</td></tr>'
        )
    return "".join(out)


def _pager(request: web.Request, page: int, total: int) -> str:
    pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
    query = {k: v for k, v in request.query.items() if k != "page" and v}

    def link(number: int, label: str, rel: str) -> str:
        href = "/qa?" + urlencode({**query, "page": str(number)})
        return f'<a rel="{rel}" href="{_e(href)}">{label}</a>'

    parts = [link(page - 1, "← newer", "prev")] if page > 1 else []
    parts.append(f'<span class="pageinfo">page {page} of {pages} · {total} calls</span>')
    if page < pages:
        parts.append(link(page + 1, "older →", "next"))
    return f'<nav class="pager">{"".join(parts)}</nav>'


@qa_page
async def qa_list_handler(request: web.Request, actor: Actor) -> web.StreamResponse:
    """``/qa``: calls to review, newest first, with filters and pages."""
    settings = request.app[SETTINGS]
    db = request.app[DATABASE]
    try:
        filters, page = _filters(request, settings.zone)
    except ApiError as exc:
        return _page("QA · bad filter", f'<p class="error">{_e(exc.message)}</p>', status=400)
    rows, total = await qa_calls(db, filters, page=page, per_page=PER_PAGE)
    main = (
        f"<h1>QA replay</h1>{_filter_form(request, await known_operators(db))}"
        '<div class="card"><table class="qa-list"><thead><tr><th>Offered</th><th>Direction</th>'
        "<th>Operator</th><th>Caller</th><th>Duration</th><th>Breaches</th><th>Recording</th>"
        f"<th>QA index</th></tr></thead><tbody>{_list_rows(rows, settings.zone)}</tbody></table>"
        f"{_pager(request, page, total)}</div>"
    )
    return _page("ivr-agent · QA replay", main)


# ---------------------------------------------------------------------- call --


def _facts(call: dict[str, Any], zone: ZoneInfo) -> str:
    def when(value: str | None) -> str:
        if value is None:
            return "—"
        return datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

    facts = [
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
    return "".join(f"<dt>{label}</dt><dd>{_e(value)}</dd>" for label, value in facts)


def _score_form(call_id: str, token: str, latest: dict[str, Any] | None) -> str:
    fields = []
    for name in QA_INDICES:
        choices = "".join(
            f'<label class="choice"><input type="radio" name="{name}" value="{n}" required>'
            f"{n}</label>"
            for n in range(1, 6)
        )
        fields.append(
            f'<fieldset data-index="{name}"><legend>{_e(INDEX_LABELS[name])}</legend>'
            f"{choices}</fieldset>"
        )
    supersedes = (
        f'<input type="hidden" name="supersedes" value="{_e(latest["score_id"])}">'
        f'<p class="muted">Submitting corrects version {latest["version"]} (kept).</p>'
        if latest
        else ""
    )
    return (
        f'<form id="score-form" class="score" method="post" action="/qa/calls/{_e(call_id)}/score">'
        f'<input type="hidden" name="form_token" value="{_e(form_token(token, call_id))}">'
        f"{supersedes}{''.join(fields)}"
        '<label class="comment">Comment <textarea name="comment" maxlength="4000" rows="3">'
        '</textarea></label><button type="submit">Submit score</button></form>'
    )


def _history(scores: list[dict[str, Any]], zone: ZoneInfo) -> str:
    if not scores:
        return '<p class="muted" id="no-scores">Not scored yet.</p>'
    rows = []
    for s in reversed(scores):
        at = datetime.fromisoformat(s["created_at"]).astimezone(zone).strftime("%Y-%m-%d %H:%M")
        state = "superseded" if s["superseded"] else "current"
        values = "".join(f'<td class="num">{s["scores"][n]}</td>' for n in QA_INDICES)
        rows.append(
            f'<tr class="{state}" data-version="{s["version"]}"><td>v{s["version"]} ({state})</td>'
            f"<td>{_e(at)}</td>{values}"
            f'<td class="num index">{s["satisfaction_index"]:.2f}</td>'
            f"<td>{_e(s['comment'])}</td></tr>"
        )
    head = "".join(f"<th>{_e(INDEX_LABELS[n])}</th>" for n in QA_INDICES)
    return (
        f'<table id="score-history"><thead><tr><th>Version</th><th>When</th>{head}'
        f"<th>Index</th><th>Comment</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _data_block(bundle: dict[str, Any]) -> str:
    data = {
        "recording": bundle["recording"],
        "markers": bundle["markers"],
        "duration": bundle["call"]["duration_seconds"],
    }
    # JSON inside <script type="application/json">: "</" must not end the element.
    text = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    return f'<script type="application/json" id="qa-data">{text}</script>'


@qa_page
async def qa_call_handler(request: web.Request, actor: Actor) -> web.StreamResponse:
    """``/qa/calls/{id}``: replay one call and score it."""
    call_id = request.match_info["call_id"]
    bundle = await replay_bundle(request, call_id)
    if bundle is None:
        return _page("Call not found", "<p>No call with this id.</p>", status=404)
    zone = request.app[SETTINGS].zone
    recording = bundle["recording"]
    if recording and recording["status"] == "ok":
        player = (
            f'<audio id="player" controls preload="auto" '
            f'src="/api/recordings/{_e(recording["recording_id"])}/audio"></audio>'
        )
    else:
        status = recording["status"] if recording else "none"
        reason = f" ({recording['reason']})" if recording and recording.get("reason") else ""
        player = f'<p class="warn" id="no-recording">Recording: {_e(status)}{_e(reason)}</p>'
    token = request_token(request) or ""
    scores = bundle["scores"]
    latest = next((s for s in reversed(scores) if not s["superseded"]), None)
    main = (
        '<p><a href="/qa">← QA list</a></p>'
        f'<section class="card replay"><h2>Call {_e(call_id)}</h2>'
        f'<dl class="facts">{_facts(bundle["call"], zone)}</dl>'
        f'{player}<div id="stage"><canvas id="waveform" height="120"></canvas>'
        '<div id="playhead"></div></div><div id="lanes"></div>'
        '<table id="events"><thead><tr><th>Offset</th><th>Event</th><th>Until</th></tr></thead>'
        "<tbody></tbody></table></section>"
        '<section class="card" id="scores"><h2>QA score</h2>'
        f"{_score_form(call_id, token, latest)}{_history(scores, zone)}</section>"
        f"{_data_block(bundle)}"
    )
    return _page(f"QA · call {call_id}", main, scripts=("replay.js",))


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
        return _page("Forbidden", "<p>Cross-site form refused.</p>", status=403)
    token = request.cookies.get(SESSION_COOKIE)
    actor = None
    if token:
        async with request.app[DATABASE].sessions() as session:
            actor = await actor_of(session, token)
    if token is None or actor is None:
        raise web.HTTPSeeOther(f"/login?next=/qa/calls/{call_id}")
    if actor.role not in QA_ROLES:
        return _page("Forbidden", "<p>Scoring needs a qa or admin token.</p>", status=403)
    form = await request.post()
    given = str(form.get("form_token", ""))
    if not hmac.compare_digest(given, form_token(token, call_id)):
        return _page("Forbidden", "<p>The form has expired; reload the page.</p>", status=403)
    body = {k: str(v) for k, v in form.items() if k != "form_token"}
    try:
        await store_score(request, call_id, body, actor)
    except ApiError as exc:
        return _page(
            "Score not stored", f'<p class="error">{_e(exc.message)}</p>', status=exc.status
        )
    raise web.HTTPSeeOther(f"/qa/calls/{call_id}#scores")


def setup_qa(app: web.Application) -> None:
    """Register the QA pages, the scoring form and their static files."""
    app.router.add_get("/qa", qa_list_handler)
    app.router.add_get("/qa/calls/{call_id}", qa_call_handler)
    app.router.add_post("/qa/calls/{call_id}/score", open_route(qa_score_form_handler))
    static_files.add_route(app, "/static/qa", "static", "qa")
