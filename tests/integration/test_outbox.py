"""The outbox keeps every finished call through a database outage, without duplicates."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ivr_agent.calls.outbox import Outbox
from ivr_agent.calls.spool_format import outcome_from_json
from ivr_agent.calls.store import load_outcome
from ivr_agent.core.outcome import CallOutcome
from ivr_agent.core.timeline import TimelineEvent
from ivr_agent.db.database import Database, connect
from ivr_agent.db.errors import StoreError
from ivr_agent.db.models import CallEventRow, CallRow
from tests.support.outcomes import T0, sample_outcome
from tests.support.waiting import until

pytestmark = pytest.mark.postgres
UNREACHABLE = "postgresql+asyncpg://nobody:x@127.0.0.1:1/none"


def _call(n: int) -> tuple[CallOutcome, list[TimelineEvent]]:
    start = T0 + timedelta(seconds=10 * n)
    outcome = sample_outcome(f"1763863200.{n}", start=start)
    return outcome, [TimelineEvent(start, "offered", "PJSIP/100-1", {"caller": "张三"})]


async def _count(db: Database) -> tuple[int, int]:
    async with db.sessions() as session:
        calls = await session.scalar(select(func.count()).select_from(CallRow))
        events = await session.scalar(select(func.count()).select_from(CallEventRow))
    return int(calls or 0), int(events or 0)


def test_outcome_json_round_trips() -> None:
    outcome, _ = _call(1)
    # The JSON contract keeps milliseconds: what is spooled reads back as the API shows it.
    assert outcome_from_json(outcome.to_json()).to_json() == outcome.to_json()


async def test_given_the_database_is_down_then_all_100_calls_land_once_it_is_back(
    tmp_path: Path, db: Database
) -> None:
    outbox = Outbox(tmp_path / "spool", backoff_initial=0.01, backoff_cap=0.05)
    async with connect(UNREACHABLE) as down:
        writer = asyncio.create_task(outbox.run(down))
        for n in range(100):
            outbox.put(*_call(n))
        # The writer has tried and failed at least once (however slow the machine is).
        await until(lambda: outbox.stats.write_failures >= 1)
        assert outbox.stats.pending == 100
        writer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await writer
    outbox.close()

    # The agent restarts: a new outbox on the same spool finds all 100 still there.
    restarted = Outbox(tmp_path / "spool")
    assert restarted.stats.pending == 100
    assert await restarted.drain(db) == 100
    assert await _count(db) == (100, 100)
    stored = await load_outcome(db, _call(42)[0].call_id)
    assert stored is not None
    assert stored.to_json() == _call(42)[0].to_json()
    assert stored.extra == {"caller_name": "张三"}
    # The spool is emptied once everything is written; draining again does nothing.
    assert restarted.spool.stat().st_size == 0
    assert await restarted.drain(db) == 0
    restarted.close()


async def test_given_the_spool_is_replayed_twice_then_nothing_changes(
    tmp_path: Path, db: Database
) -> None:
    outbox = Outbox(tmp_path / "spool")
    for n in range(5):
        outbox.put(*_call(n))
    spooled = outbox.spool.read_bytes()
    await outbox.drain(db)
    # Replay the same spool (e.g. restored from a backup) twice.
    for _ in range(2):
        outbox.spool.write_bytes(spooled)
        outbox.offset_file.write_text("0")
        await outbox.drain(db)
    assert await _count(db) == (5, 5)
    outbox.close()


async def test_given_a_torn_last_line_then_it_waits_and_a_corrupt_line_is_set_aside(
    tmp_path: Path, db: Database
) -> None:
    outbox = Outbox(tmp_path / "spool")
    outbox.put(*_call(1))
    with outbox.spool.open("ab") as spool:
        spool.write(b"not json\n")
        spool.write(b'{"outcome": {"call_id"')  # torn by a crash mid-write
    assert await outbox.drain(db) == 2
    assert await _count(db) == (1, 1)
    assert (tmp_path / "spool" / "outbox.rejected").read_bytes() == b"not json\n"
    outbox.close()


async def test_given_an_unreachable_database_then_drain_raises_the_store_error(
    tmp_path: Path,
) -> None:
    outbox = Outbox(tmp_path / "spool")
    outbox.put(*_call(1))
    async with connect(UNREACHABLE) as down:
        with pytest.raises(StoreError):
            await outbox.drain(down)
    assert outbox.stats.pending == 1
    outbox.close()
