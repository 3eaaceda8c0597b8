"""``POST/GET /api/campaigns``, ``GET/PATCH /api/campaigns/{campaign_id}``.

Creating, pausing and resuming need role ``ops`` (or ``admin``): a campaign makes the agent
phone every customer of its list. Reading needs ``ops`` or ``qa``. A bad field is a 400
naming it; a list with bad customers is one 400 ``invalid_customers`` listing them (their
1-based position in ``customers``); nothing is stored then. A new or resumed campaign wakes
the scheduler of this agent (:data:`WAKE_SCHEDULER`), so a run due today starts at once.

The body of ``POST`` may be larger than the API's usual 64 KiB (a list of thousands of
customers): it is read here up to :data:`MAX_BODY_BYTES`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ivr_agent.campaigns.queries import get_campaign, list_campaigns
from ivr_agent.campaigns.schemas import (
    Campaign,
    CampaignChange,
    CampaignChanged,
    CampaignCreated,
    CampaignList,
)
from ivr_agent.campaigns.schemas import NewCampaign as NewCampaignBody
from ivr_agent.campaigns.store import (
    CampaignExists,
    CampaignNotFound,
    NewCampaign,
    create_campaign,
    set_active,
)
from ivr_agent.core.campaigns import CustomerListError, customer_list, parse_days, parse_windows
from ivr_agent.db.models import AuditLogRow
from ivr_agent.platform.apidoc import documented
from ivr_agent.platform.keys import DATABASE, SETTINGS
from ivr_agent.web.auth import ROLE, requires
from ivr_agent.web.errors import ApiError, bad_parameter
from ivr_agent.web.validation import json_body, validation_error

#: The largest ``POST /api/campaigns`` body (a list of 50 000 customers with names fits).
MAX_BODY_BYTES = 8 * 1024 * 1024
#: Set by the composition root while a campaign scheduler runs here (its ``wake``).
WAKE_SCHEDULER: web.AppKey[Callable[[], None]] = web.AppKey("wake_campaign_scheduler")


async def _large_body(request: web.Request) -> NewCampaignBody:
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise ApiError(413, "body_too_large", f"body: at most {MAX_BODY_BYTES} bytes")
    raw = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise ApiError(413, "body_too_large", f"body: at most {MAX_BODY_BYTES} bytes")
    try:
        return NewCampaignBody.model_validate_json(bytes(raw))
    except ValidationError as exc:
        raise validation_error(exc, NewCampaignBody) from None


def _today(request: web.Request) -> datetime:
    return datetime.now(UTC).astimezone(request.app[SETTINGS].zone)


def _wake(request: web.Request) -> None:
    wake = request.app.get(WAKE_SCHEDULER)
    if wake is not None:
        wake()


async def _audit(
    session: AsyncSession,
    request: web.Request,
    action: str,
    campaign_id: str,
    details: dict[str, Any],
) -> None:
    # Who made the agent phone a list of customers (the token's role) is worth keeping.
    await session.execute(
        insert(AuditLogRow).values(
            actor=f"role:{request[ROLE]}", action=action, object=campaign_id, details=details
        )
    )


@requires("ops")
@documented(
    "Create a regular callback campaign with its customer list",
    description="Each customer is dialled once on each of its days, inside its windows. "
    "Nothing is stored on a 400; invalid_customers lists every bad customer (position, "
    "problem).",
    body=NewCampaignBody,
    response=CampaignCreated,
    status=201,
    errors=(409, 413),
)
async def create_campaign_handler(request: web.Request) -> web.Response:
    """Create a campaign; 201 with its id."""
    body = await _large_body(request)
    rows = ((n, {"number": c.number, "name": c.name}) for n, c in enumerate(body.customers, 1))
    try:
        customers = customer_list(rows)
    except CustomerListError as exc:
        raise ApiError(
            400,
            "invalid_customers",
            f"customers: {exc}",
            {
                "field": "customers",
                "rows": [{"row": r.row, "problem": r.problem} for r in exc.rows],
                "total": exc.total,
            },
        ) from None
    days = parse_days(body.days)
    windows = None if body.calling_windows is None else parse_windows(body.calling_windows)
    new = NewCampaign(body.name, days, windows, customers)
    today = _today(request).date()
    try:
        async with request.app[DATABASE].transaction("create campaign") as session:
            campaign_id = await create_campaign(session, new, today)
            details = {"customers": len(customers)}
            await _audit(session, request, "campaign.create", campaign_id, details)
    except CampaignExists as exc:
        raise ApiError(409, "campaign_exists", str(exc), {"field": "name"}) from None
    _wake(request)
    return web.json_response(
        {
            "campaign_id": campaign_id,
            "name": body.name,
            "days": list(days),
            "calling_windows": body.calling_windows,
            "customers": len(customers),
            "starts_on": today.isoformat(),
        },
        status=201,
    )


@requires("ops", "qa")
@documented("Every campaign: days, windows, state, customers, runs", response=CampaignList)
async def list_campaigns_handler(request: web.Request) -> web.Response:
    """Every campaign, oldest first."""
    if request.query:
        name = sorted(request.query)[0]
        raise bad_parameter(name, "is not a parameter; this route takes none")
    found = await list_campaigns(
        request.app[DATABASE], request.app[SETTINGS].zone, _today(request).date()
    )
    return web.json_response({"campaigns": found})


@requires("ops", "qa")
@documented(
    "One campaign with its figures overall and per run (each with its formula)",
    response=Campaign,
    errors=(404,),
)
async def get_campaign_handler(request: web.Request) -> web.Response:
    """One campaign with its figures, or 404."""
    found = await get_campaign(
        request.app[DATABASE],
        request.match_info["campaign_id"],
        request.app[SETTINGS].zone,
        _today(request).date(),
    )
    if found is None:
        raise ApiError(404, "campaign_not_found", "no campaign with this id")
    return web.json_response(found)


@requires("ops")
@documented(
    "Pause (active false) or resume (active true) a campaign",
    description="Pausing stops new runs and cancels the campaign's callbacks still pending.",
    body=CampaignChange,
    response=CampaignChanged,
    errors=(404,),
)
async def change_campaign_handler(request: web.Request) -> web.Response:
    """Pause or resume; 200 with how many pending callbacks pausing cancelled."""
    change = await json_body(request, CampaignChange)
    campaign_id = request.match_info["campaign_id"]
    action = "campaign.resume" if change.active else "campaign.pause"
    try:
        async with request.app[DATABASE].transaction("pause or resume campaign") as session:
            cancelled = await set_active(session, campaign_id, change.active, datetime.now(UTC))
            await _audit(session, request, action, campaign_id, {"cancelled": cancelled})
    except CampaignNotFound:
        raise ApiError(404, "campaign_not_found", "no campaign with this id") from None
    if change.active:
        _wake(request)
    return web.json_response(
        {"campaign_id": campaign_id, "active": change.active, "cancelled_callbacks": cancelled}
    )


def setup_campaigns_api(app: web.Application) -> None:
    """Register the campaign routes."""
    app.router.add_post("/api/campaigns", create_campaign_handler)
    app.router.add_get("/api/campaigns", list_campaigns_handler)
    app.router.add_get("/api/campaigns/{campaign_id}", get_campaign_handler)
    app.router.add_patch("/api/campaigns/{campaign_id}", change_campaign_handler)
