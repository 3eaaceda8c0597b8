"""The dispatcher of in-queue callback requests: dial each when its place reaches the front.

Theory of operation (S8, issue 18): every ``IVR_AGENT_QUEUE_CALLBACK_POLL_SECONDS``, for each
queue with requests waiting (or in flight), the agent asks the PBX for the queue's state with
AMI ``QueueStatus`` (no write class needed; the reply comes to this connection only, past
the event filter): the callers waiting (``QueueEntry``: ``Wait`` in whole seconds) and the
members (``QueueMember``: a member is free when its device is not in use, it is not paused
and not in a call). The pure rules (``core/queue_callbacks.py``) pick the requests to dial
now, and ``callbacks/queue_requests.py`` releases them once under a per-queue lock; the
dialer is woken and places each as a return call that rejoins the queue with
``QUEUE_PRIO`` (``callbacks/return_call.py``). Our own return calls waiting in the queue
(channel ids ``ivr-agent-cb-…``) count as in flight, not as callers ahead.

A queue the PBX does not know (or an AMI that does not answer) releases nothing: the
requests wait, and the next poll tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from ivr_agent.callbacks.dialing import CHANNEL_PREFIX
from ivr_agent.callbacks.queue_requests import queues_waiting, release_in_place
from ivr_agent.core.queue_callbacks import QueuedCaller, QueueSnapshot, requests_to_dial
from ivr_agent.db.errors import StoreError
from ivr_agent.pbx.ami import AmiError, flatten
from ivr_agent.platform.logging import get_logger

if TYPE_CHECKING:
    from ivr_agent.db.database import Database
    from ivr_agent.pbx.ami import AmiConnection

log = get_logger(__name__)

#: ``QueueMember`` ``Status``: the device state that can take a call (AST_DEVICE_NOT_INUSE).
FREE_DEVICE_STATE = "1"
#: ``QueueEntry`` ``Wait`` is whole seconds: a caller may have joined up to this much earlier.
WAIT_RESOLUTION = timedelta(seconds=1)


def snapshot_of(
    queue: str, messages: Iterable[Mapping[str, str]], now: datetime
) -> QueueSnapshot | None:
    """The queue's :class:`QueueSnapshot` from a ``QueueStatus`` reply read at ``now`` (PBX
    time); None when the reply does not list the queue."""
    callers: list[QueuedCaller] = []
    free = 0
    known = False
    for message in messages:
        if message.get("Queue") != queue:
            continue
        event = message.get("Event")
        if event == "QueueParams":
            known = True
        elif event == "QueueMember":
            busy = message.get("InCall", "0") not in ("0", "")
            paused = message.get("Paused", "0") not in ("0", "")
            if message.get("Status") == FREE_DEVICE_STATE and not busy and not paused:
                free += 1
        elif event == "QueueEntry":
            try:
                wait = int(message.get("Wait") or 0)
            except ValueError:
                wait = 0
            uniqueid = message.get("Uniqueid") or ""
            callers.append(
                QueuedCaller(
                    uniqueid,
                    # The earliest it may have joined: a same-second caller counts as earlier.
                    now - timedelta(seconds=wait) - WAIT_RESOLUTION,
                    return_call=uniqueid.startswith(CHANNEL_PREFIX),
                )
            )
    if not known:
        return None
    return QueueSnapshot(queue, tuple(callers), free)


class QueueCallbackDispatcher:
    """Releases in-queue callback requests in their places; :meth:`run` until cancelled."""

    def __init__(
        self,
        ami: AmiConnection,
        db: Database,
        *,
        wake: Callable[[], None],
        poll_seconds: float,
        pbx_now: Callable[[], float],
    ) -> None:
        self.ami = ami
        self.db = db
        self.wake = wake
        self.poll_seconds = poll_seconds
        self.pbx_now = pbx_now
        #: Requests released by this agent since start.
        self.released = 0

    async def run(self) -> None:
        """Poll forever; a failed poll is logged and tried again at the next one."""
        while True:
            try:
                await self.tick()
            except (StoreError, AmiError) as exc:
                log.warning("queue_callback_poll_failed", error=str(exc))
            await asyncio.sleep(self.poll_seconds)

    async def tick(self) -> list[str]:
        """One poll: release what the rules pick in every queue with requests; their ids."""
        released: list[str] = []
        for queue in await queues_waiting(self.db):
            snapshot = await self.snapshot(queue)
            if snapshot is None:
                log.warning("queue_callback_queue_unknown", queue=queue)
                continue
            ids = await release_in_place(self.db, queue, partial(requests_to_dial, snapshot))
            for callback_id in ids:
                log.info(
                    "queue_callback_released",
                    callback_id=callback_id,
                    queue=queue,
                    free_operators=snapshot.free_operators,
                    waiting_callers=len(snapshot.callers),
                )
            released += ids
        if released:
            self.released += len(released)
            self.wake()
        return released

    async def snapshot(self, queue: str) -> QueueSnapshot | None:
        """The queue's state now, from AMI ``QueueStatus``."""
        reply: Any = await self.ami.action({"Action": "QueueStatus", "Queue": queue}, as_list=True)
        now = datetime.fromtimestamp(self.pbx_now(), UTC)
        messages = [flatten(m) for m in reply] if isinstance(reply, list) else []
        return snapshot_of(queue, messages, now)


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
