"""Reading call outcomes (the ``calls`` table and its children); writing them is
``calls/writes.py``'s (``save_outcome`` is re-exported here).

Every read returns what ``CallOutcome.to_json()`` returns — the same keys, order and
number formatting — because it rebuilds the :class:`CallOutcome` and calls ``to_json()``
on it, instead of formatting rows a second way.

Functions take a :class:`Database` (each call is its own transaction) or an open
``AsyncSession`` (the caller owns the transaction and commits it; e.g. to save an outcome
and create its callback atomically).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from ivr_agent.callbacks import in_transaction
from ivr_agent.calls.links import linked_calls
from ivr_agent.calls.writes import save_outcome as save_outcome  # its old home
from ivr_agent.core.ids import is_uuid
from ivr_agent.core.outcome import CallOutcome, HoldInterval, PromptPlayed
from ivr_agent.core.timeline import TimelineEvent
from ivr_agent.db.database import Database
from ivr_agent.db.errors import UnknownCursorError
from ivr_agent.db.models import (
    CallEventRow,
    CallRow,
    HoldRow,
    PromptPlayedRow,
    RecordingRow,
)

#: Largest page ``list_calls`` returns; callers page with ``after_call_id``.
MAX_PAGE = 10_000


async def _stored_recordings(session: AsyncSession, ids: Sequence[str]) -> dict[str, str]:
    """The newest ``recordings`` row of each call, by call id (what the QA replay plays).

    An inbound call's outcome is stored when the call ends, before its recording has been
    fetched and verified, so ``calls.recording_id`` stays empty; the recording's row names
    the call instead. Newest = last by ``(created_at, recording_id)``, as the replay bundle
    picks it; a ``corrupt``, ``missing`` or ``purged`` one counts too (its metadata says so).
    """
    rows = await session.execute(
        select(RecordingRow.call_id, RecordingRow.recording_id)
        # A caller's spoken suggestion is not the call's recording.
        .where(RecordingRow.call_id.in_(ids), RecordingRow.kind == "call")
        .order_by(RecordingRow.created_at, RecordingRow.recording_id)
    )
    # A call has one recording or a few: the last of each call wins.
    return {call_id: recording_id for call_id, recording_id in rows if call_id is not None}


async def _load_outcomes(session: AsyncSession, rows: Sequence[CallRow]) -> list[CallOutcome]:
    ids = [row.call_id for row in rows]
    holds: dict[str, list[HoldRow]] = defaultdict(list)
    prompts: dict[str, list[PromptPlayedRow]] = defaultdict(list)
    recordings: dict[str, str] = {}
    if ids:
        recordings = await _stored_recordings(session, ids)
        for hold in await session.scalars(
            select(HoldRow).where(HoldRow.call_id.in_(ids)).order_by(HoldRow.call_id, HoldRow.seq)
        ):
            holds[hold.call_id].append(hold)
        for prompt in await session.scalars(
            select(PromptPlayedRow)
            .where(PromptPlayedRow.call_id.in_(ids))
            .order_by(PromptPlayedRow.call_id, PromptPlayedRow.seq)
        ):
            prompts[prompt.call_id].append(prompt)
    return [
        _outcome(row, holds[row.call_id], prompts[row.call_id], recordings.get(row.call_id))
        for row in rows
    ]


def _outcome(
    row: CallRow,
    holds: list[HoldRow],
    prompts: list[PromptPlayedRow],
    stored_recording: str | None = None,
) -> CallOutcome:
    zone = timezone(timedelta(seconds=row.utc_offset_seconds))

    def local(moment: datetime) -> datetime:
        return moment.astimezone(zone)

    def maybe(moment: datetime | None) -> datetime | None:
        return None if moment is None else moment.astimezone(zone)

    return CallOutcome(
        call_id=row.call_id,
        pbx_id=row.pbx_id,
        linkedid=row.linkedid,
        direction=row.direction,  # type: ignore[arg-type]  # CHECK constraint keeps it valid
        caller_number=row.caller_number,
        operator_id=row.operator_id,
        offered_at=local(row.offered_at),
        wait_started_at=maybe(row.wait_started_at),
        answered_at=maybe(row.answered_at),
        ended_at=local(row.ended_at),
        ring_seconds=row.ring_seconds,
        rings=row.rings,
        answered_within_standard=row.answered_within_standard,
        abandoned=row.abandoned,
        short_abandon=row.short_abandon,
        holds=tuple(
            HoldInterval(
                started_at=local(h.started_at),
                ended_at=maybe(h.ended_at),
                seconds=h.seconds,
                reminders_played=h.reminders_played,
            )
            for h in holds
        ),
        max_hold_seconds=row.max_hold_seconds,
        hold_over_limit=row.hold_over_limit,
        silence=row.silence,  # type: ignore[arg-type]  # CHECK constraint keeps it valid
        prompts_played=tuple(
            PromptPlayed(
                prompt=p.prompt,
                at=local(p.at),
                played=p.played,
                finished=p.finished,
                to=p.played_to,  # type: ignore[arg-type]  # CHECK constraint keeps it valid
            )
            for p in prompts
        ),
        talk_seconds=row.talk_seconds,
        duration_seconds=row.duration_seconds,
        over_max_duration=row.over_max_duration,
        hung_up_by=row.hung_up_by,  # type: ignore[arg-type]  # CHECK constraint keeps it valid
        operator_hung_up_first=row.operator_hung_up_first,
        # The recording stored for the call, which the recording routes serve, else the id
        # the outcome was saved with.
        recording_id=stored_recording or row.recording_id,
        complete=row.complete,
        incomplete_reason=row.incomplete_reason,
        extra=dict(row.extra),
    )


async def load_outcome(target: Database | AsyncSession, call_id: str) -> CallOutcome | None:
    """The stored outcome of ``call_id``, or ``None`` if there is none (or the id is malformed)."""
    if not is_uuid(call_id):
        return None

    async def work(session: AsyncSession) -> CallOutcome | None:
        row = await session.get(CallRow, call_id)
        if row is None:
            return None
        return (await _load_outcomes(session, [row]))[0]

    return await in_transaction(target, "read call", work)


async def get_call(target: Database | AsyncSession, call_id: str) -> dict[str, Any] | None:
    """The call as ``CallOutcome.to_json()`` returns it with its links (``calls.links``:
    the callback that placed it and the original call, the calls placed for it), or
    ``None`` if unknown; a return call (S8) also gives its ``return_call`` facts (queue
    join, operator's answer, wait)."""
    outcome = await load_outcome(target, call_id)
    if outcome is None:
        return None
    (call,) = await linked_calls(target, [outcome])
    if outcome.direction == "callback" and "return_call" in outcome.extra:
        call["return_call"] = outcome.extra["return_call"]
    return call


async def page_outcomes(
    target: Database | AsyncSession,
    *,
    since: datetime | None = None,
    limit: int = 100,
    after_call_id: str | None = None,
    pbx_ids: Sequence[str] | None = None,
) -> list[CallOutcome]:
    """Up to ``limit`` stored calls, oldest first by ``(ended_at, call_id)``.

    ``since`` keeps calls that ended at or after it (zone-aware), ``pbx_ids`` those of
    these PBXs (default every PBX's). ``after_call_id`` is the
    cursor: the last ``call_id`` of the previous page. Raises ``ValueError`` for a bad
    limit or a naive ``since``, :class:`UnknownCursorError` for a cursor that names no call.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be 1-{MAX_PAGE}")
    if since is not None and since.tzinfo is None:
        raise ValueError("since must carry a zone")
    if after_call_id is not None and not is_uuid(after_call_id):
        raise UnknownCursorError(f"cursor {after_call_id!r} is not a call id")

    async def work(session: AsyncSession) -> list[CallOutcome]:
        query = select(CallRow)
        if since is not None:
            query = query.where(CallRow.ended_at >= since)
        if pbx_ids is not None:
            query = query.where(CallRow.pbx_id.in_(pbx_ids))
        if after_call_id is not None:
            cursor = (
                await session.execute(
                    select(CallRow.ended_at, CallRow.call_id).where(
                        CallRow.call_id == after_call_id
                    )
                )
            ).one_or_none()
            if cursor is None:
                raise UnknownCursorError(f"cursor {after_call_id!r} names no stored call")
            query = query.where(tuple_(CallRow.ended_at, CallRow.call_id) > tuple(cursor))
        query = query.order_by(CallRow.ended_at, CallRow.call_id).limit(limit)
        rows = list(await session.scalars(query))
        return await _load_outcomes(session, rows)

    return await in_transaction(target, "list calls", work)


async def list_calls(
    target: Database | AsyncSession,
    *,
    since: datetime | None = None,
    limit: int = 100,
    after_call_id: str | None = None,
    pbx_ids: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """:func:`page_outcomes` as ``to_json()`` dicts with their links (``calls.links``): what
    ``GET /api/calls`` returns."""
    outcomes = await page_outcomes(
        target, since=since, limit=limit, after_call_id=after_call_id, pbx_ids=pbx_ids
    )
    return await linked_calls(target, outcomes)


async def outcome_pages(
    db: Database,
    *,
    since: datetime | None = None,
    batch: int = 500,
    pbx_ids: Sequence[str] | None = None,
) -> AsyncIterator[list[CallOutcome]]:
    """Every stored call (ended at or after ``since``; of ``pbx_ids`` only, when given),
    oldest first, in pages of ``batch``.

    Each page is its own short transaction, so a long export never holds one open.
    """
    after: str | None = None
    while True:
        page = await page_outcomes(
            db, since=since, limit=batch, after_call_id=after, pbx_ids=pbx_ids
        )
        if page:
            yield page
        if len(page) < batch:
            return
        after = page[-1].call_id


async def iter_outcomes(
    db: Database,
    *,
    since: datetime | None = None,
    batch: int = 500,
    pbx_ids: Sequence[str] | None = None,
) -> AsyncIterator[CallOutcome]:
    """Every stored call (ended at or after ``since``; of ``pbx_ids`` only, when given),
    oldest first, fetched in batches."""
    async for page in outcome_pages(db, since=since, batch=batch, pbx_ids=pbx_ids):
        for outcome in page:
            yield outcome


async def get_timeline(target: Database | AsyncSession, call_id: str) -> list[dict[str, Any]]:
    """The call's stored timeline as ``TimelineEvent.to_json()`` dicts, in order."""
    if not is_uuid(call_id):
        return []

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        row = await session.get(CallRow, call_id)
        offset = row.utc_offset_seconds if row is not None else 0
        zone = timezone(timedelta(seconds=offset))
        events = await session.scalars(
            select(CallEventRow).where(CallEventRow.call_id == call_id).order_by(CallEventRow.seq)
        )
        return [
            TimelineEvent(
                at=e.at.astimezone(zone), kind=e.kind, channel=e.channel, details=dict(e.details)
            ).to_json()
            for e in events
        ]

    return await in_transaction(target, "read timeline", work)


async def stored_linkedids(db: Database, pbx_id: str, linkedids: Sequence[str]) -> set[str]:
    """Which of ``linkedids`` of ``pbx_id`` have a stored call (a standby taking over asks,
    to store only the calls its dead leader had not). StoreError if the database is down."""

    async def work(session: AsyncSession) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(linkedids), MAX_PAGE):
            chunk = list(linkedids[start : start + MAX_PAGE])
            rows = await session.scalars(
                select(CallRow.linkedid).where(
                    CallRow.pbx_id == pbx_id, CallRow.linkedid.in_(chunk)
                )
            )
            found.update(rows)
        return found

    return await in_transaction(db, "look up stored calls", work)
