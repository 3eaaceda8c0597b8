"""``GET /api/metrics/summary``: the S1–S6 figures of an interval, each with its formula.

Query parameters (all optional):

- ``from``, ``to``: ISO 8601 date or time; without a zone they are the call centre's local
  time (``IVR_AGENT_TIMEZONE``). Default ``from``: the start of today there; default
  ``to``: the end of ``from``'s local day. ``to`` must be after ``from``.
- ``group_by``: ``operator`` | ``hour`` | ``day`` | ``week`` | ``month`` — adds ``groups``,
  each with the same figures (hour, day, week-from-Monday and month buckets in the call
  centre's zone; operator ``null`` = calls no operator answered).

The counts of whole hours come from the roll-up tables (``metrics/rollups.py``), the rest
from the calls: the same figures either way (``metrics/counts.py``).

Calls count in the interval by ``offered_at`` (``from`` ≤ offered_at < ``to``); only inbound
calls count (callbacks are not offered calls). The callback figures (S5: due, completed,
overdue, within 30 min, satisfaction index) count callbacks by ``due_at``, and the complaint
figures (S7: complaint rate, resolution rate, overdue, escalated) complaints by
``created_at``; the follow-up figures (S8: return calls placed, reached, answered by an
operator; specialist call-backs placed, within their due time, late) return calls by their
first attempt and specialist call-backs by their request (``core/follow_up_figures.py``).
These appear in the total only (none has an operator or is an offered call).

``GET /api/metrics/breaches?from=&to=&limit=``: the calls of the interval that broke a
standard (late answer, hold over the limit, silent hang-up, over the maximum length), latest
first (``limit`` 1–200, default 20).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from ivr_agent.core.buckets import bucket_end
from ivr_agent.core.figures import (
    FigureSettings,
    callback_figures,
    complaint_figures,
    figure,
    figures,
)
from ivr_agent.core.follow_up_figures import follow_up_figures
from ivr_agent.db.database import Database
from ivr_agent.metrics import store
from ivr_agent.metrics.complaints import (
    OPERATOR_COMPLAINTS_FORMULA,
    complaint_statistics,
    complaint_summary,
    complaints_by_operator,
)
from ivr_agent.metrics.follow_up_counts import follow_up_summary
from ivr_agent.metrics.schemas import (
    MAX_BREACHES,
    Breaches,
    BreachesQuery,
    Summary,
    SummaryQuery,
)
from ivr_agent.metrics.store import (
    Breach,
    Group,
    GroupBy,
    callback_summary,
    latest_breaches,
    summary,
)
from ivr_agent.platform.apidoc import documented
from ivr_agent.platform.keys import DATABASE, SETTINGS
from ivr_agent.qa import operator_qa_averages
from ivr_agent.settings import Settings
from ivr_agent.web.auth import requires
from ivr_agent.web.errors import bad_parameter
from ivr_agent.web.query import int_parameter


def figure_settings(settings: Settings) -> FigureSettings:
    """The settings the figures are computed with."""
    return FigureSettings(
        ring_cycle_seconds=settings.ring_cycle_seconds,
        max_rings=settings.max_rings,
        short_abandon_seconds=settings.short_abandon_seconds,
        exclude_short_abandons=settings.exclude_short_abandons,
        hold_limit_seconds=settings.hold_reminder_seconds,
        hold_severe_seconds=settings.hold_severe_seconds,
        call_max_seconds=settings.call_max_seconds,
        call_target_seconds=settings.call_target_seconds,
        service_level_target=settings.service_level_target,
        timezone=settings.timezone,
        callback_service_due_minutes=settings.callback_service_due_minutes,
        wrap_up_minutes=settings.wrap_up_minutes,
        complaint_rate_target=settings.complaint_rate_target,
        complaint_chase_days=settings.complaint_chase_days,
    )


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def moment_parameter(request: web.Request, name: str, zone: ZoneInfo) -> datetime | None:
    """The query parameter ``name`` as a time (ISO 8601; no zone: ``zone``), or ``None``;
    400 naming it when malformed."""
    raw = request.query.get(name)
    if raw is None:
        return None
    # An unencoded "+" in a query string arrives as a space: accept it as the zone sign.
    for candidate in (raw.strip(), raw.strip().replace(" ", "+")):
        try:
            moment = datetime.fromisoformat(candidate)
            break
        except ValueError:
            continue
    else:
        raise bad_parameter(name, "must be an ISO 8601 date or time, e.g. 2026-11-23T08:00")
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def _interval(request: web.Request, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = moment_parameter(request, "from", zone)
    end = moment_parameter(request, "to", zone)
    if start is None:
        start = today(zone)[0]
    if end is None:
        end = _midnight(start.astimezone(zone).date() + timedelta(days=1), zone)
    if end <= start:
        raise bad_parameter("to", "must be after from")
    return start, end


def _group_by(request: web.Request) -> GroupBy | None:
    raw = request.query.get("group_by")
    if raw is None:
        return None
    try:
        return GroupBy(raw)
    except ValueError:
        allowed = " | ".join(g.value for g in GroupBy)
        raise bad_parameter("group_by", f"must be one of {allowed}") from None


def _group_json(
    group: Group, group_by: GroupBy, zone: ZoneInfo, fs: FigureSettings
) -> dict[str, Any]:
    body: dict[str, Any]
    if group_by is GroupBy.OPERATOR:
        body = {"operator_id": group.key}
    else:
        assert isinstance(group.key, datetime)
        assert group_by.unit is not None
        start = group.key.astimezone(zone)
        end = bucket_end(start, group_by.unit, zone)
        body = {"start": start.isoformat(), "end": end.isoformat()}
    body["figures"] = figures(group.counts, fs)
    return body


async def summary_body(
    app: web.Application, start: datetime, end: datetime, group_by: GroupBy | None
) -> dict[str, Any]:
    """The summary of ``[start, end)`` as the API returns it (the dashboard shows the same)."""
    return await summary_of(app[DATABASE], app[SETTINGS], start, end, group_by)


async def counted(
    database: Database,
    settings: Settings,
    start: datetime,
    end: datetime,
    group_by: GroupBy | None,
    operator: str | None = None,
) -> store.Summary:
    """The calls' counts of ``[start, end)`` under the settings' thresholds and time zone
    (the summary's and the history's, optionally of one operator)."""
    fs = figure_settings(settings)
    return await summary(
        database,
        start,
        end,
        hold_severe_seconds=fs.hold_severe_seconds,
        call_target_seconds=fs.call_target_seconds,
        group_by=group_by,
        zone=settings.timezone,
        wrap_up=timedelta(minutes=fs.wrap_up_minutes),
        operator=operator,
    )


async def summary_of(
    database: Database,
    settings: Settings,
    start: datetime,
    end: datetime,
    group_by: GroupBy | None,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """:func:`summary_body` without an application (the reports use it too): the same body
    from a database and the settings. ``now`` judges overdue callbacks (default: now)."""
    zone = settings.zone
    fs = figure_settings(settings)
    result = await counted(database, settings, start, end, group_by)
    moment = now or datetime.now(zone)
    callbacks = await callback_summary(
        database,
        start,
        end,
        now=moment,
        service_due_minutes=fs.callback_service_due_minutes,
    )
    complaints = await complaint_summary(
        database, start, end, now=moment, chase_after=timedelta(days=fs.complaint_chase_days)
    )
    follow_ups = await follow_up_summary(database, start, end, now=moment)
    body: dict[str, Any] = {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "group_by": group_by.value if group_by else None,
        "settings": fs.to_json(),
        "figures": figures(result.total, fs)
        | callback_figures(callbacks, fs)
        | complaint_figures(complaints, result.total.answered, fs)
        | follow_up_figures(follow_ups, settings.specialist_due_seconds),
        "complaint_statistics": await complaint_statistics(database, start, end),
    }
    if group_by is not None and result.groups is not None:
        body["groups"] = [_group_json(g, group_by, zone, fs) for g in result.groups]
        if group_by is GroupBy.OPERATOR:
            await _add_qa_averages(database, start, end, body["groups"])
            await _add_complaints(database, start, end, body["groups"])
    return body


#: How the per-operator QA figures are computed (stated beside them, like every figure).
QA_FORMULA = (
    "qa_satisfaction_index = mean, over the operator's calls offered in the interval that QA "
    "scored (latest score version only), of each score's satisfaction index (the mean of the "
    "five S5 indices); qa_indices = the same mean per index; null when no call was scored"
)


async def _add_complaints(
    database: Database, start: datetime, end: datetime, groups: list[dict[str, Any]]
) -> None:
    counts = await complaints_by_operator(database, start, end)
    for group in groups:
        complaints = counts.get(group["operator_id"], 0)
        group["figures"]["complaints_registered"] = figure(complaints, OPERATOR_COMPLAINTS_FORMULA)


async def _add_qa_averages(
    database: Database, start: datetime, end: datetime, groups: list[dict[str, Any]]
) -> None:
    qa = {a.operator_id: a.to_json() for a in await operator_qa_averages(database, start, end)}
    for group in groups:
        group["qa"] = qa.get(group["operator_id"])
        group["qa_formula"] = QA_FORMULA


def today(zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Today in the call centre's zone, as ``[midnight, next midnight)``."""
    start = _midnight(datetime.now(zone).date(), zone)
    return start, _midnight(start.date() + timedelta(days=1), zone)


@requires("ops", "qa")
@documented(
    "The S1-S6 figures of [from, to), each with its formula; optionally per group",
    query=SummaryQuery,
    response=Summary,
)
async def summary_handler(request: web.Request) -> web.Response:
    """The figures of ``[from, to)``, optionally per group."""
    start, end = _interval(request, request.app[SETTINGS].zone)
    group_by = _group_by(request)
    return web.json_response(await summary_body(request.app, start, end, group_by))


def breach_json(breach: Breach) -> dict[str, Any]:
    """One breach as JSON."""
    return {
        "call_id": breach.call_id,
        "ended_at": breach.ended_at.isoformat(),
        "operator_id": breach.operator_id,
        "caller_number": breach.caller_number,
        "kinds": list(breach.kinds),
        "ring_seconds": breach.ring_seconds,
        "max_hold_seconds": breach.max_hold_seconds,
        "talk_seconds": breach.talk_seconds,
    }


def _limit(request: web.Request) -> int:
    return int_parameter(request.query, "limit", default=20, low=1, high=MAX_BREACHES)


@requires("ops", "qa")
@documented(
    "Calls of [from, to) that broke a standard, latest first",
    query=BreachesQuery,
    response=Breaches,
)
async def breaches_handler(request: web.Request) -> web.Response:
    """Calls of ``[from, to)`` that broke a standard (late answer, hold over the limit,
    silent hang-up, over the maximum length), latest first."""
    start, end = _interval(request, request.app[SETTINGS].zone)
    breaches = await latest_breaches(
        request.app[DATABASE],
        start,
        end,
        limit=_limit(request),
        wrap_up=timedelta(minutes=request.app[SETTINGS].wrap_up_minutes),
    )
    return web.json_response(
        {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "breaches": [breach_json(b) for b in breaches],
        }
    )


def setup_metrics_api(app: web.Application) -> None:
    """Register the metrics summary and breaches routes."""
    app.router.add_get("/api/metrics/summary", summary_handler)
    app.router.add_get("/api/metrics/breaches", breaches_handler)
