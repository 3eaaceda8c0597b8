"""The recordings feature: inbound call recording (when an ARI session runs), the
retention purge, and the recording routes (audio, waveform, pause/resume)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from ivr_agent.calls import CommandRoutes
from ivr_agent.core.commands import StartRecording
from ivr_agent.pbx.session import Ivr
from ivr_agent.platform.keys import DATABASE
from ivr_agent.platform.logging import get_logger
from ivr_agent.platform.slots import Slot
from ivr_agent.platform.tasks import background
from ivr_agent.recordings.files import discard_incoming
from ivr_agent.recordings.http import setup_recordings_api
from ivr_agent.recordings.inbound import RECORDER, InboundRecorder
from ivr_agent.recordings.retention import run_retention
from ivr_agent.recordings.takeover import RecordingTakeover, TrackedCalls
from ivr_agent.settings import Settings

CleanupCtx = Callable[[web.Application], AsyncIterator[None]]

log = get_logger(__name__)


def setup(
    app: web.Application,
    settings: Settings,
    *,
    session: Callable[[], Ivr | None],
    commands: CommandRoutes,
    calls: Callable[[], TrackedCalls | None] = lambda: None,
    run_recorder: Callable[[CleanupCtx], None] | None = None,
) -> None:
    """The recording routes; while the app runs, the retention purge, and — with inbound
    recording on and an ARI session (``session()``, read at start) — the recorder, which
    takes the tracker's :class:`StartRecording` commands and keeps callers' suggestions.

    ``calls``: the tracker's calls in flight (read at start), whose recordings an agent
    taking over checks (``recordings/takeover.py``). ``run_recorder``: what runs the
    recorder's part (the active parts of a leader-elected agent); by default it runs with
    the app."""
    setup_recordings_api(app)
    app[RECORDER] = Slot("the inbound recorder")

    async def retention(app: web.Application) -> AsyncIterator[None]:
        db = app[DATABASE]
        left = await asyncio.to_thread(discard_incoming, settings.data_dir)
        if left:
            log.info("recording_downloads_discarded", count=left)
        job = run_retention(
            db,
            settings.data_dir,
            settings.recording_retention_days,
            callback_retention_days=settings.recording_retention_callback_days,
        )
        async with background(job, "recording-retention"):
            yield

    async def recorder_part(app: web.Application) -> AsyncIterator[None]:
        db = app[DATABASE]
        async with contextlib.AsyncExitStack() as stack:
            ivr = session()
            if ivr is not None:
                recorder = InboundRecorder(ivr, db)
                stack.enter_context(app[RECORDER].holding(recorder))
                stack.push_async_callback(recorder.close)
                # What an earlier agent left (a restart, a standby taking over): running
                # recordings adopted, never cut; with the snoop recorder, calls it could
                # not record started late and recordings it could not keep kept. Now and
                # after each ARI reconnection.
                takeover = RecordingTakeover(
                    recorder,
                    calls(),
                    catch_up=settings.record_inbound and settings.inbound_recorder == "snoop",
                )
                stack.callback(ivr.router.on_reconnect(takeover.on_reconnect))
                ivr.router.spawn(takeover.run(), "inbound-recording-takeover")
                await stack.enter_async_context(
                    background(takeover.sweep_every(), "inbound-recording-spool-sweep")
                )
                if settings.record_inbound:
                    stack.callback(commands.route((StartRecording,), recorder.start))
                    if settings.inbound_recorder == "mixmonitor":
                        # The greeting names each caller's file for the hook's MixMonitor.
                        ivr.dialplan_recorder = recorder
                        stack.callback(setattr, ivr, "dialplan_recorder", None)
                # Callers' spoken suggestions are kept with the call whether or not whole
                # calls are recorded: the caller chose to leave one.
                ivr.keep_suggestion = recorder.keep_suggestion
                stack.callback(setattr, ivr, "keep_suggestion", None)
                # Recordings whose row could not be written yet (database down, call row
                # late), including those a previous run left: retried until they are.
                await stack.enter_async_context(
                    background(recorder.settler.run_pending(), "inbound-recording-pending")
                )
            yield

    app.cleanup_ctx.append(retention)
    (run_recorder or app.cleanup_ctx.append)(recorder_part)
