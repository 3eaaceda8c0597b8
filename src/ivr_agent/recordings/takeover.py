"""What an agent finds of the calls' recordings when it takes the PBX's calls over from the
one before it (a restart, a standby taking over after a failover), so that no answered call
is left without its recording:

* **A recording still running** (its recording snoop is in our Stasis app): adopted,
  followed to its end and kept whole (:meth:`InboundRecorder.adopt`).
* **A call answered while no agent could start its recording** (the previous agent was
  stopping, frozen or already dead when the operator answered; a restarted agent rebuilds
  the call from its in-flight journal, a standby tracked it all along): its recording is
  started now, late. Part of the call on record is better than none; the row's start says
  where it begins, so QA's timeline stays aligned.
* **A recording that ended while no agent ran** (the caller hung up in the gap): its file
  waits in the PBX's spool with nobody to keep it. It is looked for when the tracker
  finishes a call that asked for a recording this agent never made (a call that ended in
  the gap is finished at the AMI resync), and the whole spool is looked through after each
  take-over and every :data:`SWEEP_SECONDS`. Such a file is kept like any other, placed
  at the call's answer (``qa.records.save_call_recording``), unless it is still being
  written, the call has a recording row already (the previous agent kept it and its
  delete of the PBX copy had not gone through), or the call is not stored in this agent's
  database (a file of another system's, or of a call no agent measured, is left alone).

Only for the snoop recorder: a ``MixMonitor`` file of a call in flight is not an ARI live
recording, so it could not be told from a finished one here.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol

from ivr_agent.core.commands import StartRecording
from ivr_agent.core.outcome import call_id_for
from ivr_agent.pbx.ari import AriError, JsonObject
from ivr_agent.platform.logging import get_logger
from ivr_agent.qa import calls_recorded
from ivr_agent.recordings.inbound import RECORDING_PREFIX

if TYPE_CHECKING:
    from ivr_agent.recordings.inbound import InboundRecorder

log = get_logger(__name__)

#: How often the spool is looked through for recordings nobody kept.
SWEEP_SECONDS = 60.0
#: A snoop's recording finishes a moment after its call's last Hangup.
FINISH_GRACE_SECONDS = 1.0
#: Parked recordings read to tell whether a file is parked already (more: an outage).
PARKED_LIMIT = 100_000


class TrackedCalls(Protocol):
    """The calls in flight, as the tracker knows them (``core.tracker.Tracker``)."""

    def recordings_due(self) -> tuple[StartRecording, ...]: ...

    def __contains__(self, linkedid: object) -> bool: ...


class RecordingTakeover:
    """Takes over the recordings the previous agent of this app left (see the module)."""

    def __init__(
        self, recorder: InboundRecorder, calls: TrackedCalls | None, *, catch_up: bool
    ) -> None:
        """``calls``: the tracker's calls in flight (None: none known, e.g. AMI off).
        ``catch_up``: start the missing recordings and keep the ones left in the spool (the
        snoop recorder); False adopts running recordings only."""
        self.recorder = recorder
        self.calls = calls
        self.catch_up = catch_up and calls is not None
        if self.catch_up:
            recorder.on_unrecorded_end = self.look_for

    async def run(self, channels: list[JsonObject] | None = None) -> int:
        """Adopt the running recordings, then (``catch_up``) start the missing ones and keep
        the ones left in the spool. ``channels``: the PBX's listing, if the caller has it.
        How many recordings were adopted. Never raises."""
        if channels is None:
            try:
                channels = await self.recorder.ivr.client.channels()
            except AriError as exc:
                log.warning("inbound_recording_adoption_failed", error=str(exc))
                return 0
        adopted = 0
        for channel in channels:
            try:
                adopted += await self.recorder.adopt(channel)
            except Exception:  # one odd channel must not stop the others
                log.exception("inbound_recording_adoption_failed", channel=channel.get("id"))
        if adopted:
            log.info("inbound_recordings_adopted", count=adopted)
        if self.catch_up:
            # Only after every running recording is adopted: a late start of an adopted
            # call would record it twice under one name.
            self.start_missing(channels)
            await self.sweep_spool()
        return adopted

    async def on_reconnect(self, channels: list[JsonObject]) -> None:
        """:meth:`run` as the router's reconnection hook."""
        await self.run(channels)

    def start_missing(self, channels: list[JsonObject]) -> int:
        """Start the recording of each call in flight that asked for one and has none, if
        its caller's channel is among ``channels`` (the PBX's listing: a call that ended in
        the gap has nothing left to record). How many were started."""
        assert self.calls is not None
        live = {c.get("id") for c in channels}
        started = 0
        for command in self.calls.recordings_due():
            if self.recorder.has_recorded(command.linkedid) or command.channel_id not in live:
                continue
            log.warning(
                "inbound_recording_started_late",
                call_id=command.call_id,
                answered_at=command.at.isoformat(),
            )
            self.recorder.stats["started_late"] += 1
            self.recorder.start(command)
            started += 1
        return started

    async def sweep_spool(self) -> int:
        """Keep each recording of ours left finished in the PBX's spool whose call is
        stored and no longer in flight (see :meth:`_keep_unrecorded`); a file of a call this
        agent's database does not hold is left alone. How many were kept. Never raises."""
        assert self.calls is not None
        try:
            stored = await self.recorder.ivr.client.stored_recordings()
        except AriError as exc:
            log.warning("inbound_recording_spool_unread", error=str(exc))
            return 0
        names = [r.get("name") for r in stored]
        linkedids = [
            n.removeprefix(RECORDING_PREFIX)
            for n in names
            if isinstance(n, str) and n.startswith(RECORDING_PREFIX)
        ]
        left = [i for i in linkedids if i not in self.calls and not self.recorder.has_recorded(i)]
        return await self._keep_unrecorded(left, listed=True)

    def look_for(self, linkedid: str) -> None:
        """The tracker finished the call ``linkedid``, which asked for a recording this
        agent never made: keep the one an earlier agent left, if there is one."""

        async def after_its_finish() -> None:
            await asyncio.sleep(FINISH_GRACE_SECONDS)
            if not self.recorder.has_recorded(linkedid):
                await self._keep_unrecorded([linkedid], listed=False)

        self.recorder.spawn(after_its_finish(), f"left-over-lookup-{linkedid}")

    async def _keep_unrecorded(self, linkedids: list[str], *, listed: bool) -> int:
        """Keep each ``ivr-agent-in-<linkedid>`` from the spool unless its call has a
        recording row (the previous agent kept it), it is parked to be settled, or it is
        not a finished recording on the PBX (:meth:`_keep_if_finished`). ``listed``: the
        files were in the spool's listing (the sweep), where a call not stored is one this
        agent's database does not hold: left alone. Otherwise they are of a call this
        agent's tracker just finished, whose row the outbox may not have written yet. How
        many were kept. Never raises."""
        recorder = self.recorder
        by_call = {call_id_for(recorder.settings.pbx_id, i): i for i in linkedids}
        try:
            recorded = await calls_recorded(recorder.db, by_call.keys())
            unrecorded = [
                linkedid
                for call_id, linkedid in by_call.items()
                if recorded.get(call_id) is False or (call_id not in recorded and not listed)
            ]
            parked = await self._parked_names() if unrecorded else set()
        except Exception as exc:  # the database or the disk: the next sweep looks again
            log.warning("inbound_recording_left_over_unchecked", calls=len(by_call), error=str(exc))
            return 0
        kept = 0
        for linkedid in unrecorded:
            if RECORDING_PREFIX + linkedid not in parked:
                kept += await self._keep_if_finished(linkedid, listed=listed)
        return kept

    async def _keep_if_finished(self, linkedid: str, *, listed: bool) -> bool:
        """Keep ``ivr-agent-in-<linkedid>`` if it is in the spool (``listed``: it was in the
        listing) and not an ARI live recording (an agent we know nothing of is writing
        it). Whether it was kept."""
        name, client = RECORDING_PREFIX + linkedid, self.recorder.ivr.client
        if not listed:
            try:
                await client.stored_recording(name)
            except AriError:
                return False  # 404: nothing was left (else not sure: the next sweep looks again)
        try:
            await client.live_recording(name)
            return False  # still being written
        except AriError as exc:
            if exc.status != 404:
                return False  # not sure: the next sweep looks again
        if self.recorder.has_recorded(linkedid):  # kept meanwhile (a lookup and a sweep)
            return False
        self.recorder.keep_left_over(linkedid)
        return True

    async def _parked_names(self) -> set[str]:
        """The PBX names of the recordings parked to be settled (their PBX copy is the
        settler's to delete)."""
        pending = self.recorder.settler.pending
        entries = await asyncio.to_thread(pending.entries, PARKED_LIMIT)
        return {e.pbx_name for e in entries if e.pbx_name is not None}

    async def sweep_every(self, seconds: float = SWEEP_SECONDS) -> None:
        """Look through the spool every ``seconds`` (a background task)."""
        if not self.catch_up:
            return
        while True:
            await asyncio.sleep(seconds)
            await self.sweep_spool()
