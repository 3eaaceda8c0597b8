"""Fetching a callback's recording from the PBX after the call (``callbacks/call.py``).

A PBX restarted mid-call answers 503 "Asterisk not booted" for a few seconds, then serves
the recording it kept on disk (seen in CI: the fetch gave up at the first 503 and the
attempt was written without its recording). The fake ARI below plays those answers back; the
live test of the restart is ``test_callbacks_live.py``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from ivr_agent.callbacks.journal import Journal
from ivr_agent.callbacks.recording_fetch import fetch_and_store
from ivr_agent.pbx.ari import AriError
from tests.integration.qa_support import make_wav


class BootingPbx:
    """ARI whose ``download_stored_recording`` fails with the given statuses, then answers."""

    def __init__(self, failures: list[int | None], wav: bytes) -> None:
        self.failures = list(failures)
        self.wav = wav
        self.fetches = 0
        self.deleted: list[str] = []

    async def download_stored_recording(self, name: str, target: Path) -> int:
        self.fetches += 1
        if self.failures:
            status = self.failures.pop(0)
            raise AriError("GET", f"/recordings/stored/{name}/file", status, "not booted")
        await asyncio.to_thread(target.write_bytes, self.wav)
        return len(self.wav)

    async def delete_stored_recording(self, name: str) -> None:
        self.deleted.append(name)


async def test_given_a_pbx_still_booting_then_the_recording_is_fetched_once_it_is_up(
    tmp_path: Path,
) -> None:
    wav = make_wav(2.0)
    pbx = BootingPbx([503, None, 503], wav)
    stored, problem = await fetch_and_store(
        pbx,  # type: ignore[arg-type]
        Journal(tmp_path),
        tmp_path,
        "a" * 32,
        "ivr-agent-cbr-x",
        2.0,
    )
    assert problem is None
    assert stored is not None
    assert stored.status == "ok"
    assert (tmp_path / stored.path).read_bytes() == wav
    assert (pbx.fetches, pbx.deleted) == (4, ["ivr-agent-cbr-x"])


async def test_given_a_recording_the_pbx_does_not_have_then_it_gives_up_after_short_waits(
    tmp_path: Path,
) -> None:
    pbx = BootingPbx([404] * 10, b"")
    stored, problem = await fetch_and_store(
        pbx,  # type: ignore[arg-type]
        Journal(tmp_path),
        tmp_path,
        "b" * 32,
        "ivr-agent-cbr-y",
        None,
    )
    assert stored is None
    assert problem is not None
    assert problem.startswith("fetch failed: 404")
    assert pbx.fetches == 4  # the first try and three short waits
