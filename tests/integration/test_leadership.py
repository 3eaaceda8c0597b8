"""Leadership per PBX against the real test PostgreSQL: two agents contend for one PBX's
advisory lock, one wins; killing the winner's lock connection (``pg_terminate_backend``, as
PostgreSQL does for a dead client) hands the lock to the other within a poll; a leader cut
off from the database (its connection stalls) stops acting by itself."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from ivr_agent.db.database import Database, connect
from ivr_agent.platform.leadership import Leadership, lock_connector
from tests.support.pg_outage import PostgresDoor

pytestmark = pytest.mark.postgres

POLL = 0.2


class Contender:
    """One agent's leadership with a record of what it was told, and when."""

    def __init__(self, db: Database, pbx_id: str = "pbx-a", **options: float) -> None:
        params = db.engine.dialect.create_connect_args(db.url)[1]
        self.changes: list[tuple[bool, float]] = []
        self.acting = False
        self.held_elsewhere = 0
        self.lead = Leadership(
            lock_connector(params),
            pbx_id,
            poll_seconds=POLL,
            on_change=self._changed,
            on_held_elsewhere=self._held_elsewhere,
            **options,
        )

    def _held_elsewhere(self) -> None:
        self.held_elsewhere += 1

    async def _changed(self, leader: bool) -> None:
        self.acting = leader
        self.changes.append((leader, time.monotonic()))


async def _wait_for(condition: Callable[[], bool], within: float) -> float:
    """Seconds until ``condition`` held (fails the test after ``within``)."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > within:
            pytest.fail(f"not within {within} s")
        await asyncio.sleep(0.01)
    return time.monotonic() - start


@contextlib.asynccontextmanager
async def _running(*contenders: Contender) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(c.lead.run()) for c in contenders]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for contender in contenders:
            await contender.lead.close()


async def _terminate(db: Database, pid: int) -> None:
    async with db.engine.connect() as conn:
        await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


async def test_given_two_agents_of_one_pbx_when_both_try_then_exactly_one_leads(
    db: Database,
) -> None:
    first, second = Contender(db), Contender(db)
    other_pbx = Contender(db, pbx_id="pbx-b")
    try:
        assert await first.lead.try_acquire()
        assert not await second.lead.try_acquire()
        # Another PBX has a lock of its own.
        assert await other_pbx.lead.try_acquire()
        assert (first.acting, second.acting, other_pbx.acting) == (True, False, True)
        async with _running(first, second):
            await asyncio.sleep(POLL * 5)  # polls come and go; nothing changes hands
            assert (first.lead.is_leader, second.lead.is_leader) == (True, False)
            assert second.changes == []
            # Each of the second's tries found the lock held by another agent.
            assert second.held_elsewhere >= 3
            assert first.held_elsewhere == 0
    finally:
        for contender in (first, second, other_pbx):
            await contender.lead.close()


async def test_given_a_leader_whose_lock_connection_is_killed_then_it_stops_and_the_standby_takes_over_within_a_poll(  # noqa: E501
    db: Database,
) -> None:
    leader, standby = Contender(db), Contender(db)
    assert await leader.lead.try_acquire()
    async with _running(leader, standby):
        pid = leader.lead.backend_pid
        assert pid is not None
        killed_at = time.monotonic()
        await _terminate(db, pid)
        await _wait_for(lambda: not leader.acting, within=2.0)
        await _wait_for(lambda: standby.acting, within=POLL * 3 + 1)
        stopped = leader.changes[-1][1] - killed_at
        took_over = standby.changes[-1][1] - killed_at
        # The termination listener: the leader notices at once, not at its next poll.
        assert stopped < POLL, f"the old leader acted on for {stopped:.2f} s"
        assert took_over < POLL * 2 + 0.5, f"the standby took {took_over:.2f} s"
        assert leader.changes == [(True, leader.changes[0][1]), (False, leader.changes[1][1])]
        # The old leader now stands by: it does not get the lock back while the new one lives.
        await asyncio.sleep(POLL * 3)
        assert (leader.lead.is_leader, standby.lead.is_leader) == (False, True)


async def test_given_a_leader_that_dies_with_its_process_then_the_lock_is_free_at_once(
    db: Database,
) -> None:
    # A process that dies closes its sockets: the server ends the session and its lock.
    leader, standby = Contender(db), Contender(db)
    assert await leader.lead.try_acquire()
    await leader.lead.close()
    assert await standby.lead.try_acquire()
    await standby.lead.close()


async def test_given_a_leader_cut_off_from_the_database_then_it_stops_acting_by_itself(
    migrated_database_url: URL,
) -> None:
    door = StallingDoor(migrated_database_url)
    await door.open()
    try:
        async with connect(door.url) as behind:
            leader = Contender(behind, check_timeout=0.3)
            assert await leader.lead.try_acquire()
            async with _running(leader):
                cut_at = time.monotonic()
                door.stall()  # packets go nowhere; no reset, no close: a partition
                await _wait_for(lambda: not leader.acting, within=3.0)
                stopped = leader.changes[-1][1] - cut_at
                assert stopped < POLL + 0.3 + 0.3, f"acted on for {stopped:.2f} s"
                # It keeps trying (and failing) without acting again; it cannot tell that
                # another agent holds the lock (it reaches no database).
                await asyncio.sleep(POLL * 3)
                assert not leader.lead.is_leader
                assert not leader.acting
                assert leader.held_elsewhere == 0
    finally:
        door.resume()
        await door.close()


class StallingDoor(PostgresDoor):
    """A relay to PostgreSQL that can stop carrying bytes without closing anything."""

    def __init__(self, target: URL) -> None:
        super().__init__(target)
        self._flowing = asyncio.Event()
        self._flowing.set()

    def stall(self) -> None:
        """Hold every byte from now on (both ways), as a cut network does."""
        self._flowing.clear()

    def resume(self) -> None:
        """Carry bytes again."""
        self._flowing.set()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._flowing.is_set():
            await self._flowing.wait()  # a new connection hangs too
        await super()._accept(reader, writer)
