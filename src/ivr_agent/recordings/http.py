"""Recording and QA routes: audio by opaque id with HTTP Range, waveform peaks, the replay
bundle of a call, QA scores, and recording pause/resume.

Security (RELIABILITY.md §10): a recording is found by its opaque id only — the id must be
32 hex digits, the row gives the stored relative path, and that path is resolved under the
data dir's recordings directory (no ``..``, no absolute path, no symlink). Anything else is
404 with a JSON body and never a byte of a file. A catch-all route under
``/api/recordings/`` makes every other path (``../``, ``%2e%2e%2f``, absolute paths) a
``qa``-guarded 404 too, so no path yields a different answer than an unknown id. Every
answer that carries audio (200/206) is first written to the audit log (who, which, when,
which bytes); if the audit row cannot be written, no audio is sent. Audio is
``Cache-Control: no-store``.

Roles: recordings, waveforms, replay and scores need ``qa`` (or ``admin``); pausing and
resuming a live recording is for the operators' desk (``ops``) or ``admin``.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from aiohttp import web

from ivr_agent.calls.store import get_call, get_timeline
from ivr_agent.pbx.ari import AriError
from ivr_agent.platform.keys import DATABASE, SETTINGS
from ivr_agent.platform.logging import get_logger
from ivr_agent.qa.store import (
    PAUSE,
    PLAY,
    RESUME,
    Actor,
    Recording,
    ScoreConflict,
    ScoreError,
    UnknownCall,
    actor_of,
    audit,
    get_recording,
    pauses_of_call,
    recordings_of_call,
    score_history,
    submit_score,
)
from ivr_agent.qa.timeline import qa_markers
from ivr_agent.recordings.files import is_recording_id, resolve_stored
from ivr_agent.recordings.inbound import RECORDER, NoLiveRecording
from ivr_agent.recordings.waveform import MAX_BUCKETS, NotPcm16, peaks
from ivr_agent.web.auth import request_token, requires
from ivr_agent.web.byte_range import (
    RangeNotSatisfiable,
    parse_range,
    unsatisfiable_content_range,
)
from ivr_agent.web.errors import ApiError, bad_parameter, error_response

log = get_logger(__name__)

CHUNK = 64 * 1024
AUDIO_HEADERS = {
    "Cache-Control": "no-store",
    "Accept-Ranges": "bytes",
    "X-Content-Type-Options": "nosniff",
    "Content-Disposition": "inline",
}


def _not_found(what: str = "recording") -> ApiError:
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


async def _playable(request: web.Request) -> tuple[Recording, Path]:
    """The recording named by the URL and its file, or a 404 that reveals nothing."""
    recording_id = request.match_info["recording_id"]
    if not is_recording_id(recording_id):
        raise _not_found()
    recording = await get_recording(request.app[DATABASE], recording_id)
    if recording is None:
        raise _not_found()
    if recording.status != "ok":
        raise ApiError(
            404,
            "recording_unavailable",
            f"the recording is {recording.status}",
            {"status": recording.status, "reason": recording.reason},
        )
    try:
        path = resolve_stored(request.app[SETTINGS].data_dir, recording.path)
    except ValueError as exc:
        log.error("recording_path_refused", recording_id=recording_id, error=str(exc))
        raise _not_found() from None
    return recording, path


def _open(path: Path) -> tuple[BinaryIO, int]:
    handle = path.open("rb")
    try:
        return handle, os.fstat(handle.fileno()).st_size
    except BaseException:
        handle.close()
        raise


@requires("qa")
async def audio_handler(request: web.Request) -> web.StreamResponse:
    """``GET /api/recordings/{id}/audio``: the WAV, whole (200) or one byte range (206)."""
    actor = await request_actor(request)
    recording, path = await _playable(request)
    try:
        handle, size = await asyncio.to_thread(_open, path)
    except OSError:
        log.error("recording_file_missing", recording_id=recording.recording_id)
        raise ApiError(
            404, "recording_unavailable", "the recording's file is missing", {"status": "missing"}
        ) from None
    try:
        if recording.bytes is not None and size != recording.bytes:
            log.error(
                "recording_file_changed",
                recording_id=recording.recording_id,
                stored=recording.bytes,
                found=size,
            )
            raise ApiError(404, "recording_unavailable", "the recording's file has changed")
        try:
            span = parse_range(request.headers.get("Range"), size)
        except RangeNotSatisfiable as exc:
            # Returned, not raised: the error middleware would drop the Content-Range.
            refused = error_response(
                ApiError(416, "range_not_satisfiable", str(exc), {"size": size})
            )
            refused.headers.update(AUDIO_HEADERS)
            refused.headers["Content-Range"] = unsatisfiable_content_range(size)
            return refused
        start, length = (0, size) if span is None else (span.start, span.length)
        await audit(
            request.app[DATABASE],
            actor.name,
            PLAY,
            recording.recording_id,
            {
                "role": actor.role,
                "call_id": recording.call_id,
                "attempt_id": recording.attempt_id,
                "range": span.describe() if span else f"0-{size - 1}" if size else "",
                "partial": span is not None,
                "method": request.method,
            },
        )
        headers = {**AUDIO_HEADERS, "Content-Length": str(length), "Content-Type": "audio/wav"}
        if span is not None:
            headers["Content-Range"] = span.content_range
        response = web.StreamResponse(status=206 if span else 200, headers=headers)
        await response.prepare(request)
        if request.method == "HEAD":
            return response
        await asyncio.to_thread(handle.seek, start)
        remaining = length
        while remaining > 0:
            chunk = await asyncio.to_thread(handle.read, min(CHUNK, remaining))
            if not chunk:
                break
            await response.write(chunk)
            remaining -= len(chunk)
        await response.write_eof()
        return response
    finally:
        handle.close()


@requires("qa")
async def recording_handler(request: web.Request) -> web.Response:
    """``GET /api/recordings/{id}``: the recording's metadata (never its path)."""
    recording_id = request.match_info["recording_id"]
    if not is_recording_id(recording_id):
        raise _not_found()
    recording = await get_recording(request.app[DATABASE], recording_id)
    if recording is None:
        raise _not_found()
    return web.json_response(recording.to_json(), headers={"Cache-Control": "no-store"})


@requires("qa")
async def peaks_handler(request: web.Request) -> web.Response:
    """``GET /api/recordings/{id}/peaks?buckets=N``: waveform levels 0–1 for the player."""
    raw = request.query.get("buckets", "600")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_BUCKETS:
        raise bad_parameter("buckets", f"an integer 1-{MAX_BUCKETS}")
    recording, path = await _playable(request)
    try:
        data = await asyncio.to_thread(path.read_bytes)
        levels = await asyncio.to_thread(peaks, data, int(raw))
    except OSError:
        raise ApiError(404, "recording_unavailable", "the recording's file is missing") from None
    except NotPcm16 as exc:
        raise ApiError(422, "unsupported_audio", str(exc)) from None
    return web.json_response(
        {"recording_id": recording.recording_id, "seconds": recording.seconds, "peaks": levels},
        headers={"Cache-Control": "no-store"},
    )


@requires("qa")
async def unknown_recording_route(request: web.Request) -> web.Response:
    """Every other path below ``/api/recordings/``: the same 404 as an unknown id."""
    raise _not_found()


# ------------------------------------------------------------------ call replay --


async def replay_bundle(request: web.Request, call_id: str) -> dict[str, Any] | None:
    """What the QA page needs about a call: facts, recording, markers, pauses, scores."""
    db = request.app[DATABASE]
    call = await get_call(db, call_id)
    if call is None:
        return None
    timeline = await get_timeline(db, call_id)
    recordings = await recordings_of_call(db, call_id)
    recording = recordings[-1] if recordings else None
    pauses = await pauses_of_call(db, call_id)
    origin = recording.started_at if recording is not None else None
    markers = qa_markers(call, timeline, origin, [(p.at, p.action) for p in pauses])
    return {
        "call": call,
        "recording": recording.to_json() if recording else None,
        "origin": (origin or datetime.fromisoformat(call["offered_at"])).isoformat(),
        "markers": [m.to_json() for m in markers],
        "pauses": [{"at": p.at.isoformat(), "action": p.action, "by": p.by} for p in pauses],
        "scores": [s.to_json() for s in await score_history(db, call_id)],
    }


@requires("qa")
async def call_replay_handler(request: web.Request) -> web.Response:
    """``GET /api/calls/{id}/qa``: the replay bundle of a call."""
    bundle = await replay_bundle(request, request.match_info["call_id"])
    if bundle is None:
        raise _not_found("call")
    return web.json_response(bundle, headers={"Cache-Control": "no-store"})


@requires("qa")
async def scores_handler(request: web.Request) -> web.Response:
    """``GET /api/calls/{id}/scores``: every version of the call's QA score."""
    scores = await score_history(request.app[DATABASE], request.match_info["call_id"])
    return web.json_response({"scores": [s.to_json() for s in scores]})


async def store_score(
    request: web.Request, call_id: str, body: dict[str, Any], actor: Actor
) -> dict[str, Any]:
    """Validate and store a score from a JSON body or a form; ApiError naming the field."""
    comment = body.get("comment", "")
    if not isinstance(comment, str):
        raise bad_parameter("comment", "must be text")
    supersedes = body.get("supersedes") or None
    if supersedes is not None and not isinstance(supersedes, str):
        raise bad_parameter("supersedes", "must be a score id")
    try:
        score = await submit_score(
            request.app[DATABASE], call_id, body, comment.strip(), actor, supersedes=supersedes
        )
    except UnknownCall:
        raise _not_found("call") from None
    except ScoreConflict as exc:
        raise ApiError(409, "score_conflict", str(exc), {"field": exc.field}) from None
    except ScoreError as exc:
        raise bad_parameter(exc.field or "body", str(exc).partition(": ")[2] or str(exc)) from None
    return score.to_json()


@requires("qa")
async def submit_score_handler(request: web.Request) -> web.Response:
    """``POST /api/calls/{id}/scores``: store a QA score (a correction names ``supersedes``)."""
    actor = await request_actor(request)
    try:
        body = await request.json()
    except ValueError:
        raise bad_parameter("body", "must be a JSON object") from None
    if not isinstance(body, dict):
        raise bad_parameter("body", "must be a JSON object")
    score = await store_score(request, request.match_info["call_id"], body, actor)
    return web.json_response(score, status=201)


# ---------------------------------------------------------------- pause / resume --


async def _pause(request: web.Request, paused: bool) -> web.Response:
    actor = await request_actor(request)
    call_id = request.match_info["call_id"]
    recorder = request.app.get(RECORDER)
    if recorder is None:
        raise ApiError(409, "not_recording", "inbound recording is off or ARI is not connected")
    try:
        live = await recorder.set_paused(call_id, paused)
    except NoLiveRecording as exc:
        raise ApiError(409, "not_recording", str(exc)) from None
    except AriError as exc:
        raise ApiError(502, "pbx_refused", f"the PBX refused: {exc.message}") from None
    at = datetime.now(UTC)
    await audit(
        request.app[DATABASE],
        actor.name,
        PAUSE if paused else RESUME,
        call_id,
        {"role": actor.role, "at": at.isoformat(), "recording": live.name},
    )
    return web.json_response({"call_id": call_id, "paused": paused, "at": at.isoformat()})


@requires("ops")
async def pause_handler(request: web.Request) -> web.Response:
    """``POST /api/calls/{id}/recording/pause``: stop capturing audio (card numbers)."""
    return await _pause(request, True)


@requires("ops")
async def resume_handler(request: web.Request) -> web.Response:
    """``POST /api/calls/{id}/recording/resume``: capture audio again."""
    return await _pause(request, False)


def setup_recordings_api(app: web.Application) -> None:
    """Register the recording, replay, score and pause routes."""
    app.router.add_get("/api/recordings/{recording_id}", recording_handler)
    app.router.add_get("/api/recordings/{recording_id}/audio", audio_handler)
    app.router.add_get("/api/recordings/{recording_id}/peaks", peaks_handler)
    app.router.add_route("*", "/api/recordings/{tail:.*}", unknown_recording_route)
    app.router.add_get("/api/calls/{call_id}/qa", call_replay_handler)
    app.router.add_get("/api/calls/{call_id}/scores", scores_handler)
    app.router.add_post("/api/calls/{call_id}/scores", submit_score_handler)
    app.router.add_post("/api/calls/{call_id}/recording/pause", pause_handler)
    app.router.add_post("/api/calls/{call_id}/recording/resume", resume_handler)
