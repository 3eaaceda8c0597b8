"""Call record routes: ``GET`` and ``POST /api/calls/{call_id}/record``.

Reading: ``ops``, ``qa``, ``operator`` (its own calls only) and ``admin``. Writing:
``operator`` for the calls it answered, and ``admin`` for any. A call an operator token did
not answer is a 404, as if it did not exist. Errors name the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from ivr_agent.callbacks import WAKE_DIALER, callback_config
from ivr_agent.platform.apidoc import documented
from ivr_agent.platform.keys import DATABASE, SETTINGS
from ivr_agent.records.schemas import CallRecordBundle, RecordBody
from ivr_agent.records.store import (
    NotAnswered,
    RecordConflict,
    RecordError,
    UnknownCall,
    WrapUp,
    Writer,
    read_wrap_up,
    write_record,
)
from ivr_agent.web.auth import CREDENTIAL, requires
from ivr_agent.web.errors import ApiError, bad_parameter
from ivr_agent.web.validation import json_body, validated


def wrap_up_limit(app: web.Application) -> timedelta:
    """How long after a call's end its record is due (``IVR_AGENT_WRAP_UP_MINUTES``)."""
    return timedelta(minutes=app[SETTINGS].wrap_up_minutes)


def writer_of(request: web.Request) -> Writer | None:
    """Who the admitted credential of ``request`` is, as the record store sees them (None:
    no credential)."""
    credential = request.get(CREDENTIAL)
    if credential is None:
        return None
    return Writer(f"token:{credential.token_id}", credential.role, credential.operator_id)


def request_writer(request: web.Request) -> Writer:
    """:func:`writer_of` for the API: no credential is a 401."""
    writer = writer_of(request)
    if writer is None:
        raise ApiError(401, "unauthenticated", "an Authorization: Bearer token is required")
    return writer


def _not_found() -> ApiError:
    return ApiError(404, "not_found", "no such call")


async def load_wrap_up(request: web.Request, call_id: str, reader: Writer) -> WrapUp:
    """The call's record and wrap-up state for ``reader``; 404 when it may not see it."""
    try:
        return await read_wrap_up(
            request.app[DATABASE],
            call_id,
            reader,
            now=datetime.now(UTC),
            wrap_up=wrap_up_limit(request.app),
        )
    except UnknownCall:
        raise _not_found() from None


async def store_record(
    request: web.Request, call_id: str, body: RecordBody | Mapping[str, Any], writer: Writer
) -> WrapUp:
    """Validate (a form's fields through :class:`RecordBody`) and store the call's record —
    with ``specialist_id``, the specialist's call-back too, and the dialer woken;
    :class:`ApiError` 400 naming the field, 404, or 409."""
    record_body = body if isinstance(body, RecordBody) else validated(RecordBody, body)
    try:
        written = await write_record(
            request.app[DATABASE],
            call_id,
            record_body.entry(),
            writer,
            now=datetime.now(UTC),
            wrap_up=wrap_up_limit(request.app),
            callbacks=callback_config(request.app[SETTINGS]),
        )
    except UnknownCall:
        raise _not_found() from None
    except NotAnswered as exc:
        raise ApiError(409, "not_answered", str(exc)) from None
    except RecordConflict as exc:
        raise ApiError(409, "record_conflict", str(exc), {"field": exc.field}) from None
    except RecordError as exc:
        raise bad_parameter(exc.field or "body", str(exc).partition(": ")[2] or str(exc)) from None
    wake = request.app[WAKE_DIALER].value
    if record_body.specialist_id is not None and wake is not None:
        # Only after the commit: a dialer woken earlier would not see the call-back yet.
        wake()
    return written


@requires("ops", "qa", "operator")
@documented(
    "The call's record (来电记录): the current version, every version, and its wrap-up (S8)",
    description="An operator token sees only the calls it answered (others: 404).",
    response=CallRecordBundle,
    errors=(404,),
)
async def get_record_handler(request: web.Request) -> web.Response:
    """``GET /api/calls/{id}/record``."""
    bundle = await load_wrap_up(request, request.match_info["call_id"], request_writer(request))
    return web.json_response(bundle.to_json(), headers={"Cache-Control": "no-store"})


@requires("operator")
@documented(
    "Enter or correct the call's record (a correction is a new version; the first entry's "
    "time is what S8's late_wrap_up judges)",
    description="operator: the calls it answered (others: 404); admin: any call. 409 when "
    "the call was not answered, or supersedes is not the latest version.",
    body=RecordBody,
    response=CallRecordBundle,
    status=201,
    errors=(404, 409),
)
async def post_record_handler(request: web.Request) -> web.Response:
    """``POST /api/calls/{id}/record``."""
    writer = request_writer(request)
    body = await json_body(request, RecordBody)
    bundle = await store_record(request, request.match_info["call_id"], body, writer)
    return web.json_response(bundle.to_json(), status=201)


def setup_records_api(app: web.Application) -> None:
    """Register the call record routes."""
    app.router.add_get("/api/calls/{call_id}/record", get_record_handler)
    app.router.add_post("/api/calls/{call_id}/record", post_record_handler)
