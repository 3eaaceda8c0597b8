"""QA routes: the replay bundle of a call (facts, recording, timeline markers, pauses,
scores) and its QA scores, read and written (versioned: a correction names what it
supersedes). Every route needs a ``qa`` (or ``admin``) token; errors name the field."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from aiohttp import web

from ivr_agent.calls import get_call, get_timeline
from ivr_agent.platform.apidoc import documented
from ivr_agent.platform.keys import DATABASE
from ivr_agent.qa.records import Actor, actor_of, pauses_of_call, recordings_of_call
from ivr_agent.qa.schemas import QaScore, ReplayBundle, ScoreBody, ScoreHistory
from ivr_agent.qa.scores import ScoreConflict, ScoreError, UnknownCall, score_history, submit_score
from ivr_agent.qa.timeline import ENGLISH, Texts, qa_markers
from ivr_agent.web.auth import request_token, requires
from ivr_agent.web.errors import ApiError, bad_parameter
from ivr_agent.web.validation import json_body, validated


def _not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"no such {what}")


async def request_actor(request: web.Request) -> Actor:
    """The token behind a request the auth middleware already admitted."""
    token = request_token(request)
    if token is None:
        raise ApiError(401, "unauthenticated", "an Authorization: Bearer token is required")
    async with request.app[DATABASE].sessions() as session:
        actor = await actor_of(session, token)
    if actor is None:
        raise ApiError(401, "unauthenticated", "the token is unknown or revoked")
    return actor


async def replay_bundle(
    request: web.Request, call_id: str, texts: Texts = ENGLISH
) -> dict[str, Any] | None:
    """What the QA page needs about a call: facts, recording, the caller's spoken
    suggestions, markers (labelled in ``texts``' language), pauses, scores."""
    db = request.app[DATABASE]
    call = await get_call(db, call_id)
    if call is None:
        return None
    timeline = await get_timeline(db, call_id)
    recordings = await recordings_of_call(db, call_id)
    recording = recordings[-1] if recordings else None
    suggestions = await recordings_of_call(db, call_id, kind="suggestion")
    pauses = await pauses_of_call(db, call_id)
    origin = recording.started_at if recording is not None else None
    markers = qa_markers(call, timeline, origin, [(p.at, p.action) for p in pauses], texts)
    return {
        "call": call,
        "recording": recording.to_json() if recording else None,
        "suggestions": [s.to_json() for s in suggestions],
        "origin": (origin or datetime.fromisoformat(call["offered_at"])).isoformat(),
        "markers": [m.to_json() for m in markers],
        "pauses": [{"at": p.at.isoformat(), "action": p.action, "by": p.by} for p in pauses],
        "scores": [s.to_json() for s in await score_history(db, call_id)],
    }


@requires("qa")
@documented(
    "The replay bundle of a call: the call, its recording, timeline markers, pauses, scores",
    response=ReplayBundle,
    errors=(404,),
)
async def call_replay_handler(request: web.Request) -> web.Response:
    """``GET /api/calls/{id}/qa``: the replay bundle of a call."""
    bundle = await replay_bundle(request, request.match_info["call_id"])
    if bundle is None:
        raise _not_found("call")
    return web.json_response(bundle, headers={"Cache-Control": "no-store"})


@requires("qa")
@documented("Every version of the call's QA score", response=ScoreHistory)
async def scores_handler(request: web.Request) -> web.Response:
    """``GET /api/calls/{id}/scores``: every version of the call's QA score."""
    scores = await score_history(request.app[DATABASE], request.match_info["call_id"])
    return web.json_response({"scores": [s.to_json() for s in scores]})


async def store_score(
    request: web.Request, call_id: str, body: ScoreBody | Mapping[str, Any], actor: Actor
) -> dict[str, Any]:
    """Validate (a form's fields through :class:`ScoreBody`) and store a score;
    ApiError naming the field."""
    score_body = body if isinstance(body, ScoreBody) else validated(ScoreBody, body)
    try:
        score = await submit_score(
            request.app[DATABASE],
            call_id,
            score_body.indices(),
            score_body.comment,
            actor,
            supersedes=score_body.supersedes,
        )
    except UnknownCall:
        raise _not_found("call") from None
    except ScoreConflict as exc:
        raise ApiError(409, "score_conflict", str(exc), {"field": exc.field}) from None
    except ScoreError as exc:
        raise bad_parameter(exc.field or "body", str(exc).partition(": ")[2] or str(exc)) from None
    return score.to_json()


@requires("qa")
@documented(
    "Store a QA score (a correction names the version it supersedes)",
    body=ScoreBody,
    response=QaScore,
    status=201,
    errors=(404, 409),
)
async def submit_score_handler(request: web.Request) -> web.Response:
    """``POST /api/calls/{id}/scores``: store a QA score (a correction names ``supersedes``)."""
    actor = await request_actor(request)
    body = await json_body(request, ScoreBody)
    score = await store_score(request, request.match_info["call_id"], body, actor)
    return web.json_response(score, status=201)


def setup_qa_api(app: web.Application) -> None:
    """Register the QA replay and score routes."""
    app.router.add_get("/api/calls/{call_id}/qa", call_replay_handler)
    app.router.add_get("/api/calls/{call_id}/scores", scores_handler)
    app.router.add_post("/api/calls/{call_id}/scores", submit_score_handler)
