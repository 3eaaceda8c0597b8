"""Recording routes: audio by opaque id with HTTP Range, waveform peaks, and pausing and
resuming a live recording (the QA replay and scores are ``qa/http.py``).

Security (RELIABILITY.md §10): a recording is found by its opaque id only — the id must be
32 hex digits, the row gives the stored relative path, and that path is resolved under the
data dir's recordings directory (no ``..``, no absolute path, no symlink). Anything else is
404 with a JSON body and never a byte of a file. A catch-all route under
``/api/recordings/`` makes every other path (``../``, ``%2e%2e%2f``, absolute paths) a
``qa``-guarded 404 too, so no path yields a different answer than an unknown id. Every
answer that carries audio (200/206) is first written to the audit log (who, which, when,
which bytes); if the audit row cannot be written, no audio is sent. Audio is
``Cache-Control: no-store``.

Roles: recordings and waveforms need ``qa`` (or ``admin``); pausing and resuming a live
recording is for the operators' desk (``ops``) or ``admin``.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from aiohttp import web

from ivr_agent.pbx.ami import AmiError
from ivr_agent.pbx.ari import AriError
from ivr_agent.platform.apidoc import documented
from ivr_agent.platform.keys import DATABASE, SETTINGS
from ivr_agent.platform.logging import get_logger
from ivr_agent.qa import (
    PAUSE,
    PLAY,
    RESUME,
    Recording,
    RecordingInfo,
    audit,
    get_recording,
    request_actor,
)
from ivr_agent.recordings.files import is_recording_id, resolve_stored
from ivr_agent.recordings.inbound import RECORDER, NoLiveRecording
from ivr_agent.recordings.schemas import Peaks, PeaksQuery, RecordingPaused
from ivr_agent.recordings.waveform import MAX_BUCKETS, NotPcm16, peaks_of_file
from ivr_agent.web.auth import requires
from ivr_agent.web.byte_range import (
    RangeNotSatisfiable,
    parse_range,
    unsatisfiable_content_range,
)
from ivr_agent.web.errors import ApiError, error_response
from ivr_agent.web.query import int_parameter

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
@documented(
    "The recording's audio: whole (200) or one byte range (206, Range: bytes=…)",
    description="Every answer carrying audio is written to the audit log first.",
    media_type="audio/wav",
    extra_statuses=(206,),
    errors=(404, 416),
)
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
@documented("A recording's metadata (never its path)", response=RecordingInfo, errors=(404,))
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
@documented(
    "Waveform levels 0-1 of a recording, for the player",
    query=PeaksQuery,
    response=Peaks,
    errors=(404, 422),
)
async def peaks_handler(request: web.Request) -> web.Response:
    """``GET /api/recordings/{id}/peaks?buckets=N``: waveform levels 0–1 for the player."""
    buckets = int_parameter(request.query, "buckets", default=600, low=1, high=MAX_BUCKETS)
    recording, path = await _playable(request)
    try:
        # Block by block: a long recording never sits in memory whole.
        levels = await asyncio.to_thread(peaks_of_file, path, buckets)
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


# ---------------------------------------------------------------- pause / resume --


async def _pause(request: web.Request, paused: bool) -> web.Response:
    actor = await request_actor(request)
    call_id = request.match_info["call_id"]
    recorder = request.app[RECORDER].value
    if recorder is None:
        raise ApiError(409, "not_recording", "inbound recording is off or ARI is not connected")
    try:
        live = await recorder.set_paused(call_id, paused)
    except NoLiveRecording as exc:
        raise ApiError(409, "not_recording", str(exc)) from None
    except AriError as exc:
        raise ApiError(502, "pbx_refused", f"the PBX refused: {exc.message}") from None
    except AmiError as exc:  # MixMonitorMute, for a recording the dialplan runs
        raise ApiError(502, "pbx_refused", f"the PBX refused: {exc}") from None
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
@documented(
    "Pause the live recording of a call (card numbers)",
    response=RecordingPaused,
    errors=(409, 502),
)
async def pause_handler(request: web.Request) -> web.Response:
    """``POST /api/calls/{id}/recording/pause``: stop capturing audio (card numbers)."""
    return await _pause(request, True)


@requires("ops")
@documented(
    "Resume the paused recording of a call",
    response=RecordingPaused,
    errors=(409, 502),
)
async def resume_handler(request: web.Request) -> web.Response:
    """``POST /api/calls/{id}/recording/resume``: capture audio again."""
    return await _pause(request, False)


def setup_recordings_api(app: web.Application) -> None:
    """Register the recording, replay, score and pause routes."""
    app.router.add_get("/api/recordings/{recording_id}", recording_handler)
    app.router.add_get("/api/recordings/{recording_id}/audio", audio_handler)
    app.router.add_get("/api/recordings/{recording_id}/peaks", peaks_handler)
    app.router.add_route("*", "/api/recordings/{tail:.*}", unknown_recording_route)
    app.router.add_post("/api/calls/{call_id}/recording/pause", pause_handler)
    app.router.add_post("/api/calls/{call_id}/recording/resume", resume_handler)
