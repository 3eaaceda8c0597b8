"""Fetching a callback's finished recording from the PBX, verifying and keeping it (S5: every
callback keeps its recording): what an answered call does at its end
(``CallbackCall.stop_and_keep``) and reconciliation does for a call that ended while the
agent was down (``callbacks/reconcile.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from ivr_agent.callbacks.journal import Journal, JournalEntry
from ivr_agent.pbx.ari import AriClient, AriError
from ivr_agent.platform.logging import get_logger
from ivr_agent.recordings import (
    RecordingFile,
    download_when_disk_allows,
    keep_verified_file,
    when_disk_allows,
)

log = get_logger(__name__)

#: Fetching a finished recording: the short waits while the PBX has not stored it yet (404)…
NOT_FOUND_RETRY_SECONDS = (0.2, 0.5, 1.0)
#: … and how long to wait for a PBX that is down or booting (no reply, 502–504).
PBX_BACK_SECONDS = 60.0
PBX_RESTARTING = frozenset({None, 502, 503, 504})


async def fetch_and_store(
    client: AriClient,
    journal: Journal,
    data_dir: Path,
    attempt_id: str,
    recording_name: str,
    expected_seconds: float | None,
) -> tuple[RecordingFile | None, str | None]:
    """Fetch a finished recording from the PBX, verify and store it, then delete it there.

    The stored file is noted in the journal *before* the PBX copy is deleted, so a crash in
    between loses nothing. Returns (stored file, None) or (None, why there is no file).
    """
    fetched: Path | None = None
    problem = "not found on the PBX"
    loop = asyncio.get_running_loop()
    pbx_back_by = loop.time() + PBX_BACK_SECONDS
    not_found = iter(NOT_FOUND_RETRY_SECONDS)
    delay = 0.0
    while True:
        await asyncio.sleep(delay)
        try:
            # The customer is hung up already: waiting for disk space holds nobody on the line.
            fetched = await download_when_disk_allows(
                lambda target: client.download_stored_recording(recording_name, target),
                data_dir,
                what={"attempt_id": attempt_id},
            )
            break
        except AriError as exc:
            problem = f"fetch failed: {exc.status or 'no reply'} {exc.message}"
            if exc.status == 404:
                # Not stored yet (the PBX closes the file after RecordingFinished), or not at
                # all: a few short waits tell them apart.
                next_delay = next(not_found, None)
            elif exc.status in PBX_RESTARTING and loop.time() < pbx_back_by:
                # The PBX is down or booting (503 "Asterisk not booted" after a restart):
                # the file is on its disk, and the customer is gone already — wait for it.
                next_delay = 1.0
            else:
                next_delay = None
            if next_delay is None:
                break
            delay = next_delay
    if fetched is None:
        log.warning("callback_recording_missing", attempt_id=attempt_id, problem=problem)
        return None, problem
    stored = await when_disk_allows(
        keep_verified_file, data_dir, fetched, expected_seconds, what={"attempt_id": attempt_id}
    )
    entry = journal.read(attempt_id) or JournalEntry(attempt_id)
    journal.write(entry.with_(stored=stored))
    log.info(
        "callback_recording_stored",
        attempt_id=attempt_id,
        recording_id=stored.recording_id,
        seconds=stored.seconds,
        expected_seconds=None if expected_seconds is None else round(expected_seconds, 3),
        status=stored.status,
        reason=stored.reason,
    )
    with contextlib.suppress(AriError):
        await client.delete_stored_recording(recording_name)
    return stored, None
