"""In-queue callback requests (S8, issue 18): which waiting requests to dial now (pure).

A caller waiting in the admin's queue who presses 1 at the offer ("保留您的位置,稍后给您回电,
请按1") leaves the queue and is promised a return call that **keeps their place**: their
place is the moment they joined the queue (``queued_at``). The agent dials a waiting request
when that place reaches the front of the queue, by these rules (:func:`requests_to_dial`):

1. **Never ahead of an earlier caller.** A request whose place is behind a caller still
   waiting in the queue (``joined_at < queued_at``) is not dialled, and no request behind it
   either (their places are later still): that caller is served first.
2. **In the order of their places.** Requests are taken oldest place first (ties: by id, so
   every agent takes the same one).
3. **Never more than the free operators.** At most ``free operators − return calls in
   flight`` requests are dialled: a return call already dialled (released, or queued again
   with its priority) will take a free operator, so it counts against them. A customer called
   back never waits in the queue for an operator who is not there.
4. **Exactly once.** Only requests still waiting are considered; releasing one is a
   conditional update under a per-queue lock in PostgreSQL (``callbacks/queue_requests.py``),
   so agents sharing the database never dial a request twice.

The queue's callers come from AMI ``QueueStatus`` whose ``Wait`` is whole seconds: the
caller of the adapter gives each caller the **earliest** join time it may have had
(``now − Wait − 1 s``), so a caller who joined in the same second as a request counts as
earlier — a request may wait one poll longer, never overtake. Time comes from the
arguments; nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class QueuedCaller:
    """A channel waiting in the queue now."""

    uniqueid: str
    #: The earliest moment it may have joined (UTC).
    joined_at: datetime
    #: One of our return calls (queued again with its priority): it counts as in flight.
    return_call: bool = False


@dataclass(frozen=True)
class QueueSnapshot:
    """The queue as AMI ``QueueStatus`` showed it: who waits, how many operators are free."""

    queue: str
    callers: tuple[QueuedCaller, ...]
    #: Members that could take a call now: logged in, not paused, not in use or ringing.
    free_operators: int


@dataclass(frozen=True)
class WaitingRequest:
    """A stored in-queue callback request of this queue."""

    callback_id: str
    #: The caller's place: when they joined the queue (UTC).
    queued_at: datetime
    #: Released for dialling and not yet done with (being dialled, or about to be).
    in_flight: bool = False


def place_order(request: WaitingRequest) -> tuple[datetime, str]:
    """The order requests are served in: their place, then their id (a stable tie-break)."""
    return request.queued_at, request.callback_id


def requests_to_dial(
    snapshot: QueueSnapshot, requests: Sequence[WaitingRequest]
) -> tuple[str, ...]:
    """The ids of the waiting requests to dial now, in the order of their places.

    See the module's rules: the result is a prefix of the waiting (not in flight) requests
    sorted by place, cut at the first one an earlier caller still waits ahead of, and at
    most ``free_operators`` minus the return calls in flight long.
    """
    in_flight = sum(1 for r in requests if r.in_flight)
    in_flight += sum(1 for c in snapshot.callers if c.return_call)
    budget = snapshot.free_operators - in_flight
    waiting_callers = [c.joined_at for c in snapshot.callers if not c.return_call]
    earliest_caller = min(waiting_callers) if waiting_callers else None
    chosen: list[str] = []
    for request in sorted((r for r in requests if not r.in_flight), key=place_order):
        if budget <= 0:
            break
        if earliest_caller is not None and earliest_caller < request.queued_at:
            break  # an earlier caller is still waiting: served first, and so is every later place
        chosen.append(request.callback_id)
        budget -= 1
    return tuple(chosen)
