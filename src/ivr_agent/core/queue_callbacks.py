"""In-queue callback requests (S8, issue 18): which operator to keep for whom, whom to dial now.

A caller waiting in the admin's queue who presses 1 at the offer ("保留您的位置,稍后给您回电,
请按1") leaves the queue and is promised a return call that **keeps their place**: their
place is the moment they joined the queue (``queued_at``). :func:`plan_dispatch` decides,
from the queue's state (AMI ``QueueStatus``) and the stored requests:

1. **Never ahead of an earlier caller.** A request whose place is behind a caller still
   waiting in the queue (``joined_at < queued_at``) gets nothing yet, and no request behind
   it either (their places are later still): that caller is served first.
2. **In the order of their places** (ties: by id, so every agent decides alike), a request
   at the front **reserves an operator**: a free one if there is one, else one in a call —
   the next to come free. A reserved operator is paused in the queue (reason
   ``ivr-agent:<callback id>``), so a caller who joined *after* the request cannot take them
   meanwhile: the request keeps its place against later callers too.
3. **Never more than the free operators.** A request is dialled only when the operator
   reserved for it is free (not in a call, not ringing): one return call per free operator;
   a free operator is left to each of our return calls already waiting in the queue.
4. **The hand-over.** The return call rejoins the queue with a priority (ahead of later
   callers); once it waits there, its operator is unpaused and the queue rings them for it.
   A reservation whose request is done with (completed, failed, cancelled) is given back the
   same way, and forgotten once the queue shows the operator back.
   Only our own pauses are undone: an operator paused for another reason is never touched.
   An operator kept for a request who is found unpaused (given back while the database was
   out of reach, unpaused by hand, the PBX restarted) is paused again for it.
5. **Exactly once.** Releasing a request for dialling is a conditional update under a
   per-queue lock in PostgreSQL (``callbacks/queue_requests.py``), so agents sharing the
   database never dial a request twice.

A caller's join time is its ``QueueCallerJoin`` event's when the agent tracked it; else
AMI ``QueueStatus`` gives only its ``Wait`` in whole seconds, and the adapter gives the
**earliest** join time it may have had (``now − Wait − 1 s``), so a caller who joined in the
same second as a request counts as earlier — a request may wait longer, never overtake.
Time comes from the arguments; nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

#: The pause reason of an operator kept for a request: this prefix, then the callback id.
RESERVED_PREFIX = "ivr-agent:"


def reservation_reason(callback_id: str) -> str:
    """The queue pause reason of an operator reserved for request ``callback_id``."""
    return f"{RESERVED_PREFIX}{callback_id}"


@dataclass(frozen=True)
class QueuedCaller:
    """A channel waiting in the queue now."""

    uniqueid: str
    #: The earliest moment it may have joined (UTC).
    joined_at: datetime
    #: One of our return calls (queued again with its priority): never a caller ahead.
    return_call: bool = False


@dataclass(frozen=True)
class QueueMember:
    """An operator of the queue, as ``QueueStatus`` lists them."""

    interface: str
    #: Logged in and reachable (a device state other than unavailable or invalid).
    reachable: bool = True
    #: In a call or ringing: not free now.
    busy: bool = False
    paused: bool = False
    paused_reason: str = ""

    @property
    def ours(self) -> bool:
        """Paused by the agent for a request (never another pause)."""
        return self.paused and self.paused_reason.startswith(RESERVED_PREFIX)


@dataclass(frozen=True)
class QueueSnapshot:
    """The queue as AMI ``QueueStatus`` showed it: who waits, and its operators."""

    queue: str
    callers: tuple[QueuedCaller, ...] = ()
    members: tuple[QueueMember, ...] = ()

    @property
    def free_operators(self) -> int:
        """Operators who could take a call now: reachable, not busy, not paused."""
        return sum(1 for m in self.members if m.reachable and not m.busy and not m.paused)


@dataclass(frozen=True)
class WaitingRequest:
    """A stored in-queue callback request of this queue still open."""

    callback_id: str
    #: The caller's place: when they joined the queue (UTC).
    queued_at: datetime
    #: Released for dialling and not yet done with (being dialled, or about to be).
    in_flight: bool = False
    #: The operator reserved for it (their queue interface), if any.
    member: str | None = None
    #: Its return call's channel id while in flight (found in the queue once it rejoins).
    channel_id: str | None = None
    #: False: done with (completed, failed, cancelled) but its operator not yet given back.
    open: bool = True


@dataclass(frozen=True)
class Dispatch:
    """What to do now: operators to reserve (pause) for requests, requests to dial, and
    operators to give back to the queue (unpause)."""

    reserve: tuple[tuple[str, str], ...] = ()
    dial: tuple[str, ...] = ()
    unpause: tuple[str, ...] = ()
    #: Requests whose reservation ends (their return call is in the queue, or it was given
    #: back): the store forgets their operator.
    forget: tuple[str, ...] = field(default=())
    #: Requests still keeping an operator whose pause is gone (given back while the database
    #: was out of reach, unpaused by hand, the PBX restarted): paused again for them.
    restore: tuple[tuple[str, str], ...] = field(default=())


def place_order(request: WaitingRequest) -> tuple[datetime, str]:
    """The order requests are served in: their place, then their id (a stable tie-break)."""
    return request.queued_at, request.callback_id


def plan_dispatch(snapshot: QueueSnapshot, requests: Sequence[WaitingRequest]) -> Dispatch:
    """What to do with ``requests`` (the queue's open ones) given ``snapshot``; see the
    module's rules."""
    members = {m.interface: m for m in snapshot.members}
    queued_ids = {c.uniqueid for c in snapshot.callers if c.return_call}
    unpause: list[str] = []
    forget: list[str] = []
    held: dict[str, str] = {}  # interface → request keeping it
    handed: set[str] = set()  # operators handed to a return call waiting in the queue
    for request in requests:
        if request.member is None:
            continue
        if not request.open:
            # Done with: its operator goes back to the queue; forgotten once back.
            if members.get(request.member, QueueMember("")).ours:
                unpause.append(request.member)
            else:
                forget.append(request.callback_id)
            continue
        if request.in_flight and request.channel_id in queued_ids:
            # Its return call waits at the head of the queue: the operator is its now.
            forget.append(request.callback_id)
            handed.add(request.member)
            if members.get(request.member, QueueMember("")).ours:
                unpause.append(request.member)
            continue
        held[request.member] = request.callback_id
    # Our pauses that no open request holds any more are given back.
    for member in snapshot.members:
        if member.ours and member.interface not in held and member.interface not in unpause:
            unpause.append(member.interface)

    waiting_callers = [c.joined_at for c in snapshot.callers if not c.return_call]
    earliest_caller = min(waiting_callers) if waiting_callers else None
    reserve: list[tuple[str, str]] = []
    restore: list[tuple[str, str]] = []
    dial: list[str] = []
    # Operators that could be kept for a request: reachable, not paused by anyone else,
    # not kept for another request; free ones first (in a stable order).
    candidates = sorted(
        (
            m
            for m in snapshot.members
            if m.reachable
            and m.interface not in held
            # Given back this time (to a return call waiting for them, or free again):
            # the next decision sees where they went.
            and m.interface not in unpause
            and m.interface not in handed
            and (not m.paused or m.ours)
        ),
        key=lambda m: (m.busy, m.interface),
    )
    # Our return calls waiting in the queue are ahead of everyone (their priority): each will
    # take a free operator — one given back to it now, else one the queue may ring, else one
    # kept for a later request (given back to the queue, it would ring for them first) — so
    # as many are left to them.
    returning = sum(1 for c in snapshot.callers if c.return_call)
    ringable = sorted(
        (
            m
            for m in snapshot.members
            if m.reachable and not m.busy and (not m.paused or m.ours or m.interface in unpause)
        ),
        key=lambda m: (m.interface not in unpause, m.paused, m.interface),
    )
    left = {m.interface for m in ringable[:returning]}
    candidates = [m for m in candidates if m.interface not in left]
    if returning > len(ringable):
        # Return calls wait in the queue for an operator: the next one free is theirs, not
        # a later request's.
        candidates = []
    for request in sorted((r for r in requests if r.open and not r.in_flight), key=place_order):
        if earliest_caller is not None and earliest_caller < request.queued_at:
            break  # an earlier caller is still waiting: served first, and every later place
        kept = members.get(request.member) if request.member is not None else None
        if kept is None:
            if not candidates:
                break  # nobody to keep for it: later places wait behind it
            kept = candidates.pop(0)
            reserve.append((request.callback_id, kept.interface))
        if kept.interface in left:
            break  # a return call already in the queue takes this operator first
        if kept.interface == request.member and not kept.paused and kept.reachable:
            # Kept for it, but no longer paused: a caller who joined later could take them.
            restore.append((request.callback_id, kept.interface))
        # Free, and not paused by someone else meanwhile (a break: the customer would wait).
        if kept.reachable and not kept.busy and (not kept.paused or kept.ours):
            dial.append(request.callback_id)
    return Dispatch(tuple(reserve), tuple(dial), tuple(unpause), tuple(forget), tuple(restore))
