"""The live dashboard at ``/``, the call timeline page ``/calls/{id}``, and browser sign-in.

Pages are rendered on the server (``templates/``, ``string.Template`` with every value
escaped); ``static/dashboard.js`` only swaps in fresh panels and live counters. The figures
come from the same code as ``GET /api/metrics/summary`` (today, in the call centre's zone).

Sign-in: a browser posts an API token to ``/login``; the answer sets it as an HttpOnly,
SameSite=Strict cookie that the auth middleware accepts for reads. A token is never put
in a URL the server sees: ``ivr-agent demo`` prints ``/login#token=…``, whose fragment
stays in the browser, and ``static/login.js`` posts it and clears it from the address bar.
Pages without a valid session redirect to ``/login``; a role that may not see a page gets
403. The API keeps its JSON 401/403.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from importlib import resources
from string import Template
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from ivr_agent.calls.store import get_call, get_timeline
from ivr_agent.dashboard.live import LIVE
from ivr_agent.db.tokens import role_of
from ivr_agent.metrics.http import breach_json, summary_body, today
from ivr_agent.metrics.store import GroupBy, latest_breaches
from ivr_agent.platform.keys import DATABASE, SETTINGS
from ivr_agent.web import static_files
from ivr_agent.web.auth import SESSION_COOKIE, open_route, request_token

PageHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Roles that may open the dashboard and call pages (``admin`` always may).
PAGE_ROLES = frozenset({"ops", "qa", "admin"})
SESSION_SECONDS = 12 * 3600
BREACHES_SHOWN = 15
SECURITY_HEADERS = {
    # Only our own files: no inline script, no CDN, no framing.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
BREACH_LABELS = {
    "late_answer": "late answer",
    "long_hold": "long hold",
    "silent_hang_up": "silent hang-up",
    "over_max_duration": "over 5 min",
}


def _template(name: str) -> Template:
    return Template((resources.files("ivr_agent.web") / "templates" / name).read_text("utf-8"))


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


# ------------------------------------------------------------------ formatting --


def percent(value: float | None) -> str:
    """``0.6`` → ``60.0 %``; ``None`` (nothing to divide) → ``—``."""
    return "—" if value is None else f"{value * 100:.1f} %"


def seconds(value: float | None) -> str:
    """Seconds with one decimal, or ``—``."""
    return "—" if value is None else f"{value:.1f} s"


def masked(number: str | None) -> str:
    """A caller number with all but its last four digits hidden (the screen is public)."""
    if not number:
        return "—"
    return "•" * max(0, len(number) - 4) + number[-4:] if len(number) > 4 else number


def _figure(
    figures: dict[str, Any],
    name: str,
    label: str,
    fmt: Callable[[Any], str],
    extra: str = "",
    sub: str = "",
) -> str:
    """One figure as a tile; its raw value in ``data-value``, its formula as the tooltip."""
    figure = figures[name]
    value = figure["value"]
    below = f'<div class="sub">{_e(sub)}</div>' if sub else ""
    return (
        f'<div class="tile{extra}" data-figure="{name}" data-value="{_e(json.dumps(value))}" '
        f'title="{_e(figure["formula"])}"><div class="label">{label}</div>'
        f'<div class="value">{_e(fmt(value))}</div>{below}</div>'
    )


def _count(value: Any) -> str:
    return "—" if value is None else str(value)


# ------------------------------------------------------------------ panels --


def kpi_tiles(figures: dict[str, Any], target: float) -> str:
    """The big figures: service level against the target, answer rate, volumes, waits."""
    level = figures["service_level"]["value"]
    state = "" if level is None else (" good" if level >= target else " bad")
    tiles = [
        _figure(
            figures,
            "service_level",
            "Service level",
            percent,
            " big" + state,
            sub=f"target {percent(target)} · answered within three rings",
        ),
        _figure(figures, "answer_rate", "Answer rate", percent, " big"),
        _figure(figures, "offered", "Offered", _count),
        _figure(figures, "answered", "Answered", _count),
        _figure(figures, "abandoned", "Abandoned", _count),
        _figure(figures, "short_abandons", "Short abandons", _count),
        _figure(figures, "asa_seconds", "ASA", seconds),
        _figure(figures, "longest_wait_seconds", "Longest wait", seconds),
    ]
    return "".join(tiles)


def operator_table(groups: list[dict[str, Any]]) -> str:
    """One row per operator who answered today (unanswered calls are not an operator)."""
    columns = [
        ("answered", "Answered", _count),
        ("answered_within_standard", "≤ 3 rings", _count),
        ("service_level", "SL", percent),
        ("asa_seconds", "ASA", seconds),
        ("hold_over_limit", "Hold > 10 s", _count),
        ("silent_calls", "Silent", _count),
        ("over_max_duration", "> 5 min", _count),
    ]
    head = "".join(f"<th>{label}</th>" for _, label, _ in columns)
    rows = []
    for group in groups:
        operator = group["operator_id"]
        if operator is None:
            continue
        values = {name: group["figures"][name]["value"] for name, _, _ in columns}
        cells = "".join(
            f'<td data-figure="{name}" data-value="{_e(json.dumps(values[name]))}">'
            f"{_e(fmt(values[name]))}</td>"
            for name, _, fmt in columns
        )
        rows.append(f'<tr data-operator="{_e(operator)}"><th>{_e(operator)}</th>{cells}</tr>')
    body = "".join(rows) or f'<tr><td colspan="{len(columns) + 1}">No answered calls yet</td></tr>'
    return (
        f'<table class="operators"><thead><tr><th>Operator</th>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def hourly_chart(groups: list[dict[str, Any]], target: float, zone: ZoneInfo) -> str:
    """Service level per hour of today as an SVG bar chart with the target line."""
    width, height, left, bottom = 960, 260, 44, 28
    plot_w, plot_h = width - left - 8, height - bottom - 10
    slot = plot_w / 24
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="Service level per hour">'
    ]
    for pct in (0, 0.5, 1.0):
        y = 10 + plot_h * (1 - pct)
        parts.append(
            f'<line x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y + 5:.1f}" class="axis" text-anchor="end">'
            f"{pct * 100:.0f}%</text>"
        )
    for group in groups:
        hour = datetime.fromisoformat(group["start"]).astimezone(zone).hour
        level = group["figures"]["service_level"]["value"]
        offered = group["figures"]["offered"]["value"]
        x = left + hour * slot + slot * 0.15
        if level is None:
            continue
        bar_h = max(plot_h * level, 2)
        y = 10 + plot_h - bar_h
        state = "good" if level >= target else "bad"
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{bar_h:.1f}" '
            f'class="bar {state}" data-hour="{hour}" data-value="{level}">'
            f"<title>{hour:02d}:00 · {percent(level)} of {offered} offered</title></rect>"
        )
    target_y = 10 + plot_h * (1 - target)
    parts.append(
        f'<line x1="{left}" x2="{width - 8}" y1="{target_y:.1f}" y2="{target_y:.1f}" '
        'class="target"/>'
        f'<text x="{width - 10}" y="{target_y - 6:.1f}" class="axis target-label" '
        f'text-anchor="end">target {percent(target)}</text>'
    )
    for hour in range(0, 24, 3):
        x = left + hour * slot + slot / 2
        parts.append(
            f'<text x="{x:.1f}" y="{height - 8}" class="axis" text-anchor="middle">'
            f"{hour:02d}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def breach_list(breaches: list[dict[str, Any]], zone: ZoneInfo) -> str:
    """The latest breaches, each linking to its call's timeline."""
    if not breaches:
        return '<p class="empty">No breaches today</p>'
    items = []
    for b in breaches:
        ended = datetime.fromisoformat(b["ended_at"]).astimezone(zone).strftime("%H:%M:%S")
        tags = "".join(
            f'<span class="tag {kind}">{BREACH_LABELS.get(kind, kind)}</span>'
            for kind in b["kinds"]
        )
        detail = []
        if "late_answer" in b["kinds"] and b["ring_seconds"] is not None:
            detail.append(f"rang {b['ring_seconds']:.1f} s")
        if "long_hold" in b["kinds"] and b["max_hold_seconds"] is not None:
            detail.append(f"hold {b['max_hold_seconds']:.1f} s")
        if "over_max_duration" in b["kinds"] and b["talk_seconds"] is not None:
            detail.append(f"talk {math.floor(b['talk_seconds'] / 60)} min")
        operator = b["operator_id"] or "—"
        items.append(
            f'<li><a href="/calls/{_e(b["call_id"])}" data-call="{_e(b["call_id"])}">'
            f'<span class="time">{ended}</span>{tags}'
            f'<span class="who">op {_e(operator)} · {_e(masked(b["caller_number"]))}</span>'
            f'<span class="detail">{_e(", ".join(detail))}</span></a></li>'
        )
    return f'<ul class="breaches">{"".join(items)}</ul>'


def callback_tiles(figures: dict[str, Any]) -> str:
    """S5: callbacks due today, completed, overdue, within 30 min, satisfaction."""
    return "".join(
        [
            _figure(figures, "callbacks_due", "Callbacks due", _count),
            _figure(figures, "callbacks_completed", "Completed", _count),
            _figure(figures, "callbacks_overdue", "Overdue", _count),
            _figure(figures, "callbacks_completed_within_30_min", "Within 30 min", _count),
            _figure(
                figures,
                "satisfaction_index",
                "Satisfaction",
                lambda v: "—" if v is None else f"{v:.2f} / 5",
            ),
        ]
    )


async def render_panels(app: web.Application) -> str:
    """Every panel of the dashboard for today, as one HTML fragment."""
    settings = app[SETTINGS]
    zone = settings.zone
    start, end = today(zone)
    by_operator = await summary_body(app, start, end, GroupBy.OPERATOR)
    by_hour = await summary_body(app, start, end, GroupBy.HOUR)
    breaches = [
        breach_json(b)
        for b in await latest_breaches(app[DATABASE], start, end, limit=BREACHES_SHOWN)
    ]
    figures = by_operator["figures"]
    target = settings.service_level_target
    return (
        f'<div id="panels" data-from="{_e(by_operator["from"])}" data-to="{_e(by_operator["to"])}">'
        f'<section class="kpis">{kpi_tiles(figures, target)}</section>'
        '<section class="row">'
        f'<div class="card wide"><h2>Service level per hour</h2>'
        f"{hourly_chart(by_hour.get('groups', []), target, zone)}</div>"
        f'<div class="card"><h2>Latest breaches</h2>{breach_list(breaches, zone)}</div>'
        "</section>"
        '<section class="row">'
        f'<div class="card wide"><h2>Operators</h2>'
        f"{operator_table(by_operator.get('groups', []))}</div>"
        f'<div class="card"><h2>Callbacks</h2><div class="kpis small">'
        f"{callback_tiles(figures)}</div></div>"
        "</section></div>"
    )


def live_tiles(app: web.Application) -> str:
    """Calls waiting and in progress now (updated by the live feed)."""
    calls = app[LIVE].calls.to_json()
    tiles = [
        ("waiting", "Waiting now"),
        ("in_progress", "In progress"),
        ("talking", "Talking"),
        ("on_hold", "On hold"),
    ]
    return "".join(
        f'<div class="tile live" data-live="{name}"><div class="label">{label}</div>'
        f'<div class="value">{calls[name]}</div></div>'
        for name, label in tiles
    )


# ------------------------------------------------------------------ pages --


def _page(
    title: str,
    main: str,
    *,
    heading: str = "",
    header_right: str = "",
    scripts: tuple[str, ...] = (),
    body_class: str = "",
    status: int = 200,
) -> web.Response:
    text = _template("page.html").substitute(
        title=_e(title),
        heading=heading,
        header_right=header_right,
        main=main,
        scripts="".join(f'<script src="/static/{s}" defer></script>' for s in scripts),
        body_class=body_class,
    )
    return web.Response(
        text=text, content_type="text/html", status=status, headers=SECURITY_HEADERS
    )


async def _page_role(request: web.Request) -> str | None:
    token = request_token(request)
    if token is None:
        return None
    async with request.app[DATABASE].sessions() as session:
        return await role_of(session, token)


def page(handler: PageHandler) -> PageHandler:
    """A page for a signed-in ``ops``/``qa``/``admin`` browser; others go to ``/login``."""

    async def checked(request: web.Request) -> web.StreamResponse:
        role = await _page_role(request)
        if role is None:
            raise web.HTTPSeeOther(f"/login?next={request.rel_url.path}")
        if role not in PAGE_ROLES:
            return _page("Forbidden", "<p>Your token may not see this page.</p>", status=403)
        return await handler(request)

    checked.__doc__ = handler.__doc__
    return open_route(checked)


@page
async def dashboard_handler(request: web.Request) -> web.Response:
    """The wall-screen dashboard of today."""
    app = request.app
    settings = app[SETTINGS]
    start, _ = today(settings.zone)
    heading = f"Hotline today · {start.date().isoformat()} ({_e(settings.timezone)})"
    right = (
        f'<span id="clock" data-zone="{_e(settings.timezone)}"></span>'
        '<span id="live-state" class="state">connecting</span>'
        '<form method="post" action="/logout"><button class="link">Sign out</button></form>'
    )
    main = f'<section class="kpis live-row">{live_tiles(app)}</section>{await render_panels(app)}'
    return _page(
        "ivr-agent · dashboard",
        main,
        heading=heading,
        header_right=right,
        scripts=("dashboard.js",),
        body_class="dashboard",
    )


@page
async def panels_handler(request: web.Request) -> web.Response:
    """The dashboard's panels, fresh (what ``dashboard.js`` swaps in)."""
    return web.Response(
        text=await render_panels(request.app), content_type="text/html", headers=SECURITY_HEADERS
    )


def _timeline_rows(timeline: list[dict[str, Any]], zone: ZoneInfo) -> str:
    if not timeline:
        return '<tr><td colspan="4">No timeline stored for this call</td></tr>'
    first = datetime.fromisoformat(timeline[0]["at"])
    rows = []
    for event in timeline:
        at = datetime.fromisoformat(event["at"])
        details = ", ".join(f"{k}: {v}" for k, v in sorted(event["details"].items()))
        offset = (at - first).total_seconds()
        rows.append(
            f'<tr class="kind-{_e(event["kind"])}"><td class="num">+{offset:.1f} s</td>'
            f"<td>{at.astimezone(zone).strftime('%H:%M:%S.%f')[:-3]}</td>"
            f"<td><b>{_e(event['kind'])}</b></td><td>{_e(event['channel'] or '')}"
            f'<span class="details">{_e(details)}</span></td></tr>'
        )
    return "".join(rows)


def _facts(call: dict[str, Any], zone: ZoneInfo) -> str:
    def when(value: str | None) -> str:
        if value is None:
            return "—"
        return datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

    holds = ", ".join(seconds(h.get("seconds")) for h in call.get("holds", [])) or "none"
    prompts = ", ".join(p["prompt"] for p in call.get("prompts_played", [])) or "none"
    within = call["answered_within_standard"]
    facts = [
        ("Direction", call["direction"]),
        # Unmasked here: a person opening one call (ops, QA) needs the number to act on it.
        ("Caller", call["caller_number"] or "—"),
        ("Operator", call["operator_id"] or "—"),
        ("Offered", when(call["offered_at"])),
        ("Answered", when(call["answered_at"])),
        ("Ended", when(call["ended_at"])),
        ("Ring time", f"{seconds(call['ring_seconds'])} ({_count(call['rings'])} rings)"),
        ("Within three rings", "—" if within is None else ("yes" if within else "no")),
        (
            "Abandoned",
            ("yes (short)" if call["short_abandon"] else "yes") if call["abandoned"] else "no",
        ),
        ("Holds", holds),
        ("Silence", call["silence"]),
        ("Talk", seconds(call["talk_seconds"])),
        ("Prompts", prompts),
        ("Complete", "yes" if call["complete"] else f"no ({call.get('incomplete_reason')})"),
    ]
    return "".join(f"<dt>{label}</dt><dd>{_e(value)}</dd>" for label, value in facts)


@page
async def call_page_handler(request: web.Request) -> web.Response:
    """One call: what was measured, and its timeline (the events QA replays)."""
    call_id = request.match_info["call_id"]
    db = request.app[DATABASE]
    call = await get_call(db, call_id)
    if call is None:
        return _page("Call not found", "<p>No call with this id.</p>", status=404)
    zone = request.app[SETTINGS].zone
    timeline = await get_timeline(db, call_id)
    main = (
        '<p><a href="/">← dashboard</a></p>'
        f'<section class="row detail"><div class="card"><h2>Call</h2><code>{_e(call_id)}</code>'
        f'<dl class="facts">{_facts(call, zone)}</dl></div>'
        '<div class="card wide"><h2>Timeline</h2><table class="timeline">'
        "<thead><tr><th>t</th><th>time</th><th>event</th><th>channel · details</th></tr>"
        f"</thead><tbody>{_timeline_rows(timeline, zone)}</tbody></table></div></section>"
    )
    return _page(f"Call {call_id}", main, heading="Call detail")


def _safe_next(raw: str | None) -> str:
    # Only a path on this site: never "//host" or "https://…" (no open redirect).
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return "/"
    return raw


def _login_page(next_path: str, error: str = "", status: int = 200) -> web.Response:
    body = _template("login.html").substitute(
        next=_e(next_path), error=f'<p class="error">{_e(error)}</p>' if error else ""
    )
    return _page("ivr-agent · sign in", body, scripts=("login.js",), status=status)


@open_route
async def login_form_handler(request: web.Request) -> web.Response:
    """The sign-in form (``#token=…`` in the address is posted by ``login.js``)."""
    return _login_page(_safe_next(request.query.get("next")))


@open_route
async def login_handler(request: web.Request) -> web.StreamResponse:
    """Check the posted token; on success set the session cookie and go on."""
    form = await request.post()
    token = str(form.get("token", "")).strip()
    next_path = _safe_next(str(form.get("next", "/")))
    role = None
    if token:
        async with request.app[DATABASE].sessions() as session:
            role = await role_of(session, token)
    if role is None:
        return _login_page(next_path, "That token is unknown or revoked.", status=401)
    if role not in PAGE_ROLES:
        return _login_page(next_path, f"Role {role!r} may not see the dashboard.", status=403)
    response = web.HTTPSeeOther(next_path, headers=SECURITY_HEADERS)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )
    raise response


@open_route
async def logout_handler(request: web.Request) -> web.StreamResponse:
    """Forget the session cookie."""
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


def setup_dashboard(app: web.Application) -> None:
    """Register the dashboard, call, sign-in and static routes."""
    app.router.add_get("/", dashboard_handler)
    app.router.add_get("/dashboard/panels", panels_handler)
    app.router.add_get("/calls/{call_id}", call_page_handler)
    app.router.add_get("/login", login_form_handler)
    app.router.add_post("/login", login_handler)
    app.router.add_post("/logout", logout_handler)
    static_files.add_route(app, "/static", "static")
