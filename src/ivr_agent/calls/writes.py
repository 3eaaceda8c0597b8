"""Writing call outcomes: the ``calls`` row and its holds, prompts and timeline.

The outbox saves a batch of outcomes in one transaction (``save_outcomes``); everything
else saves one (``save_outcome``). Both go through the same statements, built once at
import: an upsert keyed by ``(pbx_id, linkedid)`` and a plain insert per child table,
executed with parameters. Building the statements per call (``insert(...).values(...)``,
the ``excluded`` alias of 28 columns, the ORM's bulk-insert bookkeeping) was most of the
outbox's CPU in benchmarks/load.py's profile; the children of a whole batch now go in one
``executemany`` per table.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, delete, literal_column
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ivr_agent.callbacks import (
    answer_in_place,
    callback_for_abandoned,
    in_transaction,
    request_for_queue_callback,
)
from ivr_agent.core.callbacks import CallbackConfig
from ivr_agent.core.config import StandardsConfig
from ivr_agent.core.outcome import CallOutcome
from ivr_agent.core.timeline import TimelineEvent
from ivr_agent.db.clock import database_now
from ivr_agent.db.database import Database
from ivr_agent.db.models import CallEventRow, CallRow, HoldRow, PromptPlayedRow, table_of

_CALLS = table_of(CallRow)
_HOLDS = table_of(HoldRow)
_PROMPTS = table_of(PromptPlayedRow)
_EVENTS = table_of(CallEventRow)
_CHILD_TABLES = (_HOLDS, _PROMPTS, _EVENTS)

# Columns rewritten when an already-stored call is saved again: all but the key and the
# first-stored time, so a re-save leaves exactly the row a first save would have written.
_UPDATED_ON_CONFLICT = [c.name for c in _CALLS.columns if c.name not in {"call_id", "created_at"}]
_INSERT_CALL = pg_insert(_CALLS)
# The stored call_id wins: children must hang off the row that exists. ``xmax = 0``: the
# row was inserted now, not updated (PostgreSQL's mark of a row no transaction replaced).
_UPSERT_CALL = _INSERT_CALL.on_conflict_do_update(
    constraint="uq_calls_pbx_id_linkedid",
    set_={name: _INSERT_CALL.excluded[name] for name in _UPDATED_ON_CONFLICT},
).returning(_CALLS.c.call_id, literal_column("xmax = 0", Boolean))

OutcomeWithTimeline = tuple[CallOutcome, Sequence[TimelineEvent]]
#: A call's hold, prompt and event rows, in the order of ``_CHILD_TABLES``.
ChildRows = tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]


def call_values(outcome: CallOutcome) -> dict[str, Any]:
    """The ``calls`` row of ``outcome``."""
    offset = outcome.offered_at.utcoffset() or timedelta(0)
    return {
        "call_id": outcome.call_id,
        "pbx_id": outcome.pbx_id,
        "linkedid": outcome.linkedid,
        "direction": outcome.direction,
        "caller_number": outcome.caller_number,
        "operator_id": outcome.operator_id,
        "offered_at": outcome.offered_at,
        "wait_started_at": outcome.wait_started_at,
        "answered_at": outcome.answered_at,
        "ended_at": outcome.ended_at,
        "ring_seconds": outcome.ring_seconds,
        "rings": outcome.rings,
        "answered_within_standard": outcome.answered_within_standard,
        "abandoned": outcome.abandoned,
        "short_abandon": outcome.short_abandon,
        "max_hold_seconds": outcome.max_hold_seconds,
        "hold_over_limit": outcome.hold_over_limit,
        "silence": outcome.silence,
        "talk_seconds": outcome.talk_seconds,
        "duration_seconds": outcome.duration_seconds,
        "over_max_duration": outcome.over_max_duration,
        "hung_up_by": outcome.hung_up_by,
        "operator_hung_up_first": outcome.operator_hung_up_first,
        "recording_id": outcome.recording_id,
        "complete": outcome.complete,
        "incomplete_reason": outcome.incomplete_reason,
        "extra": dict(outcome.extra),
        "utc_offset_seconds": int(offset.total_seconds()),
    }


def _child_rows(call_id: str, outcome: CallOutcome, timeline: Sequence[TimelineEvent]) -> ChildRows:
    holds = [
        {
            "call_id": call_id,
            "seq": seq,
            "started_at": h.started_at,
            "ended_at": h.ended_at,
            "seconds": h.seconds,
            "reminders_played": h.reminders_played,
        }
        for seq, h in enumerate(outcome.holds)
    ]
    prompts = [
        {
            "call_id": call_id,
            "seq": seq,
            "prompt": p.prompt,
            "at": p.at,
            "played": p.played,
            "finished": p.finished,
            "played_to": p.to,
        }
        for seq, p in enumerate(outcome.prompts_played)
    ]
    events = [
        {
            "call_id": call_id,
            "seq": seq,
            "at": e.at,
            "kind": e.kind,
            "channel": e.channel,
            "details": dict(e.details),
        }
        for seq, e in enumerate(timeline)
    ]
    return holds, prompts, events


async def save_outcomes(
    session: AsyncSession,
    outcomes: Sequence[OutcomeWithTimeline],
    *,
    callbacks: CallbackConfig | None = None,
    now: datetime | None = None,
    queue_callbacks: CallbackConfig | None = None,
    standards: StandardsConfig | None = None,
) -> list[str]:
    """Store finished calls with their holds, prompts and timelines in ``session``'s
    transaction (the caller commits); return their call ids in order.

    The same rules as :func:`save_outcome` for each outcome, in order; an outcome saved
    twice in the batch ends as its last save.
    """
    for outcome, _ in outcomes:
        outcome.to_json()  # every time carries a zone: fail before touching the database
    return await _write(
        session,
        outcomes,
        callbacks=callbacks,
        now=now,
        queue_callbacks=queue_callbacks,
        standards=standards,
    )


async def _write(
    session: AsyncSession,
    outcomes: Sequence[OutcomeWithTimeline],
    *,
    callbacks: CallbackConfig | None,
    now: datetime | None,
    queue_callbacks: CallbackConfig | None,
    standards: StandardsConfig | None,
) -> list[str]:
    """:func:`save_outcomes` once every outcome's times are known to carry a zone."""
    # A call saved twice in one batch keeps its last save's rows, as two transactions would.
    children: dict[str, ChildRows] = {}
    call_ids: list[str] = []
    # now(): the transaction's start, the same for the whole batch (one query, not one
    # per outcome).
    at = now
    for outcome, timeline in outcomes:
        row = (await session.execute(_UPSERT_CALL, call_values(outcome))).one()
        call_id: str = row[0]
        inserted: bool = row[1]
        # Children are replaced as a whole: simpler and as idempotent as diffing, and a
        # re-save after more events arrived (complete: false → true) gets the new lists. A
        # call inserted now has none in the database (their foreign keys need the row).
        if not inserted:
            for table in _CHILD_TABLES:
                await session.execute(delete(table).where(table.c.call_id == call_id))
        children[call_id] = _child_rows(call_id, outcome, timeline)
        call_ids.append(call_id)
        if callbacks is not None:
            at = at or await database_now(session)
            await callback_for_abandoned(session, outcome, call_id, callbacks, at)
        if queue_callbacks is not None and "queue_callback" in outcome.extra:
            at = at or await database_now(session)
            await request_for_queue_callback(session, outcome, call_id, queue_callbacks, at)
        if standards is not None and outcome.direction == "callback":
            await answer_in_place(session, outcome, standards)
    for index, table in enumerate(_CHILD_TABLES):
        rows = [row for of_call in children.values() for row in of_call[index]]
        if rows:
            await session.execute(table.insert(), rows)
    return call_ids


async def save_outcome(
    target: Database | AsyncSession,
    outcome: CallOutcome,
    timeline: Sequence[TimelineEvent] = (),
    *,
    callbacks: CallbackConfig | None = None,
    now: datetime | None = None,
    queue_callbacks: CallbackConfig | None = None,
    standards: StandardsConfig | None = None,
) -> str:
    """Store a finished call with its holds, prompts and timeline, atomically; return its id.

    Idempotent: saving the same outcome again leaves exactly the same rows (the call is
    keyed by ``(pbx_id, linkedid)``; its children are replaced). Saving a newer outcome of
    the same call replaces the older one. With ``callbacks`` (automatic callbacks for
    abandoned calls are on), an abandoned inbound call gets its callback in the same
    transaction, scheduled from ``now`` (default: the database's ``now()``, not this host's
    clock, which may be off), at most once however often the call is saved. With
    ``queue_callbacks``, a caller who pressed 1 in the queue (``extra.queue_callback``) gets
    their in-queue callback request the same way (S8); with ``standards``, a return call an
    operator answered makes its request's original call answered (S1, the wait kept counting:
    ``callbacks.answer_in_place``). Raises
    ``ValueError`` for a time without a zone and :class:`~ivr_agent.db.errors.StoreError` if
    the database refuses or is down.
    """
    outcome.to_json()  # every time carries a zone: fail before touching the database

    async def work(session: AsyncSession) -> str:
        (call_id,) = await _write(
            session,
            [(outcome, timeline)],
            callbacks=callbacks,
            now=now,
            queue_callbacks=queue_callbacks,
            standards=standards,
        )
        return call_id

    return await in_transaction(target, "save outcome", work)
