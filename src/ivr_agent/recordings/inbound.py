"""Recording inbound calls from the moment an operator connects, for QA replay.

Theory of operation:

* The tracker decides when a caller meets an operator (the call's first answer, queue or
  ``Dial()`` alike) and says so with a :class:`StartRecording` command, which starts one
  recording per call. Callbacks get none: the tracker gives it for inbound calls only; a
  callback is recorded by the callback script.
* Why not the AMI ``MixMonitor`` action: Asterisk requires the ``system`` write class for
  it, which the agent's AMI user must never have (RELIABILITY.md, security defaults). The
  same recording is made over ARI instead: a snoop channel on the caller's channel with
  ``spy=both`` (what the caller says and hears, mixed) enters our Stasis app, and
  ``POST /channels/{snoop}/record`` writes ``ivr-agent-in-<linkedid>.wav`` into the PBX's
  recording spool, where ``GET /recordings/stored/{name}/file`` fetches it. The snoop
  channel ends when the caller's channel does, and the recording finishes with it.
* Or the dialplan records (``IVR_AGENT_INBOUND_RECORDER=mixmonitor``): the greeting names
  the file (:meth:`InboundRecorder.name_for`) and the ``ivr-agent-inbound`` hook runs
  ``MixMonitor`` into the same spool as the caller leaves it (:meth:`~InboundRecorder.started`).
  With audio flowing it costs the PBX about what a snoop does (benchmarks/README.md), but
  it writes only the frames the channel carries, so an overloaded PBX or a line that goes
  quiet makes short recordings; the snoop's own timer fills such gaps. The answer
  (:class:`StartRecording`) marks the call's recording as kept; when the call is finished
  (:meth:`~InboundRecorder.call_finished`), it is fetched, verified against started → the
  caller's hang-up and kept like a snoop's, and a recording of a call nobody answered is
  deleted from the PBX. An answered caller the greeting did not name a file for (the agent
  started mid-call, a return call) is recorded through a snoop as before. Pause: the AMI
  action ``MixMonitorMute`` (class ``call``).
* Pause/resume for card numbers (PCI): ``POST/DELETE /recordings/live/{name}/mute``. A muted
  recording keeps running and writes silence, so the file's time axis still matches the
  call's timeline; the pauses are written to the audit log with their times, and QA replay
  draws them.
* After ``RecordingFinished``: fetch, verify (``verify_wav``, duration against the
  ``RecordingStarted`` → ``RecordingFinished`` time), store by opaque id, then write the
  ``recordings`` row (``ok`` / ``corrupt`` with the reason / ``missing`` when the PBX had no
  file) once the call's row exists (the outbox writes it), and delete the PBX's copy.
  Nothing here raises into the AMI reader or the ARI router.
* A restart or a failover cuts no recording: a stopping agent leaves its recording snoops
  running (the router's reclaim leaves them alone too), and the next agent of the app
  adopts each live one (:meth:`InboundRecorder.adopt`), follows it to its end and keeps it,
  its start counted back from the file's length. What else the next agent finds undone
  (a call answered while no agent could record it, a recording that ended while none ran)
  is ``recordings/takeover.py``'s.
* The call's row may come late (the outbox waits for PostgreSQL), so every recording is
  first parked on disk and then settled by ``recordings/settle.py``: a recording is never
  orphaned (a file without a row, a PBX copy never deleted).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from ivr_agent.core.commands import StartRecording
from ivr_agent.core.outcome import call_id_for
from ivr_agent.db.database import Database
from ivr_agent.pbx.ami import AmiError
from ivr_agent.pbx.ari import AriError, JsonObject, event_time
from ivr_agent.pbx.stasis import (
    ANY_SNOOP_PREFIX,
    RECORDING_SNOOP_ARG,
    ChannelEvents,
    ChannelGone,
    snoop_id,
    stasis_entry,
)
from ivr_agent.platform.logging import get_logger
from ivr_agent.platform.slots import Slot
from ivr_agent.recordings import disk_wait
from ivr_agent.recordings.disk_wait import download_when_disk_allows, when_disk_allows
from ivr_agent.recordings.files import RecordingFile, keep_verified_file
from ivr_agent.recordings.pending import PendingRecording
from ivr_agent.recordings.settle import RecordingSettler

if TYPE_CHECKING:
    from ivr_agent.pbx.session import Ivr

log = get_logger(__name__)
_T = TypeVar("_T")

#: Asterisk's name of a snoop channel: ``Snoop/<the spied channel's uniqueid>-<n>``.
_SNOOP_NAME = re.compile(r"Snoop/(.+)-[0-9a-f]+")
RECORDING_PREFIX = "ivr-agent-in-"
#: Seconds to wait for the snoop's StasisStart and for RecordingStarted.
STEP_TIMEOUT_SECONDS = 5.0
#: Seconds a finished recording's snoop is given to end with its call before we hang it up.
SNOOP_END_GRACE_SECONDS = 1.0
#: After a dialplan-recorded call is finished: time for MixMonitor to close its file.
MIXMONITOR_CLOSE_SECONDS = 0.5
#: Longest call we wait on for RecordingFinished (then the recording is stopped).
MAX_CALL_SECONDS = 4 * 3600.0
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class NoLiveRecording(LookupError):
    """The call has no recording running now."""


@dataclass
class LiveRecording:
    """A recording in progress."""

    call_id: str
    linkedid: str
    name: str
    snoop_id: str
    started_at: float | None = None
    paused: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    #: ``call`` (the whole call, through a snoop) or ``suggestion`` (a caller's message).
    kind: str = "call"
    #: Recorded by the dialplan's ``MixMonitor`` (not a snoop of ours).
    by_dialplan: bool = False


class InboundRecorder:
    """Starts, pauses and keeps the recordings of answered inbound calls."""

    def __init__(self, ivr: Ivr, db: Database) -> None:
        self.ivr = ivr
        self.db = db
        self.settings = ivr.settings
        self.live: dict[str, LiveRecording] = {}  # by call_id
        self._seen: dict[str, None] = {}  # linkedids already recorded (bounded)
        self._tasks: set[asyncio.Task[None]] = set()
        self.stats = {
            "started": 0,
            "ok": 0,
            "corrupt": 0,
            "missing": 0,
            "failed": 0,
            "parked": 0,
            "unparked": 0,
            "disk_retries": 0,
            # Recordings an earlier agent left running, taken over (restart, failover).
            "adopted": 0,
            # Calls answered while no agent could start their recording, started late.
            "started_late": 0,
            # Recordings that ended while no agent ran, found in the PBX's spool and kept.
            "left_over": 0,
            # MixMonitor recordings of calls nobody answered, deleted from the PBX.
            "discarded": 0,
        }
        #: Parked recordings' rows and PBX copies (its ``run_pending`` runs beside us).
        self.settler = RecordingSettler(ivr.client, db, ivr.settings.data_dir, self.stats)
        self.disk_retry_seconds = disk_wait.DISK_RETRY_SECONDS
        #: Calls the dialplan records (mixmonitor): linkedid → (PBX name, start), until the
        #: call is finished (bounded like ``_seen``).
        self._by_dialplan: dict[str, tuple[str, float]] = {}
        #: Called with the linkedid of a finished call that asked for a recording this
        #: recorder never made (``recordings/takeover.py``).
        self.on_unrecorded_end: Callable[[str], None] | None = None

    # --- the dialplan's recordings (mixmonitor) -------------------------------------------

    def name_for(self, linkedid: str) -> str | None:
        """The PBX recording name for the call ``linkedid``; None when its linkedid is not
        safe in a file name (the call is then recorded through a snoop, if answered)."""
        return RECORDING_PREFIX + linkedid if _SAFE_ID.fullmatch(linkedid) else None

    def started(self, linkedid: str, name: str, at: float) -> None:
        """The greeting continued the caller at ``at``: the hook's MixMonitor records from
        there into ``name``."""
        self._by_dialplan[linkedid] = (name, at)
        while len(self._by_dialplan) > 10_000:
            self._by_dialplan.pop(next(iter(self._by_dialplan)))

    def call_finished(
        self, linkedid: str, call_id: str, ended_at: float, *, asked: bool = False
    ) -> None:
        """The tracker finished the call: keep its dialplan recording if it was answered,
        else delete it from the PBX. ``asked``: the call asked for a recording; if this
        recorder never made one, :attr:`on_unrecorded_end` looks for what an earlier agent
        left. Never raises."""
        try:
            noted = self._by_dialplan.pop(linkedid, None)
            if noted is None:
                if asked and linkedid not in self._seen and self.on_unrecorded_end is not None:
                    self.on_unrecorded_end(linkedid)
                return
            live = self.live.get(call_id)
            if live is not None and live.by_dialplan and live.started_at is not None:
                self.live.pop(call_id)
                # MixMonitor closes the file in its own thread as the channel goes.
                job = self._keep_in_task(
                    live, live.started_at, ended_at, after=MIXMONITOR_CLOSE_SECONDS
                )
            else:
                job = self._discard_dialplan(noted[0])
            task = asyncio.create_task(job, name=f"dialplan-recording-{call_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        except Exception:  # never into the AMI reader that finished the call
            log.exception("dialplan_recording_finish_failed", linkedid=linkedid)

    async def _discard_dialplan(self, name: str) -> None:
        await asyncio.sleep(MIXMONITOR_CLOSE_SECONDS)
        try:
            await self.ivr.client.delete_stored_recording(name)
            self.stats["discarded"] += 1
        except AriError as exc:
            if exc.status != 404:  # 404: the caller hung up before MixMonitor started
                log.warning("dialplan_recording_not_deleted", name=name, error=str(exc))

    # --- the tracker's command ----------------------------------------------------------

    def start(self, command: StartRecording) -> None:
        """Start recording the call the tracker says an operator just took. Never raises."""
        try:
            linkedid = command.linkedid
            if linkedid in self._seen:
                return
            if not _SAFE_ID.fullmatch(linkedid):
                log.warning("inbound_recording_unsafe_linkedid", linkedid=linkedid[:80])
                return
            self._remember(linkedid)
            noted = self._by_dialplan.get(linkedid)
            if noted is not None:
                # The dialplan's MixMonitor records it: kept once the call is finished.
                self.live[command.call_id] = LiveRecording(
                    call_id=command.call_id,
                    linkedid=linkedid,
                    name=noted[0],
                    snoop_id="",
                    started_at=noted[1],
                    by_dialplan=True,
                )
                self.stats["started"] += 1
                log.info(
                    "inbound_recording_started",
                    call_id=command.call_id,
                    name=noted[0],
                    by="mixmonitor",
                )
                return
            live = LiveRecording(
                call_id=command.call_id,
                linkedid=linkedid,
                name=RECORDING_PREFIX + linkedid,
                snoop_id=snoop_id("rec-" + uuid.uuid4().hex[:16]),
            )
            self.live[command.call_id] = live
            self.spawn(self._record(live, command.channel_id), f"record-{command.call_id}", live)
        except Exception:  # never into the AMI reader that delivered the command
            log.exception("inbound_recording_start_failed")

    def has_recorded(self, linkedid: str) -> bool:
        """Whether this recorder started, adopted or kept the call ``linkedid``'s
        recording (of the last 10,000 calls)."""
        return linkedid in self._seen

    def _remember(self, linkedid: str) -> None:
        self._seen[linkedid] = None
        while len(self._seen) > 10_000:
            self._seen.pop(next(iter(self._seen)))

    def spawn(
        self, work: Coroutine[Any, Any, None], name: str, live: LiveRecording | None = None
    ) -> None:
        """Run ``work`` as a task of the recorder's (cancelled by :meth:`close`); it must
        not raise."""
        task = asyncio.create_task(work, name=name)
        if live is not None:
            live.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def keep_suggestion(
        self, linkedid: str, name: str, started: float, finished: float | None
    ) -> None:
        """Keep a caller's spoken suggestion (recorded by ``prompts/suggestion.py`` as
        ``name`` on the PBX) with the call, like the call's own recording. Never raises."""
        try:
            live = LiveRecording(
                call_id=call_id_for(self.settings.pbx_id, linkedid),
                linkedid=linkedid,
                name=name,
                snoop_id="",
                kind="suggestion",
            )
            self.spawn(
                self._keep_in_task(live, started, finished), f"keep-suggestion-{live.call_id}"
            )
        except Exception:  # never into the Stasis handler that hands it over
            log.exception("suggestion_keep_failed", linkedid=linkedid)

    async def _keep_in_task(
        self,
        live: LiveRecording,
        started: float | None,
        finished: float | None,
        *,
        after: float = 0.0,
    ) -> None:
        """:meth:`_keep` as a task of its own (``after`` seconds from now): a failure is
        counted and logged, never raised."""
        try:
            await asyncio.sleep(after)
            await self._keep(live, started, finished)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.stats["failed"] += 1
            log.exception("recording_keep_failed", call_id=live.call_id, kind=live.kind)

    # --- pause / resume -----------------------------------------------------------------

    async def set_paused(self, call_id: str, paused: bool) -> LiveRecording:
        """Mute (pause) or unmute (resume) the call's live recording.

        Raises :class:`NoLiveRecording` if none runs; :class:`AriError` (a snoop's recording)
        or :class:`AmiError` (MixMonitor's) if the PBX refuses.
        """
        live = self.live.get(call_id)
        if live is None or live.started_at is None:
            raise NoLiveRecording(f"call {call_id} has no recording running")
        if live.by_dialplan:
            await self._mute_mixmonitor(live, paused)
        elif paused:
            await self.ivr.client.mute_recording(live.name)
        else:
            await self.ivr.client.unmute_recording(live.name)
        live.paused = paused
        return live

    async def _mute_mixmonitor(self, live: LiveRecording, paused: bool) -> None:
        if self.ivr.ami is None:
            raise AmiError("AMI is not connected")
        # The caller's channel by its uniqueid (the linkedid: the call's first channel).
        await self.ivr.ami.action(
            {
                "Action": "MixMonitorMute",
                "Channel": live.linkedid,
                "Direction": "both",
                "State": "1" if paused else "0",
            }
        )

    # --- one recording ------------------------------------------------------------------

    async def _record(self, live: LiveRecording, channel_id: str) -> None:
        client = self.ivr.client
        where = {"call_id": live.call_id, "linkedid": live.linkedid}
        started: float | None = None
        finished: float | None = None
        try:
            with self.ivr.router.subscribe(live.snoop_id, live.name) as events:
                handed_over = ended_with_call = False
                try:
                    await client.snoop(
                        channel_id,
                        app=self.settings.ari_app,
                        snoop_id=live.snoop_id,
                        spy="both",
                        whisper="none",
                        app_args=RECORDING_SNOOP_ARG,
                    )
                    await events.next({"StasisStart"}, STEP_TIMEOUT_SECONDS)
                    await client.record_channel(
                        live.snoop_id,
                        live.name,
                        audio_format="wav",
                        max_duration_seconds=0,
                        if_exists="overwrite",
                    )
                    event = await events.next(
                        {"RecordingStarted", "RecordingFailed"}, STEP_TIMEOUT_SECONDS
                    )
                    if event["type"] == "RecordingFailed":
                        raise AriError("POST", "record", None, "RecordingFailed")
                    started = event_time(event, time.time())
                    live.started_at = started
                    self.stats["started"] += 1
                    log.info("inbound_recording_started", name=live.name, **where)
                    finished = await self._until_finished(events)
                    ended_with_call = True
                except asyncio.CancelledError:
                    # The agent stops: the snoop records on, and the next agent (a restart,
                    # a standby taking over) adopts the recording (:meth:`adopt`).
                    handed_over = started is not None
                    raise
                except (AriError, TimeoutError, ChannelGone) as exc:
                    log.warning("inbound_recording_not_made", error=str(exc), **where)
                    if started is not None:
                        with contextlib.suppress(AriError):
                            await client.stop_recording(live.name)
                        finished = time.time()
                finally:
                    if not handed_over:
                        await self._end_snoop(live.snoop_id, events, ended_with_call)
            if started is None:
                self.stats["failed"] += 1
                missing = RecordingFile.missing("recording could not start")
                await self._save(live, missing, None, None)
                return
            await self._keep(live, started, finished)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.stats["failed"] += 1
            log.exception("inbound_recording_failed", **where)
        finally:
            self.live.pop(live.call_id, None)

    async def _until_finished(self, events: ChannelEvents) -> float:
        """Wait for the recording to finish (with its call: the snoop ends with the
        caller); when it did, PBX clock."""
        event = await events.next(
            {"RecordingFinished", "RecordingFailed", "ChannelDestroyed"}, MAX_CALL_SECONDS
        )
        if event["type"] == "ChannelDestroyed":
            # The snoop ended with the caller: the recording finishes with it.
            with contextlib.suppress(TimeoutError, ChannelGone):
                event = await events.next(
                    {"RecordingFinished", "RecordingFailed"}, STEP_TIMEOUT_SECONDS
                )
        return event_time(event, time.time())

    async def _end_snoop(self, snoop: str, events: ChannelEvents, ended_with_call: bool) -> None:
        # A recording finishes when its snoop ends with the call; the snoop's StasisEnd
        # follows RecordingFinished by a moment. Hanging it up anyway cost one ARI round
        # trip per call that only found it gone.
        if not await events.ended(SNOOP_END_GRACE_SECONDS if ended_with_call else 0.0):
            with contextlib.suppress(AriError):
                await self.ivr.client.hangup(snoop)

    # --- recordings a previous agent left running ----------------------------------------

    async def adopt(self, channel: JsonObject) -> bool:
        """Take over ``channel`` if it is a recording snoop an earlier agent of this app left
        running (it was restarted, or this one took over from it): its live recording is
        followed to its end and kept like our own; a recording snoop with no recording is
        hung up. Whether it was adopted."""
        snoop = channel.get("id")
        entry = stasis_entry(channel)
        if (
            not isinstance(snoop, str)
            or not snoop.startswith(ANY_SNOOP_PREFIX)
            or entry is None
            or entry != (self.settings.ari_app, (RECORDING_SNOOP_ARG,))
            or self.ivr.router.owned(snoop)
        ):
            return False
        # Asterisk names a snoop channel "Snoop/<spied channel's uniqueid>-<n>"; the
        # recorder spies on the caller's channel, whose uniqueid is the call's linkedid.
        spied = _SNOOP_NAME.fullmatch(str(channel.get("name") or ""))
        linkedid = spied.group(1) if spied else ""
        if not _SAFE_ID.fullmatch(linkedid) or linkedid in self._seen:
            await self._hang_up_quietly(snoop)
            return False
        live = LiveRecording(
            call_id=call_id_for(self.settings.pbx_id, linkedid),
            linkedid=linkedid,
            name=RECORDING_PREFIX + linkedid,
            snoop_id=snoop,
        )
        events = self.ivr.router.subscribe(snoop, live.name)
        try:
            state = await self.ivr.client.live_recording(live.name)
        except AriError as exc:
            events.close()
            if exc.status == 404:  # a snoop whose recording never started
                await self._hang_up_quietly(snoop)
            return False
        live.paused = state.get("state") == "paused"
        self._remember(linkedid)
        self.live[live.call_id] = live
        self.spawn(self._follow(live, events), f"adopted-{live.call_id}", live)
        self.stats["adopted"] += 1
        log.info("inbound_recording_adopted", call_id=live.call_id, name=live.name)
        return True

    async def _follow(self, live: LiveRecording, events: ChannelEvents) -> None:
        """An adopted recording: wait for its end, then keep it. Its start is taken from
        the file (the RecordingStarted event went to the agent that started it)."""
        finished: float | None = None
        try:
            with events:
                handed_over = ended_with_call = False
                try:
                    finished = await self._until_finished(events)
                    ended_with_call = True
                except asyncio.CancelledError:
                    handed_over = True  # stopping again: the next agent adopts it
                    raise
                except (TimeoutError, ChannelGone) as exc:
                    log.warning("inbound_recording_not_made", error=str(exc), name=live.name)
                finally:
                    if not handed_over:
                        await self._end_snoop(live.snoop_id, events, ended_with_call)
            await self._keep(live, None, finished)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.stats["failed"] += 1
            log.exception("inbound_recording_failed", call_id=live.call_id)
        finally:
            self.live.pop(live.call_id, None)

    def keep_left_over(self, linkedid: str) -> None:
        """Keep the recording ``ivr-agent-in-<linkedid>`` an earlier agent left finished in
        the PBX's spool (its call ended while no agent ran): fetched, verified and stored
        like any other; its row's start is placed by ``qa.records.save_call_recording``.
        Never raises."""
        if linkedid in self._seen or not _SAFE_ID.fullmatch(linkedid):
            return
        self._remember(linkedid)
        live = LiveRecording(
            call_id=call_id_for(self.settings.pbx_id, linkedid),
            linkedid=linkedid,
            name=RECORDING_PREFIX + linkedid,
            snoop_id="",
        )
        self.stats["left_over"] += 1
        log.info("inbound_recording_left_over", call_id=live.call_id, name=live.name)
        self.spawn(self._keep_in_task(live, None, None), f"left-over-{live.call_id}")

    async def _hang_up_quietly(self, snoop: str) -> None:
        with contextlib.suppress(AriError):
            await self.ivr.client.hangup(snoop)

    async def _keep(
        self, live: LiveRecording, started: float | None, finished: float | None
    ) -> None:
        """Fetch (streamed into the data dir), verify, store, write the row, delete the PBX
        copy. ``started`` None (an adopted recording): the file's own length, counted back
        from ``finished``, gives its start; both None (a recording left over): the row's
        start is placed by ``qa.records.save_call_recording`` (at the operator's answer)."""
        fetched: Path | None = None
        problem = "not found on the PBX"
        for delay in (0.0, 0.3, 1.0, 2.0):
            await asyncio.sleep(delay)
            try:
                fetched = await download_when_disk_allows(
                    lambda target: self.ivr.client.download_stored_recording(live.name, target),
                    self.settings.data_dir,
                    what={"step": "fetch", "call_id": live.call_id},
                    retry_seconds=self.disk_retry_seconds,
                    limit_seconds=disk_wait.DISK_RETRY_LIMIT_SECONDS,
                    on_retry=self._count_disk_retry,
                )
                break
            except AriError as exc:
                problem = f"fetch failed: {exc.status or 'no reply'} {exc.message}"
                if exc.status not in (404, None):
                    break
        if fetched is None:
            await self._save(live, RecordingFile.missing(problem), started, None)
            return
        expected = None if finished is None or started is None else max(finished - started, 0.0)
        stored = await self._on_disk(
            "keep", live, keep_verified_file, self.settings.data_dir, fetched, expected
        )
        if started is None and finished is not None and stored.seconds is not None:
            started = finished - stored.seconds
        await self._save(live, stored, started, live.name)

    def _count_disk_retry(self) -> None:
        self.stats["disk_retries"] += 1

    async def _on_disk(
        self, step: str, live: LiveRecording, work: Callable[..., _T], *args: Any
    ) -> _T:
        """``work(*args)`` in a thread, tried again while the disk refuses it (full, I/O
        error) for up to an hour: a full data dir delays a recording, it does not lose it
        (the PBX keeps its copy meanwhile)."""

        return await when_disk_allows(
            work,
            *args,
            what={"step": step, "call_id": live.call_id},
            retry_seconds=self.disk_retry_seconds,
            limit_seconds=disk_wait.DISK_RETRY_LIMIT_SECONDS,
            on_retry=self._count_disk_retry,
        )

    async def _save(
        self, live: LiveRecording, file: RecordingFile, started: float | None, pbx_name: str | None
    ) -> bool:
        """Park the recording, then let the settler write its row once the call's row
        exists and delete the PBX's copy (``pbx_name``). False if that did not happen within
        the wait: the parked recording is then the settler's rounds'."""
        entry = PendingRecording(
            call_id=live.call_id,
            file=file,
            started_at=started,
            pbx_name=pbx_name,
            since=time.time(),
            kind=live.kind,
        )
        self.settler.claim(file.recording_id)
        try:
            await self._on_disk("park", live, self.settler.pending.put, entry)
            self.stats["parked"] += 1
            return await self.settler.settle_within_wait(entry)
        finally:
            self.settler.release(file.recording_id)

    async def close(self) -> None:
        """Cancel the recordings still being kept and wait for them."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


#: Filled while the inbound recorder runs (the active agent with ARI connected).
RECORDER: web.AppKey[Slot[InboundRecorder]] = web.AppKey("inbound_recorder")
