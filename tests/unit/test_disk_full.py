"""A full or failing data directory (issue 14's chaos run, ``disk_full``): nothing raises out
of the parts that write there, and /readyz says so at once.

A real full disk needs a size-limited tmpfs (``benchmarks/chaos.py --faults disk_full``);
here the refusals are real ones a test can make without root tricks: a path whose parent is
a file (``NotADirectoryError``), or a write function failing a set number of times.
"""

from __future__ import annotations

import asyncio
import errno
from pathlib import Path
from typing import Any

import pytest

from ivr_agent.callbacks.journal import Journal, JournalEntry
from ivr_agent.platform import disk
from ivr_agent.platform.health import Component, State
from ivr_agent.recordings.inbound import InboundRecorder, LiveRecording


def test_given_a_refused_journal_write_then_the_callback_goes_on_and_it_is_counted(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path)
    (tmp_path / "callbacks").write_text("not a directory")  # every write is refused
    written = journal.write(JournalEntry("0123456789abcdef0123456789abcdef"))
    assert written is False
    assert journal.write_failures == 1


def test_given_a_writable_journal_then_the_entry_reads_back(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    entry = JournalEntry("0123456789abcdef0123456789abcdef", answered_at=1.5)
    assert journal.write(entry) is True
    assert journal.read(entry.attempt_id) == entry


class Refusing:
    """A disk write refused ``times`` times (ENOSPC), then done."""

    def __init__(self, times: int) -> None:
        self.left = times
        self.calls = 0

    def __call__(self, value: str) -> str:
        self.calls += 1
        if self.left:
            self.left -= 1
            raise OSError(errno.ENOSPC, "No space left on device")
        return value.upper()


def recorder() -> Any:
    # Only the disk-retry part is exercised: no ARI, no database behind it.
    box = InboundRecorder.__new__(InboundRecorder)
    box.stats = {"disk_retries": 0}
    box.disk_retry_seconds = 0.0
    return box


async def test_given_a_full_disk_when_keeping_a_recording_then_it_is_tried_again_not_lost() -> None:
    box = recorder()
    work = Refusing(times=3)
    live = LiveRecording("c1", "1.1", "ivr-agent-in-1.1", "snoop")
    assert await InboundRecorder._on_disk(box, "keep", live, work, "ok") == "OK"
    assert work.calls == 4
    assert box.stats["disk_retries"] == 3


async def test_given_a_disk_that_never_recovers_then_the_retry_gives_up_after_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("ivr_agent.recordings.disk_wait.DISK_RETRY_LIMIT_SECONDS", 0.05)
    box = recorder()
    box.disk_retry_seconds = 0.01
    live = LiveRecording("c1", "1.1", "ivr-agent-in-1.1", "snoop")
    with pytest.raises(OSError, match="No space"):
        await InboundRecorder._on_disk(box, "keep", live, Refusing(times=10**6), "x")


@pytest.mark.parametrize(
    ("free", "state"), [(disk.MIN_FREE_BYTES - 1, State.DOWN), (10**9, State.UP)]
)
async def test_given_the_free_space_then_readyz_says_whether_the_data_dir_is_full(
    free: int, state: State, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(disk, "free_bytes", lambda _path: free)
    component = Component("data_dir")
    await disk.disk_probe(tmp_path, component)()
    assert component.state is state
    assert ("MiB free" in component.detail) is (state is State.DOWN)


async def test_given_a_real_directory_then_its_free_space_is_read(tmp_path: Path) -> None:
    assert disk.free_bytes(tmp_path) > 0
    component = Component("data_dir")
    await asyncio.wait_for(disk.disk_probe(tmp_path / "missing", component)(), 5)
    assert component.state is State.DOWN
