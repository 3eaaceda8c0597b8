"""The live dashboard at ``/``, the call timeline page ``/calls/{id}``, and browser sign-in.

Pages are rendered on the server from jinja2 templates (``web/templates/``: ``base.html``,
``dashboard/``, ``login.html``; every value escaped). Python builds plain data — here the
call's facts and timeline, in ``dashboard/panels.py`` the panels — and the templates hold
the markup. ``static/dashboard.js`` only swaps in fresh panels and live counters. The
figures come from the same code as ``GET /api/metrics/summary`` (today, in the call
centre's zone).

Sign-in: a browser posts an API token to ``/login``; the answer creates a server-side
session (``db/tokens.py``: a random secret stored hashed, tied to the token, 12 h at most and
never past the token's expiry) and sets its secret — never the token — as an HttpOnly,
SameSite=Strict cookie (Secure over https) that the auth middleware accepts for reads.
``/logout`` deletes the session and the cookie. A token is never put in a URL the server
sees: ``ivr-agent demo`` prints ``/login#token=…``, whose fragment stays in the browser,
and ``static/login.js`` posts it and clears it from the address bar.
Pages without a valid session redirect to ``/login``; a role that may not see a page gets
403. The API keeps its JSON 401/403. After sign-in the browser goes to ``next`` only if it
is a path on this site (``web/redirects.py``; ``login.js`` checks it again), else to ``/``.

Every page speaks the reader's language (``web/i18n.py``: the ``IVR_AGENT_UI_LANGUAGES`` the
browser's ``Accept-Language`` picks from), its dates and numbers in that locale.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from ivr_agent.calls import get_call, get_timeline
from ivr_agent.core.figures import FIGURE_LABELS
from ivr_agent.core.outcome import DIRECTION_LABELS, SILENCE_LABELS
from ivr_agent.dashboard.history import BadParameter, bad_parameter_page, history_context
from ivr_agent.dashboard.panels import live_tiles, panels_context
from ivr_agent.db.tokens import SESSION_SECONDS, create_session, delete_session
from ivr_agent.metrics import today
from ivr_agent.platform.keys import DATABASE, SETTINGS
from ivr_agent.web import static_files
from ivr_agent.web.auth import CREDENTIAL, SESSION_COOKIE, open_route
from ivr_agent.web.call_links import kind_text, related_calls
from ivr_agent.web.i18n import DASH, PageLocale, page_locale, request_locale
from ivr_agent.web.redirects import login_location, same_origin_path
from ivr_agent.web.templates import SECURITY_HEADERS, message_page, render_page

PageHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Roles that may open the dashboard and call pages (``admin`` always may).
PAGE_ROLES = frozenset({"ops", "qa", "admin"})
#: Who may sign in at ``/login``: the dashboard's roles, and operators for their wrap-up
#: pages (``/wrap-up``, where an operator's sign-in lands when it names no other page).
SIGN_IN_ROLES = PAGE_ROLES | {"operator"}
OPERATOR_HOME = "/wrap-up"


@dataclass(frozen=True)
class TimelineRow:
    """One event of a call's timeline, as shown on the call page."""

    kind: str
    offset: str
    time: str
    channel: str
    details: str


# ------------------------------------------------------------------ pages --


async def _page_role(request: web.Request) -> str | None:
    # The auth middleware checked the bearer token or session cookie (and dropped either
    # when unknown, revoked or expired).
    credential = request.get(CREDENTIAL)
    return None if credential is None else credential.role


def page(handler: PageHandler) -> PageHandler:
    """A page for a signed-in ``ops``/``qa``/``admin`` browser; others go to ``/login``."""

    async def checked(request: web.Request) -> web.StreamResponse:
        role = await _page_role(request)
        if role is None:
            raise web.HTTPSeeOther(login_location(request.rel_url.raw_path))
        if role not in PAGE_ROLES:
            t = request_locale(request)
            return message_page(
                t,
                t.gettext("Forbidden"),
                t.gettext("Your token may not see this page."),
                status=403,
            )
        return await handler(request)

    checked.__doc__ = handler.__doc__
    return open_route(checked)


@page
async def dashboard_handler(request: web.Request) -> web.Response:
    """The wall-screen dashboard of today."""
    app = request.app
    settings = app[SETTINGS]
    start, _ = today(settings.zone)
    t = request_locale(request)
    return render_page(
        "dashboard/index.html",
        t,
        day=t.day(start.date()),
        timezone=settings.timezone,
        live=live_tiles(app, t),
        **await panels_context(app, t),
    )


@page
async def history_handler(request: web.Request) -> web.Response:
    """The history: trend charts of the main figures over a range, per hour, day, week or
    month (of one operator with ``operator``)."""
    t = request_locale(request)
    try:
        context = await history_context(request, t)
    except BadParameter as error:
        return bad_parameter_page(t, error)
    return render_page("dashboard/history.html", t, **context)


@page
async def panels_handler(request: web.Request) -> web.Response:
    """The dashboard's panels, fresh (what ``dashboard.js`` swaps in)."""
    t = request_locale(request)
    return render_page("dashboard/panels.html", t, **await panels_context(request.app, t))


def timeline_rows(
    timeline: list[dict[str, Any]], zone: ZoneInfo, t: PageLocale
) -> list[TimelineRow]:
    """A call's events with their offset from the first one and their time in ``zone``.

    The events keep the PBX's names (``DialBegin``, ``Hold``) and details: they are what
    Asterisk reported, in its own words."""
    if not timeline:
        return []
    first = datetime.fromisoformat(timeline[0]["at"])
    rows = []
    for event in timeline:
        at = datetime.fromisoformat(event["at"])
        rows.append(
            TimelineRow(
                kind=event["kind"],
                offset=t.seconds((at - first).total_seconds(), signed=True),
                time=t.time_of_day(at, zone, milliseconds=True),
                channel=event["channel"] or "",
                details=", ".join(f"{k}: {v}" for k, v in sorted(event["details"].items())),
            )
        )
    return rows


def call_facts(call: dict[str, Any], zone: ZoneInfo, t: PageLocale) -> list[tuple[str, str]]:
    """What was measured about a call, as (label, text) pairs in ``t``'s language."""
    _ = t.gettext

    def when(value: str | None) -> str:
        return t.date_time(None if value is None else datetime.fromisoformat(value), zone)

    def label(labels: Mapping[str, str], value: str) -> str:
        return _(labels[value]) if value in labels else value

    separator = _(", ")
    holds = separator.join(t.seconds(h.get("seconds")) for h in call.get("holds", []))
    prompts = separator.join(p["prompt"] for p in call.get("prompts_played", []))
    within = call["answered_within_standard"]
    rings = call["rings"]
    ring_time = t.seconds(call["ring_seconds"])
    if rings is not None:
        ring_time = t.ngettext("%(time)s (%(rings)s ring)", "%(time)s (%(rings)s rings)", rings) % {
            "time": ring_time,
            "rings": t.count(rings),
        }
    abandoned = _("no")
    if call["abandoned"]:
        abandoned = _("yes (short)") if call["short_abandon"] else _("yes")
    complete = _("yes")
    if not call["complete"]:
        complete = _("no (%(reason)s)") % {"reason": call.get("incomplete_reason")}
    direction = label(DIRECTION_LABELS, call["direction"])
    kind = kind_text(call, t)
    return [
        (_("Direction"), direction if kind is None else f"{direction} · {kind}"),
        # Unmasked here: a person opening one call (ops, QA) needs the number to act on it.
        (_("Caller"), call["caller_number"] or DASH),
        (_("Operator"), call["operator_id"] or DASH),
        (_("Offered at"), when(call["offered_at"])),
        (_("Answered at"), when(call["answered_at"])),
        (_("Ended at"), when(call["ended_at"])),
        (_("Ring time"), ring_time),
        (
            _(FIGURE_LABELS["answered_within_standard"]),
            DASH if within is None else (_("yes") if within else _("no")),
        ),
        (t.pgettext("call", "Abandoned"), abandoned),
        (_("Holds"), holds or _("none")),
        (_("Silence"), label(SILENCE_LABELS, call["silence"])),
        (_("Talk"), t.seconds(call["talk_seconds"])),
        (_("Prompts"), prompts or _("none")),
        (_("Complete"), complete),
    ]


@page
async def call_page_handler(request: web.Request) -> web.Response:
    """One call: what was measured, and its timeline (the events QA replays)."""
    call_id = request.match_info["call_id"]
    db = request.app[DATABASE]
    t = request_locale(request)
    call = await get_call(db, call_id)
    if call is None:
        return message_page(
            t, t.gettext("Call not found"), t.gettext("No call with this id."), status=404
        )
    zone = request.app[SETTINGS].zone
    return render_page(
        "dashboard/call.html",
        t,
        call_id=call_id,
        facts=call_facts(call, zone, t),
        related=related_calls(call, t, "/calls/"),
        timeline=timeline_rows(await get_timeline(db, call_id), zone, t),
    )


def _login_page(
    request: web.Request, next_path: str, error: str = "", status: int = 200
) -> web.Response:
    return render_page(
        "login.html", request_locale(request), next=next_path, error=error, status=status
    )


@open_route
async def login_form_handler(request: web.Request) -> web.Response:
    """The sign-in form (``#token=…`` in the address is posted by ``login.js``)."""
    return _login_page(request, same_origin_path(request.query.get("next")))


@open_route
async def login_handler(request: web.Request) -> web.StreamResponse:
    """Check the posted token; on success start a session, set its cookie and go on."""
    form = await request.post()
    token = str(form.get("token", "")).strip()
    next_path = same_origin_path(str(form.get("next", "/")))
    db = request.app[DATABASE]
    started = await create_session(db, token, seconds=SESSION_SECONDS) if token else None
    t = request_locale(request)
    if started is None:
        error = t.gettext("That token is unknown or revoked, or has expired.")
        return _login_page(request, next_path, error, 401)
    secret, credential = started
    if credential.role not in SIGN_IN_ROLES:
        if credential.session_id is not None:
            await delete_session(db, credential.session_id)
        error = t.gettext("Role “%(role)s” may not see the dashboard.") % {"role": credential.role}
        return _login_page(request, next_path, error, 403)
    # A browser signing in again leaves no session of its earlier sign-in behind.
    earlier = request.get(CREDENTIAL)
    if earlier is not None and earlier.session_id is not None:
        await delete_session(db, earlier.session_id)
    if credential.role == "operator" and next_path == "/":
        next_path = OPERATOR_HOME  # the dashboard is not an operator's page
    response = web.HTTPSeeOther(next_path, headers=SECURITY_HEADERS)
    max_age = SESSION_SECONDS
    if credential.expires_at is not None:
        left = (credential.expires_at - datetime.now(credential.expires_at.tzinfo)).total_seconds()
        max_age = max(1, min(max_age, int(left)))
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )
    raise response


@open_route
async def logout_handler(request: web.Request) -> web.StreamResponse:
    """End the browser's session (server-side) and forget its cookie."""
    credential = request.get(CREDENTIAL)
    if credential is not None and credential.session_id is not None:
        await delete_session(request.app[DATABASE], credential.session_id)
    response = web.HTTPSeeOther("/login", headers=SECURITY_HEADERS)
    response.del_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="Strict", secure=request.secure
    )
    raise response


def setup_dashboard(app: web.Application) -> None:
    """Register the dashboard, call, sign-in and static routes.

    The pages' catalogues are loaded here: a package without the compiled catalogue of a
    language in ``IVR_AGENT_UI_LANGUAGES`` fails at start (:class:`MissingCatalogue`), not
    at the first page."""
    for language in app[SETTINGS].ui_languages:
        page_locale(language)
    app.router.add_get("/", dashboard_handler)
    app.router.add_get("/dashboard/panels", panels_handler)
    app.router.add_get("/history", history_handler)
    app.router.add_get("/calls/{call_id}", call_page_handler)
    app.router.add_get("/login", login_form_handler)
    app.router.add_post("/login", login_handler)
    app.router.add_post("/logout", logout_handler)
    static_files.add_route(app, "/static", "static")
