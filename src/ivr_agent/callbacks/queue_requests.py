"""In-queue callback requests in PostgreSQL: stored from the call, released in their place.

Theory of operation (S8, issue 18; the rules are ``core/queue_callbacks.py``):

* A caller who pressed 1 at the queue's offer is a call whose outcome carries
  ``extra.queue_callback`` (its queue and its place, the queue join). Saving that call
  stores, in the same transaction, a callback of reason ``queue_callback`` with
  ``queue_name`` and ``queued_at`` (:func:`request_for_queue_callback`) — at most one per
  call (a unique index), whatever the automatic-callback setting says: it is a promise
  made to the caller. It is kept **waiting**: ``next_attempt_at`` is NULL, so the dialer
  never claims it by time.
* :func:`dispatch_in_place` is the only way out of waiting. Under a per-queue transaction
  lock (``pg_advisory_xact_lock``: agents sharing the database decide one after the other,
  each seeing the decisions before it), it reads the queue's requests, asks the pure rules
  (against the caller's queue snapshot) which operator to keep for whom and whom to dial
  now, notes the kept operator (``queue_member``) and marks the dialled ``released_at`` =
  ``next_attempt_at`` = now — conditional updates (``released_at IS NULL``), so a request
  is released once. Pausing and unpausing the operators in the queue is the caller's
  (``callbacks/queue_dispatch.py``). The dialer then claims each like any due callback
  (``FOR UPDATE SKIP LOCKED``: one attempt) and places a return call
  (``callbacks/return_call.py``).
* A released request whose return call fails is retried under S5's rules like any return
  call (interval, attempts); it no longer waits for a place.
* S1 (:func:`answer_in_place`): the caller's wait goes on while they are off the line. When
  the return call is stored and its operator answered, the request's original call becomes
  answered at that moment: ``ring_seconds = operator_answered_at(return call) −
  wait_started_at(original call)``. Until then it is neither answered nor abandoned.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import func, select, text, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ivr_agent.callbacks.sessions import in_transaction, utc
from ivr_agent.core.callbacks import CallbackConfig, check_customer_name, schedule
from ivr_agent.core.config import StandardsConfig
from ivr_agent.core.outcome import CallOutcome
from ivr_agent.core.phone import check_customer_number
from ivr_agent.core.queue_callbacks import Dispatch, WaitingRequest
from ivr_agent.core.standards import reported_us, ring_verdict
from ivr_agent.db.database import Database
from ivr_agent.db.models import CallbackAttemptRow, CallbackRow, CallRow

REASON = "queue_callback"
#: A request being dialled (or about to be): released and not yet done with.
_OPEN = ("pending", "in_progress")


async def request_for_queue_callback(
    session: AsyncSession,
    outcome: CallOutcome,
    call_id: str,
    config: CallbackConfig,
    now: datetime,
) -> str | None:
    """Store the in-queue callback request of a saved call, in the caller's transaction.

    Only an inbound call whose outcome says the caller asked (``extra.queue_callback``,
    with its place) and whose number can be dialled; saving the call again creates nothing.
    The id of the request, or None when there is none.
    """
    asked = outcome.extra.get("queue_callback")
    if outcome.direction != "inbound" or not isinstance(asked, dict):
        return None
    queue, queued = asked.get("queue"), asked.get("queued_at")
    if not isinstance(queue, str) or not queue or not isinstance(queued, str):
        return None
    try:
        number = check_customer_number(outcome.caller_number)
    except ValueError:
        return None  # a withheld or internal number cannot be called back
    try:
        name = check_customer_name(outcome.extra.get("caller_name"))
    except ValueError:
        name = None
    queued_at = utc("queued_at", datetime.fromisoformat(queued))
    plan = schedule(REASON, queued_at, now, config)
    stmt = (
        pg_insert(CallbackRow)
        .values(
            callback_id=str(uuid.uuid4()),
            pbx_id=outcome.pbx_id,  # its queue is that PBX's: dialled through it
            customer_number=number,
            customer_name=name,
            reason=REASON,
            reference_time=queued_at,
            due_at=plan.due_at,
            deadline=plan.deadline,
            status="pending",
            next_attempt_at=None,
            overdue=False,
            source_call_id=call_id,
            queue_name=queue,
            queued_at=queued_at,
            status_reason="waiting for its place in the queue",
        )
        .on_conflict_do_nothing(
            # A literal predicate, as in callbacks.jobs: a bound one fails in generic plans.
            index_elements=["source_call_id"],
            index_where=text(f"reason = '{REASON}'"),
        )
        .returning(CallbackRow.callback_id)
    )
    inserted = (await session.execute(stmt)).scalar()
    return str(inserted) if inserted is not None else None


async def queues_waiting(db: Database, pbx_id: str | None = None) -> list[str]:
    """The queues with requests still waiting for their place (or in flight), or keeping an
    operator not yet given back; of ``pbx_id``'s requests only, when given (a queue is one
    PBX's: another PBX may have a queue of the same name)."""

    async def work(session: AsyncSession) -> list[str]:
        query = select(CallbackRow.queue_name).where(
            CallbackRow.reason == REASON,
            CallbackRow.status.in_(_OPEN) | CallbackRow.queue_member.is_not(None),
        )
        if pbx_id is not None:
            query = query.where(CallbackRow.pbx_id == pbx_id)
        rows = await session.scalars(query.distinct())
        return sorted(q for q in rows if q)

    return await in_transaction(db, "list queues with callback requests", work)


def _waiting(row: CallbackRow, channels: dict[str, str]) -> WaitingRequest:
    assert row.queued_at is not None  # the CHECK constraint guarantees it
    in_flight = row.released_at is not None and (
        row.status == "in_progress" or row.attempts_made == 0
    )
    is_open = row.status in _OPEN and (row.released_at is None or in_flight)
    return WaitingRequest(
        row.callback_id,
        utc("queued_at", row.queued_at),
        in_flight and is_open,
        row.queue_member,
        channels.get(row.callback_id),
        is_open,
    )


async def dispatch_in_place(
    db: Database,
    queue: str,
    decide: Callable[[Sequence[WaitingRequest]], Dispatch],
    now: datetime | None = None,
    pbx_id: str | None = None,
) -> Dispatch:
    """Apply what ``decide`` makes of the open requests of ``queue``, once; what was applied.

    ``decide`` gets the queue's open requests (waiting, and released ones still in flight,
    with the operator kept for each and the channel of a return call in flight) and returns
    a :class:`~ivr_agent.core.queue_callbacks.Dispatch` (``plan_dispatch`` with the queue's
    snapshot). In one transaction under a per-queue lock, each step a conditional update:
    an operator is kept only for a request that has none, a request is released (``released_at``
    = ``next_attempt_at`` = now: the dialer claims it) only once, and a reservation that
    ended is forgotten. ``now`` defaults to the database's ``now()``. The result holds only
    what this call changed (another agent may have done the rest first), and the operators
    to give back to the queue. With ``pbx_id``, only that PBX's requests (its queue).
    """

    async def work(session: AsyncSession) -> Dispatch:
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"ivr-agent-queue-callback:{queue}"},
        )
        at = now if now is not None else await session.scalar(select(func.now()))
        assert at is not None
        rows = (
            await session.scalars(
                select(CallbackRow).where(
                    CallbackRow.reason == REASON,
                    CallbackRow.queue_name == queue,
                    # Waiting, or in flight (one released that failed waits for its S5
                    # retry, no longer for a place); or done with, still keeping an operator.
                    (
                        CallbackRow.status.in_(_OPEN)
                        & (
                            CallbackRow.released_at.is_(None)
                            | (CallbackRow.status == "in_progress")
                            | (CallbackRow.attempts_made == 0)
                        )
                    )
                    | CallbackRow.queue_member.is_not(None),
                    true() if pbx_id is None else CallbackRow.pbx_id == pbx_id,
                )
            )
        ).all()
        flying = [r.callback_id for r in rows if r.status == "in_progress"]
        channels: dict[str, str] = {}
        if flying:
            found = await session.execute(
                select(CallbackAttemptRow.callback_id, CallbackAttemptRow.channel_id).where(
                    CallbackAttemptRow.callback_id.in_(flying),
                    CallbackAttemptRow.state.in_(("dialling", "answered")),
                )
            )
            channels = {str(c): ch for c, ch in found.all()}
        requests = [_waiting(row, channels) for row in rows]
        plan = decide(requests)
        known = {r.callback_id for r in requests if r.open}
        reserved: list[tuple[str, str]] = []
        for callback_id, member in plan.reserve:
            if callback_id not in known:
                continue
            kept = await session.scalar(
                update(CallbackRow)
                .where(
                    CallbackRow.callback_id == callback_id,
                    CallbackRow.queue_member.is_(None),
                    CallbackRow.released_at.is_(None),
                )
                .values(queue_member=member, updated_at=at)
                .returning(CallbackRow.callback_id)
                .execution_options(synchronize_session=False)
            )
            if kept is not None:
                reserved.append((callback_id, member))
        dialled: list[str] = []
        if plan.dial:
            released = await session.scalars(
                update(CallbackRow)
                .where(
                    CallbackRow.callback_id.in_([c for c in plan.dial if c in known]),
                    CallbackRow.released_at.is_(None),
                    CallbackRow.queue_member.is_not(None),
                )
                .values(
                    released_at=at,
                    next_attempt_at=at,
                    due_at=at,
                    status_reason="its place reached the front of the queue",
                    updated_at=at,
                )
                .returning(CallbackRow.callback_id)
                .execution_options(synchronize_session=False)
            )
            dialled = [str(r) for r in released.all()]
        if plan.forget:
            await session.execute(
                update(CallbackRow)
                .where(CallbackRow.callback_id.in_(plan.forget))
                .values(queue_member=None, updated_at=at)
                .execution_options(synchronize_session=False)
            )
        order = {c: i for i, c in enumerate(plan.dial)}
        holding = {r.callback_id: r.member for r in requests if r.open}
        return Dispatch(
            tuple(reserved),
            tuple(sorted(dialled, key=order.__getitem__)),
            plan.unpause,
            plan.forget,
            # Only a request that still keeps that very operator has them paused again.
            tuple((c, m) for c, m in plan.restore if holding.get(c) == m),
        )

    return await in_transaction(db, f"dispatch callback requests of queue {queue}", work)


async def answer_in_place(
    session: AsyncSession, outcome: CallOutcome, standards: StandardsConfig
) -> str | None:
    """S1 for a caller who asked to be called back in their place, in the caller's
    transaction: once the return call's operator answered, the original call is answered.

    ``outcome`` is a stored return call (``direction`` callback, its ``linkedid`` an
    attempt's channel) whose queue part an operator answered
    (``extra.return_call.operator_answered_at``). If that attempt belongs to an in-queue
    callback request, the request's call (``source_call_id``) gets ``answered_at`` = that
    answer, ``ring_seconds`` = ``answered_at − wait_started_at`` (its queue join: the wait
    went on while the caller was off the line), its rings and S1 verdict, and the operator;
    ``extra.queue_callback`` notes the answer and the return call. The original call's id,
    or None when there is nothing to do.
    """
    facts = outcome.extra.get("return_call")
    if outcome.direction != "callback" or not isinstance(facts, dict):
        return None
    answered_text = facts.get("operator_answered_at")
    if not isinstance(answered_text, str):
        return None
    source = await session.scalar(
        select(CallbackRow.source_call_id)
        .join(CallbackAttemptRow, CallbackAttemptRow.callback_id == CallbackRow.callback_id)
        .where(
            CallbackAttemptRow.channel_id == outcome.linkedid,
            CallbackAttemptRow.pbx_id == outcome.pbx_id,
            CallbackRow.reason == REASON,
        )
    )
    if source is None:
        return None
    call = await session.get(CallRow, source, with_for_update=True)
    if call is None or call.wait_started_at is None:
        return None
    answered = utc("operator_answered_at", datetime.fromisoformat(answered_text))
    waited_us = max(round((answered - call.wait_started_at).total_seconds() * 1_000_000), 0)
    ring_us = reported_us(waited_us)
    rings, within = ring_verdict(ring_us, standards)
    call.answered_at = answered
    call.ring_seconds = ring_us / 1_000_000
    call.rings = rings
    call.answered_within_standard = within
    call.operator_id = outcome.operator_id
    asked = dict(call.extra.get("queue_callback") or {})
    asked.update(operator_answered_at=answered.isoformat(), return_call_linkedid=outcome.linkedid)
    call.extra = {**call.extra, "queue_callback": asked}
    return str(source)
