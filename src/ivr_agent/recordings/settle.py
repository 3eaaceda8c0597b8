"""Settling a kept recording: its row written once the call's row exists, then the PBX's
copy deleted.

The call's row may come late (the outbox waits for PostgreSQL), so every recording is first
parked on disk (``recordings/pending.py``) and leaves the list only once its row is written
and the PBX's copy deleted. The recording's own task tries for ``call_row_wait_seconds``
(:meth:`RecordingSettler.settle_within_wait`); after that — or after a restart —
:meth:`RecordingSettler.run_pending` retries the parked ones every ``pending_retry_seconds``
for as long as it takes: a recording is never orphaned (a file without a row, a PBX copy
never deleted).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from pathlib import Path

from ivr_agent.db.database import Database
from ivr_agent.db.errors import StoreError
from ivr_agent.pbx.ari import AriClient, AriError
from ivr_agent.platform.logging import get_logger
from ivr_agent.qa import save_call_recording
from ivr_agent.recordings.pending import PendingRecording, PendingRecordings

log = get_logger(__name__)

#: How long a recording's own task waits for the call's row before leaving it parked.
CALL_ROW_WAIT_SECONDS = 300.0
CALL_ROW_RETRY_SECONDS = 1.0
PENDING_RETRY_SECONDS = 60.0
#: Row writes at once. Past the PBX's saturation (recordings finishing in bursts at 25
#: calls/s, the outbox a little behind) hundreds of them held every connection of the pool:
#: the outbox waited 30 s for one, fell further behind, and no call was stored for minutes.
ROW_WRITERS = 2


class RecordingSettler:
    """Writes the rows of parked recordings and deletes their PBX copies.

    ``stats`` is the recorder's counter dict: the settler adds to ``ok`` / ``corrupt`` /
    ``missing`` (rows written, by status) and ``unparked``.
    """

    def __init__(
        self, client: AriClient, db: Database, data_dir: Path, stats: dict[str, int]
    ) -> None:
        self.client = client
        self.db = db
        self.stats = stats
        self.pending = PendingRecordings(data_dir)
        self.call_row_wait_seconds = CALL_ROW_WAIT_SECONDS
        self.call_row_retry_seconds = CALL_ROW_RETRY_SECONDS
        self.pending_retry_seconds = PENDING_RETRY_SECONDS
        #: Recording ids whose own task is still writing them (a round leaves them alone).
        self._saving: set[str] = set()
        #: Leaves the rest of the database pool to the outbox and the API (ROW_WRITERS).
        self._row_writers = asyncio.Semaphore(ROW_WRITERS)

    def claim(self, recording_id: str) -> None:
        """The recording's own task settles it from now on: rounds leave it alone."""
        self._saving.add(recording_id)

    def release(self, recording_id: str) -> None:
        """The recording's own task is done with it (settled, or left to the rounds)."""
        self._saving.discard(recording_id)

    async def settle_within_wait(self, entry: PendingRecording) -> bool:
        """Settle a parked recording, trying again while the call's row is missing or the
        database is down, for ``call_row_wait_seconds``. False if that did not do it: the
        recording stays parked for :meth:`run_pending`."""
        deadline = time.monotonic() + self.call_row_wait_seconds
        while True:
            try:
                if await self.settle(entry):
                    return True
            except StoreError as exc:
                log.warning("inbound_recording_row_failed", error=str(exc), call_id=entry.call_id)
            if time.monotonic() > deadline:
                log.warning(
                    "inbound_recording_row_pending",
                    call_id=entry.call_id,
                    recording_id=entry.file.recording_id,
                )
                return False
            await asyncio.sleep(self.call_row_retry_seconds)

    async def settle(self, entry: PendingRecording) -> bool:
        """Write the parked recording's row and delete its PBX copy; True once both are
        done (the entry is then unparked). Raises StoreError while the database is down."""
        file = entry.file
        if not entry.row_written:
            started = entry.started_at
            async with self._row_writers:
                saved = await save_call_recording(
                    self.db,
                    call_id=entry.call_id,
                    file=file,
                    started_at=None if started is None else datetime.fromtimestamp(started, UTC),
                    kind=entry.kind,
                )
            if not saved:
                return False  # the call's row is not there yet
            self.stats[file.status] += 1
            log.info(
                "inbound_recording_stored",
                call_id=entry.call_id,
                recording_id=file.recording_id,
                status=file.status,
                reason=file.reason,
                seconds=file.seconds,
            )
            entry = entry.with_(row_written=True)
        if entry.pbx_name is not None:
            try:
                await self.client.delete_stored_recording(entry.pbx_name)
            except AriError as exc:
                if exc.status != 404:  # 404: deleted already
                    log.warning(
                        "inbound_recording_pbx_copy_kept", name=entry.pbx_name, error=str(exc)
                    )
                    # Parked on: note the row as written, so the next round only deletes
                    # (a shortcut; writing the row again would change nothing). Not noted
                    # when the delete succeeds at once, the usual case: that would be one
                    # more fsynced write per recording, removed again a moment later.
                    with contextlib.suppress(OSError):
                        await asyncio.to_thread(self.pending.put, entry)
                    return False
        await asyncio.to_thread(self.pending.remove, file.recording_id)
        self.stats["unparked"] += 1
        return True

    async def retry_pending(self) -> int:
        """One round over the parked recordings (not those a task is still writing); how
        many were settled. Stops at the first database error: it is down, try later."""
        settled = 0
        for entry in await asyncio.to_thread(self.pending.entries):
            if entry.file.recording_id in self._saving:
                continue
            try:
                if await self.settle(entry):
                    settled += 1
            except StoreError as exc:
                log.warning("inbound_recording_pending_retry_failed", error=str(exc))
                break
        if settled:
            log.info("inbound_recordings_unparked", settled=settled)
        return settled

    async def run_pending(self) -> None:
        """Retry the parked recordings now (those a previous run left) and every
        ``pending_retry_seconds`` after, until cancelled. Never raises otherwise."""
        while True:
            try:
                await self.retry_pending()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("inbound_recording_pending_round_failed")
            await asyncio.sleep(self.pending_retry_seconds)
