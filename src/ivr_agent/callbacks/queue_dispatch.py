"""The dispatcher of in-queue callback requests: dial each when its place reaches the front.

Theory of operation (S8, issue 18): every ``IVR_AGENT_QUEUE_CALLBACK_POLL_SECONDS``, for each
queue with requests waiting (or in flight), the agent asks the PBX for the queue's state with
AMI ``QueueStatus`` (no write class needed; the reply comes to this connection only, past
the event filter): the callers waiting (``QueueEntry``: ``Wait`` in whole seconds) and the
members (``QueueMember``: free when its device is not in use and it is not in a call; paused
and why). The pure rules (``core/queue_callbacks.py``) decide which operator to keep for
which request, whom to dial and which operators to give back; ``callbacks/queue_requests.py``
applies that once under a per-queue lock. Then the kept operators are paused in the queue
and the given-back ones unpaused — through the hook ``ivr-agent-queue-member`` (a Local
channel originated over ARI runs ``PauseQueueMember()``/``UnpauseQueueMember()``: the AMI
user keeps its ``call,user`` write classes) — and the dialer is woken to place each released
request as a return call that rejoins the queue with ``QUEUE_PRIO``
(``callbacks/return_call.py``). Our own return calls waiting in the queue (channel ids
``ivr-agent-cb-…``) are recognised: once one waits there, its operator is given back and the
queue rings them for it.

A queue the PBX does not know (or an AMI that does not answer) releases nothing: the
requests wait, and the next poll tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from ivr_agent.callbacks.dialing import CHANNEL_PREFIX
from ivr_agent.callbacks.queue_requests import dispatch_in_place, queues_waiting
from ivr_agent.core.queue_callbacks import (
    QueuedCaller,
    QueueMember,
    QueueSnapshot,
    plan_dispatch,
    reservation_reason,
)
from ivr_agent.db.errors import StoreError
from ivr_agent.pbx.ami import AmiError, flatten
from ivr_agent.pbx.ari import AriError
from ivr_agent.platform.logging import get_logger

if TYPE_CHECKING:
    from ivr_agent.db.database import Database
    from ivr_agent.pbx.ami import AmiConnection
    from ivr_agent.pbx.session import Ivr

log = get_logger(__name__)

#: ``QueueMember`` ``Status`` (device states): free (AST_DEVICE_NOT_INUSE), and the states of
#: a member who cannot take calls at all (invalid, unavailable).
FREE_DEVICE_STATE = "1"
UNREACHABLE_DEVICE_STATES = frozenset({"4", "5"})
#: A database outage shorter than this keeps the operators paused for requests (their places
#: hold); a longer one gives them back to the queue, so callers are not left waiting beside
#: idle operators for as long as the outage lasts.
OUTAGE_GRACE_SECONDS = 30.0
#: ``QueueEntry`` ``Wait`` is whole seconds: a caller may have joined up to this much earlier.
WAIT_RESOLUTION = timedelta(seconds=1)
#: The hook context that pauses and unpauses a queue member (ivr-agent-hooks.conf).
MEMBER_CONTEXT = "ivr-agent-queue-member"


def _flag(message: Mapping[str, str], name: str) -> bool:
    return message.get(name, "0") not in ("0", "", "false")


#: When a channel (Uniqueid) joined its queue, by its ``QueueCallerJoin`` event, if known.
JoinTimes = Callable[[str], "datetime | None"]


def snapshot_of(
    queue: str,
    messages: Iterable[Mapping[str, str]],
    now: datetime,
    joined: JoinTimes | None = None,
) -> QueueSnapshot | None:
    """The queue's :class:`QueueSnapshot` from a ``QueueStatus`` reply read at ``now`` (PBX
    time); None when the reply does not list the queue. A caller's join time is its
    ``QueueCallerJoin`` event's (``joined``: the tracker's) when known, else the earliest its
    whole-second ``Wait`` allows."""
    callers: list[QueuedCaller] = []
    members: list[QueueMember] = []
    known = False
    for message in messages:
        if message.get("Queue") != queue:
            continue
        event = message.get("Event")
        if event == "QueueParams":
            known = True
        elif event == "QueueMember":
            status = message.get("Status", "")
            members.append(
                QueueMember(
                    interface=message.get("Location") or message.get("StateInterface") or "",
                    reachable=status not in UNREACHABLE_DEVICE_STATES,
                    busy=status != FREE_DEVICE_STATE or _flag(message, "InCall"),
                    paused=_flag(message, "Paused"),
                    paused_reason=message.get("PausedReason", ""),
                )
            )
        elif event == "QueueEntry":
            try:
                wait = int(message.get("Wait") or 0)
            except ValueError:
                wait = 0
            uniqueid = message.get("Uniqueid") or ""
            exact = joined(uniqueid) if joined is not None and uniqueid else None
            callers.append(
                QueuedCaller(
                    uniqueid,
                    # Unknown: the earliest it may have joined (a same-second caller counts
                    # as earlier: a request may wait, never overtake).
                    exact or now - timedelta(seconds=wait) - WAIT_RESOLUTION,
                    return_call=uniqueid.startswith(CHANNEL_PREFIX),
                )
            )
    if not known:
        return None
    return QueueSnapshot(queue, tuple(callers), tuple(m for m in members if m.interface))


class QueueCallbackDispatcher:
    """Keeps operators for in-queue callback requests and releases the requests in their
    places; :meth:`run` until cancelled."""

    def __init__(
        self,
        ivr: Ivr,
        db: Database,
        *,
        wake: Callable[[], None],
        poll_seconds: float,
        pbx_now: Callable[[], float],
        joined: JoinTimes | None = None,
        outage_grace_seconds: float = OUTAGE_GRACE_SECONDS,
    ) -> None:
        """``joined``: the exact queue join of a channel the agent tracks (its
        ``QueueCallerJoin``), so callers a second apart are told apart.
        ``outage_grace_seconds``: how long the database may stay out of reach before the
        operators kept for requests are given back to their queues."""
        assert ivr.ami is not None
        self.joined = joined
        self.ami: AmiConnection = ivr.ami
        self.client = ivr.client
        self.db = db
        self.wake = wake
        self.poll_seconds = poll_seconds
        self.pbx_now = pbx_now
        self.outage_grace_seconds = outage_grace_seconds
        #: Requests released by this agent since start.
        self.released = 0
        #: Operators given back because the database stayed out of reach.
        self.given_back_in_outages = 0
        #: The queues of the last poll that read the database (and the monotonic time of it).
        self.known_queues: list[str] = []
        self._database_read_at = time.monotonic()

    async def run(self) -> None:
        """Poll forever; a failed poll is logged and tried again at the next one. While the
        database stays out of reach past the grace, the operators kept for requests are
        given back to their queues (callers keep being served); the next poll that reads the
        database pauses them again for the requests that still keep them."""
        while True:
            try:
                await self.tick()
            except StoreError as exc:
                log.warning("queue_callback_poll_failed", error=str(exc))
                if time.monotonic() - self._database_read_at > self.outage_grace_seconds:
                    await self.give_back_kept_operators()
            except (AmiError, AriError) as exc:
                log.warning("queue_callback_poll_failed", error=str(exc))
            await asyncio.sleep(self.poll_seconds)

    async def give_back_kept_operators(self) -> int:
        """Unpause every operator the agent paused for a request in the queues it knows (from
        the PBX's ``QueueStatus`` alone: the database is out of reach); how many."""
        given = 0
        for queue in self.known_queues:
            with contextlib.suppress(AmiError):
                snapshot = await self.snapshot(queue)
                for member in snapshot.members if snapshot is not None else ():
                    if member.ours:
                        log.warning(
                            "queue_callback_operator_given_back_database_down",
                            queue=queue,
                            member=member.interface,
                        )
                        await self.change_member(queue, member.interface, "unpause", "")
                        given += 1
        self.given_back_in_outages += given
        return given

    async def tick(self) -> list[str]:
        """One poll of every queue with requests; the ids released for dialling."""
        released: list[str] = []
        queues = await queues_waiting(self.db)
        self.known_queues, self._database_read_at = queues, time.monotonic()
        for queue in queues:
            snapshot = await self.snapshot(queue)
            if snapshot is None:
                log.warning("queue_callback_queue_unknown", queue=queue)
                continue
            plan = await dispatch_in_place(self.db, queue, partial(plan_dispatch, snapshot))
            # Keep first, give back next: a freed operator is never free for a moment too
            # many; the dialer is woken last, once its operator is kept.
            for callback_id, member in plan.reserve:
                log.info("queue_callback_operator_kept", callback_id=callback_id, member=member)
                await self.change_member(queue, member, "pause", reservation_reason(callback_id))
            for callback_id, member in plan.restore:
                log.info("queue_callback_pause_restored", callback_id=callback_id, member=member)
                await self.change_member(queue, member, "pause", reservation_reason(callback_id))
            for member in plan.unpause:
                log.info("queue_callback_operator_given_back", queue=queue, member=member)
                await self.change_member(queue, member, "unpause", "")
            for callback_id in plan.dial:
                log.info(
                    "queue_callback_released",
                    callback_id=callback_id,
                    queue=queue,
                    free_operators=snapshot.free_operators,
                    waiting_callers=len(snapshot.callers),
                )
            released += plan.dial
        if released:
            self.released += len(released)
            self.wake()
        return released

    async def snapshot(self, queue: str) -> QueueSnapshot | None:
        """The queue's state now, from AMI ``QueueStatus``."""
        reply: Any = await self.ami.action({"Action": "QueueStatus", "Queue": queue}, as_list=True)
        now = datetime.fromtimestamp(self.pbx_now(), UTC)
        messages = [flatten(m) for m in reply] if isinstance(reply, list) else []
        return snapshot_of(queue, messages, now, self.joined)

    async def change_member(self, queue: str, member: str, action: str, reason: str) -> None:
        """Pause or unpause ``member`` in ``queue`` through the hook ``ivr-agent-queue-member``
        (a Local channel the ARI originates; it ends at once). A failure is logged: the
        request then waits (pause) or the next poll tries again (unpause)."""
        try:
            await self.client.originate(
                f"Local/{action}@{MEMBER_CONTEXT}/n",
                channel_id=f"ivr-agent-qm-{uuid.uuid4()}",
                context=MEMBER_CONTEXT,
                extension="done",
                priority=1,
                timeout=5,
                variables={
                    "IVR_AGENT_QUEUE": queue,
                    "IVR_AGENT_MEMBER": member,
                    "IVR_AGENT_REASON": reason,
                },
            )
        except AriError as exc:
            log.warning(
                "queue_callback_member_change_failed", member=member, action=action, error=str(exc)
            )


@contextlib.asynccontextmanager
async def running_dispatcher(dispatcher: QueueCallbackDispatcher) -> Any:
    """Run ``dispatcher`` for the duration of the block."""
    task = asyncio.create_task(dispatcher.run(), name="queue-callback-dispatcher")
    try:
        yield dispatcher
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
