"""Leadership per PBX: exactly one active agent per ``pbx_id``, as a PostgreSQL advisory lock.

Theory of operation: every agent started with leader election on opens one dedicated
connection to PostgreSQL (not from the pool) and tries ``pg_try_advisory_lock`` on a key
derived from its ``pbx_id``. The agent whose try succeeds is the leader (active) for as
long as that connection lives; the others are standbys and try again every
``poll_seconds``. A session-level advisory lock was chosen over a lease row with
heartbeats because it is released by PostgreSQL itself the moment the holder's session
ends — a SIGKILLed or OOM-killed agent, a rebooted host whose kernel resets the socket —
with no clock, no expiry to wait for and no writes while nothing changes; a standby takes
over within one poll interval of the leader's death.

The one case the lock does not settle by itself is a network partition between the leader
and PostgreSQL: the server frees the lock only once it notices the dead client, and the
leader must not act on after that. So the leader checks its lock connection every poll
(a ``SELECT 1`` answered within ``check_timeout``; a connection the server closed —
``pg_terminate_backend``, a server restart — is noticed at once through asyncpg's
termination listener) and steps down as soon as the check fails. The server side of the
lock connection is given short TCP keepalives (:data:`SERVER_KEEPALIVES`: a silent client is
dropped after about 8 s), longer than the leader's poll plus check timeout, so a
partitioned leader has stopped acting before a standby can get the lock.

Nothing here knows what "acting" means: :class:`Leadership` calls ``on_change(True)`` after
it took the lock and ``on_change(False)`` after it lost it; the composition root starts and
stops the active parts there.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # no stubs

from ivr_agent.platform.active_parts import ActiveParts
from ivr_agent.platform.health import Readiness, State
from ivr_agent.platform.logging import get_logger
from ivr_agent.platform.tasks import background

log = get_logger(__name__)

#: Prefix of the text whose hash is the lock key (``hashtextextended``): keys of other
#: applications sharing the database are unlikely to collide with it.
LOCK_NAMESPACE = "ivr-agent leader:"
#: How the lock connection shows in ``pg_stat_activity`` (operators, and tests, find it so).
APPLICATION_NAME = "ivr-agent-leader"
#: The server drops a silent lock connection after idle + interval × count ≈ 8 s, which
#: frees the lock of a leader cut off from the database (ignored over a Unix socket).
SERVER_KEEPALIVES = {
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "1",
    "tcp_keepalives_count": "3",
}
CONNECT_TIMEOUT_SECONDS = 5.0

#: Opens the dedicated lock connection.
Connect = Callable[[], Awaitable[asyncpg.Connection]]
#: Told of every change: True after the lock was taken, False after it was lost.
OnChange = Callable[[bool], Awaitable[None]]


def lock_connector(connect_params: Mapping[str, Any]) -> Connect:
    """How to open the lock connection with ``connect_params`` (asyncpg's keyword
    arguments: host, port, user, password, database)."""

    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(
            **connect_params,
            timeout=CONNECT_TIMEOUT_SECONDS,
            server_settings={"application_name": APPLICATION_NAME, **SERVER_KEEPALIVES},
        )

    return connect


class Leadership:
    """This agent's claim on the leadership of one PBX (see the module docstring).

    :meth:`try_acquire` once at start (a single agent is active at once, as without
    election), then :meth:`run` until cancelled; :meth:`close` releases the lock.
    """

    def __init__(
        self,
        connect: Connect,
        pbx_id: str,
        *,
        poll_seconds: float,
        on_change: OnChange,
        on_held_elsewhere: Callable[[], None] | None = None,
        check_timeout: float | None = None,
    ) -> None:
        """``on_held_elsewhere``: called each time a try finds another agent holding the
        lock (unlike a try that could not reach the database, this says someone else
        acts). ``check_timeout``: how long the leader's check of its connection may take
        before it steps down (default: the poll interval, at least 0.5 s)."""
        self.pbx_id = pbx_id
        self.poll_seconds = poll_seconds
        self.check_timeout = check_timeout if check_timeout is not None else max(poll_seconds, 0.5)
        self._connect = connect
        self._on_change = on_change
        self._on_held_elsewhere = on_held_elsewhere
        self._conn: asyncpg.Connection | None = None
        self._leader = False
        self._wake = asyncio.Event()
        self._rested_until = 0.0
        #: Times this agent gained and lost the leadership (exported as counters).
        self.gained = 0
        self.lost = 0

    @property
    def is_leader(self) -> bool:
        """Whether this agent holds the lock (and so acts for its PBX) now."""
        return self._leader

    @property
    def backend_pid(self) -> int | None:
        """The PostgreSQL backend pid of the lock connection (None: not connected)."""
        conn = self._conn
        return None if conn is None or conn.is_closed() else conn.get_server_pid()

    async def try_acquire(self) -> bool:
        """One try for the lock (connecting first if needed); on success become the leader
        and tell ``on_change``. False when another agent holds it or the database cannot
        be reached; never raises for either."""
        if self._leader:
            return True
        try:
            conn = await self._connection()
            async with asyncio.timeout(self.check_timeout):
                taken = await conn.fetchval(
                    "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                    LOCK_NAMESPACE + self.pbx_id,
                )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.debug("leadership try failed", pbx_id=self.pbx_id, error=str(exc))
            await self._drop_connection()
            return False
        if not taken:
            if self._on_held_elsewhere is not None:
                self._on_held_elsewhere()
            return False
        self._leader = True
        self.gained += 1
        log.warning("leadership gained: this agent is now the active one", pbx_id=self.pbx_id)
        try:
            await self._on_change(True)
        except Exception:
            # Half-started parts are no leader: let a standby have the lock.
            log.exception("starting the active parts failed; giving the leadership up")
            await self._step_down("the active parts did not start")
            return False
        return True

    async def run(self) -> None:
        """Forever: as leader, check the lock connection every poll and step down when it
        fails; as standby, try for the lock every poll."""
        while True:
            if self._leader:
                problem = await self._check()
                if problem is not None:
                    await self._step_down(problem)
                    # The standbys' turn first: a leader whose connection blipped must not
                    # grab the lock back before them and flap.
                    self._rested_until = time.monotonic() + 2 * self.poll_seconds
            elif time.monotonic() >= self._rested_until:
                await self.try_acquire()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    async def close(self) -> None:
        """Release the lock by closing its connection (after the caller stopped acting)."""
        self._leader = False
        await self._drop_connection()

    async def _connection(self) -> asyncpg.Connection:
        conn = self._conn
        if conn is None or conn.is_closed():
            conn = self._conn = await self._connect()
            conn.add_termination_listener(self._terminated)
        return conn

    def _terminated(self, _conn: object) -> None:
        # The server closed the lock connection: the lock is gone now, act on it at once.
        self._wake.set()

    async def _check(self) -> str | None:
        """None while the lock connection answers; else why the lock must count as lost."""
        conn = self._conn
        if conn is None or conn.is_closed():
            return "the lock connection was closed"
        try:
            async with asyncio.timeout(self.check_timeout):
                await conn.fetchval("SELECT 1")
        except TimeoutError:
            return f"the lock connection did not answer within {self.check_timeout:g} s"
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            return f"the lock connection failed: {exc}"
        return None

    async def _step_down(self, why: str) -> None:
        was_leader = self._leader
        self._leader = False
        if was_leader:
            self.lost += 1
            log.warning(
                "leadership lost: this agent stops acting and stands by",
                pbx_id=self.pbx_id,
                why=why,
            )
            # Stop acting first, release after: never two agents acting at once.
            try:
                await self._on_change(False)
            except Exception:
                log.exception("stopping the active parts failed")
        await self._drop_connection(wait=False)

    async def _drop_connection(self, *, wait: bool = True) -> None:
        """Close the lock connection (releasing the lock); ``wait=False``: at once, without
        the goodbye a connection cut off from the server would never get an answer to."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            conn.remove_termination_listener(self._terminated)
        if not wait:
            conn.terminate()
            return
        try:
            async with asyncio.timeout(1.0):
                await conn.close()
        except Exception:
            conn.terminate()


#: Readiness components of the parts only the active agent runs (ARI and what uses it).
LEFT_TO_LEADER = ("ari", "prompts")


def _mark(readiness: Readiness, role: str) -> None:
    """Show ``role`` on ``/readyz``; a standby's :data:`LEFT_TO_LEADER` parts are in state
    ``standby`` (ready: the active agent runs them)."""
    readiness.role = role
    for name in LEFT_TO_LEADER:
        component = readiness.components.get(name)
        if component is None or component.state is State.DISABLED:
            continue
        if role == "standby":
            component.set(State.STANDBY, "used by the active agent of this PBX")
        elif component.state is State.STANDBY:
            component.set(State.CONNECTING)


@contextlib.asynccontextmanager
async def elected(
    connect: Connect,
    pbx_id: str,
    *,
    poll_seconds: float,
    active: ActiveParts,
    readiness: Readiness,
    on_held_elsewhere: Callable[[], None] | None = None,
) -> AsyncIterator[Leadership]:
    """Run ``active`` while this agent leads ``pbx_id``, for the duration of the block: one
    try at once (the first agent is active when the block starts), then a try every poll
    while standing by. On the way out the parts stop before the lock is released, so that
    a standby taking over at once never acts beside this agent."""

    async def changed(leader: bool) -> None:
        if leader:
            _mark(readiness, "active")
            await active.start()
        else:
            await active.stop()
            _mark(readiness, "standby")

    lead = Leadership(
        connect,
        pbx_id,
        poll_seconds=poll_seconds,
        on_change=changed,
        on_held_elsewhere=on_held_elsewhere,
    )
    if not await lead.try_acquire():
        _mark(readiness, "standby")
        log.warning(
            "standing by: another agent is active for this PBX, or the database is down",
            pbx_id=pbx_id,
        )
    try:
        async with background(lead.run(), "leadership"):
            yield lead
    finally:
        await active.stop()
        await lead.close()
