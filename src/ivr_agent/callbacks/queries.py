"""Reading callbacks back: as API objects, and their finished attempts in the call export.

Every time is stored as ``timestamptz``; reads render times in the zone given.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from ivr_agent.callbacks.sessions import in_transaction, utc
from ivr_agent.core.breaches import LATE_SPECIALIST_CALLBACK, late_specialist_seconds
from ivr_agent.core.callbacks import kind_of, needs_follow_up
from ivr_agent.core.ids import is_uuid
from ivr_agent.core.outcome import CallOutcome
from ivr_agent.core.satisfaction import INDICES
from ivr_agent.db.database import Database
from ivr_agent.db.models import (
    CALLBACK_STATUSES,
    CallbackAttemptRow,
    CallbackRow,
    CallRow,
    RecordingRow,
    SurveyScoreRow,
)

#: Largest page :func:`list_callbacks` returns.
MAX_PAGE = 1000


def _iso(moment: datetime | None, zone: tzinfo) -> str | None:
    return None if moment is None else moment.astimezone(zone).isoformat()


def _recording_json(rec: RecordingRow) -> dict[str, Any]:
    return {
        "recording_id": rec.recording_id,
        "seconds": rec.seconds,
        "sha256": rec.sha256,
        "status": rec.status,
        "reason": rec.reason,
    }


def _callback_json(
    row: CallbackRow,
    attempts: Sequence[CallbackAttemptRow],
    scores: Mapping[str, Mapping[str, int]],
    recordings: Mapping[str, RecordingRow],
    zone: tzinfo,
    result_calls: Mapping[tuple[str, str], str] | None = None,
) -> dict[str, Any]:
    # A return call's resulting call (S8): the measured call whose Linkedid is the
    # attempt's channel id (the originated channel is that call's first channel).
    linked = result_calls or {}

    def result_call(attempt: CallbackAttemptRow) -> str | None:
        return linked.get((attempt.pbx_id, attempt.channel_id))

    # Scores and recording of the callback are those of its latest attempt that has them
    # (the completing attempt for a completed callback).
    latest_scores: Mapping[str, int] = {}
    latest_recording: RecordingRow | None = None
    for attempt in attempts:
        latest_scores = scores.get(attempt.attempt_id) or latest_scores
        latest_recording = recordings.get(attempt.attempt_id) or latest_recording
    return {
        "callback_id": row.callback_id,
        "customer_number": row.customer_number,
        "customer_name": row.customer_name,
        "reason": row.reason,
        "kind": kind_of(row.reason),
        "reference_time": _iso(row.reference_time, zone),
        "due_at": _iso(row.due_at, zone),
        "deadline": _iso(row.deadline, zone),
        "status": row.status,
        "status_reason": row.status_reason,
        "overdue": row.overdue,
        "next_attempt_at": _iso(row.next_attempt_at, zone),
        "attempts_made": row.attempts_made,
        "failed_attempts": row.failed_attempts,
        "reschedules": row.reschedules,
        "outcome": row.outcome,
        "scores": dict(latest_scores),
        "satisfaction_index": row.satisfaction_index,
        "problem_solved": row.problem_solved,
        "follow_up": needs_follow_up(row.problem_solved),
        "recording": None if latest_recording is None else _recording_json(latest_recording),
        "source_call_id": row.source_call_id,
        "campaign_id": row.campaign_id,
        "run_date": row.run_date.isoformat() if row.run_date else None,
        "specialist": _specialist_json(row, attempts, zone),
        # An in-queue callback request (S8): its queue, its place, when it was released, and
        # the operator kept for it meanwhile.
        "queue": None
        if row.queue_name is None
        else {
            "name": row.queue_name,
            "queued_at": _iso(row.queued_at, zone),
            "released_at": _iso(row.released_at, zone),
            "operator": row.queue_member,
        },
        # The call the customer had with an operator through the queue (return calls).
        "result_call_id": next(
            (c for a in reversed(attempts) if (c := result_call(a)) is not None), None
        ),
        "created_at": _iso(row.created_at, zone),
        "attempts": [
            {
                "attempt_id": a.attempt_id,
                "attempt_no": a.attempt_no,
                "channel_id": a.channel_id,
                "pbx_id": a.pbx_id,
                "state": a.state,
                "started_at": _iso(a.started_at, zone),
                "answered_at": _iso(a.answered_at, zone),
                "ended_at": _iso(a.ended_at, zone),
                "outcome": a.outcome,
                "detail": a.detail,
                "scores": dict(scores.get(a.attempt_id, {})),
                "problem_solved": a.problem_solved,
                "recording_id": (
                    recordings[a.attempt_id].recording_id if a.attempt_id in recordings else None
                ),
                "result_call_id": result_call(a),
            }
            for a in attempts
        ],
    }


async def _render(
    session: AsyncSession, rows: Sequence[CallbackRow], zone: tzinfo
) -> list[dict[str, Any]]:
    ids = [row.callback_id for row in rows]
    attempts: dict[str, list[CallbackAttemptRow]] = defaultdict(list)
    scores: dict[str, dict[str, int]] = defaultdict(dict)
    recordings: dict[str, RecordingRow] = {}
    result_calls: dict[tuple[str, str], str] = {}
    if ids:
        attempt_rows = list(
            await session.scalars(
                select(CallbackAttemptRow)
                .where(CallbackAttemptRow.callback_id.in_(ids))
                .order_by(CallbackAttemptRow.callback_id, CallbackAttemptRow.attempt_no)
            )
        )
        for attempt in attempt_rows:
            attempts[attempt.callback_id].append(attempt)
        attempt_ids = [a.attempt_id for a in attempt_rows]
        if attempt_ids:
            for score in await session.scalars(
                select(SurveyScoreRow).where(SurveyScoreRow.attempt_id.in_(attempt_ids))
            ):
                scores[score.attempt_id][score.index_name] = score.score
            for rec in await session.scalars(
                select(RecordingRow)
                .where(RecordingRow.attempt_id.in_(attempt_ids))
                .order_by(RecordingRow.created_at)
            ):
                assert rec.attempt_id is not None
                recordings[rec.attempt_id] = rec
        answered = [(a.pbx_id, a.channel_id) for a in attempt_rows if a.answered_at is not None]
        if answered:
            for pbx_id, linkedid, call_id in await session.execute(
                select(CallRow.pbx_id, CallRow.linkedid, CallRow.call_id).where(
                    tuple_(CallRow.pbx_id, CallRow.linkedid).in_(answered)
                )
            ):
                result_calls[pbx_id, linkedid] = call_id
    return [
        _callback_json(row, attempts[row.callback_id], scores, recordings, zone, result_calls)
        for row in rows
    ]


def _specialist_json(
    row: CallbackRow, attempts: Sequence[CallbackAttemptRow], zone: tzinfo
) -> dict[str, Any] | None:
    """S8: a specialist call-back's specialist, when the customer was reached (the answer of
    the attempt that connected them) and, once judged, by how many seconds it was late."""
    if row.operator_id is None:
        return None
    reached = next((a.answered_at for a in reversed(attempts) if a.outcome == "connected"), None)
    late: float | None = None
    if reached is not None or row.status not in ("pending", "in_progress"):
        # Judged once reached, or once given up (then: late until its last change).
        late = late_specialist_seconds(
            row.reference_time, reached, row.updated_at, row.deadline - row.reference_time
        )
    return {
        "operator_id": row.operator_id,
        "reached_at": _iso(reached, zone),
        "late_seconds": late,
        "breach": LATE_SPECIALIST_CALLBACK if late is not None else None,
    }


async def get_callback(db: Database, callback_id: str, zone: tzinfo) -> dict[str, Any] | None:
    """The callback with its attempts, scores and recording, or ``None`` if unknown."""
    if not is_uuid(callback_id):
        return None

    async def work(session: AsyncSession) -> dict[str, Any] | None:
        row = await session.get(CallbackRow, callback_id)
        return None if row is None else (await _render(session, [row], zone))[0]

    return await in_transaction(db, "read callback", work)


async def list_callbacks(
    db: Database,
    zone: tzinfo,
    *,
    status: str | None = None,
    follow_up: bool | None = None,
    due_from: datetime | None = None,
    due_to: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Callbacks due in ``[due_from, due_to)`` with ``status`` (and ``follow_up``: whether a
    customer said the problem is not solved), by ``(due_at, callback_id)``."""
    if status is not None and status not in CALLBACK_STATUSES:
        raise ValueError(f"status must be one of {', '.join(CALLBACK_STATUSES)}")
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise ValueError(f"limit must be 1-{MAX_PAGE} and offset >= 0")
    query = select(CallbackRow)
    if status is not None:
        query = query.where(CallbackRow.status == status)
    if follow_up is not None:
        # The SQL twin of needs_follow_up (NULL, not asked, is no follow-up).
        solved = CallbackRow.problem_solved
        query = query.where(solved.is_(False) if follow_up else solved.is_distinct_from(False))
    if due_from is not None:
        query = query.where(CallbackRow.due_at >= utc("from", due_from))
    if due_to is not None:
        query = query.where(CallbackRow.due_at < utc("to", due_to))
    query = query.order_by(CallbackRow.due_at, CallbackRow.callback_id).limit(limit).offset(offset)

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        return await _render(session, list(await session.scalars(query)), zone)

    return await in_transaction(db, "list callbacks", work)


# --- callbacks in the call export --------------------------------------------------------------


def _attempt_outcome(
    attempt: CallbackAttemptRow,
    row: CallbackRow,
    recording_id: str | None,
    zone: tzinfo,
    call_max_seconds: float,
) -> CallOutcome:
    assert attempt.ended_at is not None  # only finished attempts are exported
    started, ended = attempt.started_at.astimezone(zone), attempt.ended_at.astimezone(zone)
    answered = None if attempt.answered_at is None else attempt.answered_at.astimezone(zone)
    talk = None if answered is None else (ended - answered).total_seconds()
    return CallOutcome(
        call_id=attempt.attempt_id,
        pbx_id=attempt.pbx_id,
        # The channel id we originated with is the call's first channel, hence its linkedid.
        linkedid=attempt.channel_id,
        direction="callback",
        caller_number=row.customer_number,
        operator_id=None,
        offered_at=started,
        wait_started_at=None,
        answered_at=answered,
        ended_at=ended,
        ring_seconds=((answered or ended) - started).total_seconds(),
        rings=None,
        answered_within_standard=None,  # S1 measures inbound calls only
        abandoned=False,
        short_abandon=False,
        talk_seconds=talk,
        duration_seconds=(ended - started).total_seconds(),
        over_max_duration=talk is not None and talk > call_max_seconds,
        recording_id=recording_id,
    )


async def page_callback_calls(
    db: Database,
    zone: tzinfo,
    *,
    call_max_seconds: float,
    since: datetime | None = None,
    after: tuple[datetime, str] | None = None,
    limit: int = 500,
) -> list[tuple[tuple[datetime, str], dict[str, Any]]]:
    """Finished callback attempts as call-export objects, oldest first by ``(ended_at, id)``.

    Each object has the keys of ``CallOutcome.to_json()`` with ``direction: callback``
    (``call_id`` is the attempt id, ``linkedid`` our channel id, ``caller_number`` the
    customer's), followed by ``callback``: the callback id, attempt number, reason, kind,
    the original call it follows up (``source_call_id``), attempt outcome, the callback's
    status, and the attempt's scores. ``after`` is the sort key of the last object of the
    previous page.
    """
    query = (
        select(CallbackAttemptRow, CallbackRow, RecordingRow.recording_id)
        .join(CallbackRow, CallbackRow.callback_id == CallbackAttemptRow.callback_id)
        .outerjoin(RecordingRow, RecordingRow.attempt_id == CallbackAttemptRow.attempt_id)
        .where(CallbackAttemptRow.ended_at.is_not(None))
    )
    if since is not None:
        query = query.where(CallbackAttemptRow.ended_at >= utc("since", since))
    if after is not None:
        query = query.where(
            tuple_(CallbackAttemptRow.ended_at, CallbackAttemptRow.attempt_id) > tuple_(*after)
        )
    query = query.order_by(CallbackAttemptRow.ended_at, CallbackAttemptRow.attempt_id).limit(limit)

    async def work(session: AsyncSession) -> list[tuple[tuple[datetime, str], dict[str, Any]]]:
        found = (await session.execute(query)).all()
        ids = [attempt.attempt_id for attempt, _, _ in found]
        scores: dict[str, dict[str, int]] = defaultdict(dict)
        if ids:
            for score in await session.scalars(
                select(SurveyScoreRow).where(SurveyScoreRow.attempt_id.in_(ids))
            ):
                scores[score.attempt_id][score.index_name] = score.score
        page = []
        for attempt, row, recording_id in found:
            outcome = _attempt_outcome(attempt, row, recording_id, zone, call_max_seconds)
            attempt_scores = scores.get(attempt.attempt_id, {})
            obj = outcome.to_json() | {
                "callback": {
                    "callback_id": row.callback_id,
                    "attempt_no": attempt.attempt_no,
                    "reason": row.reason,
                    "kind": kind_of(row.reason),
                    # The call it follows up (S8: a return call's abandoned call, …).
                    "original_call_id": row.source_call_id,
                    "outcome": attempt.outcome,
                    "status": row.status,
                    "scores": {k: attempt_scores[k] for k in INDICES if k in attempt_scores},
                }
            }
            assert attempt.ended_at is not None
            page.append(((attempt.ended_at, attempt.attempt_id), obj))
        return page

    return await in_transaction(db, "list callback calls", work)


async def iter_callback_calls(
    db: Database, zone: tzinfo, *, call_max_seconds: float, since: datetime | None = None
) -> AsyncIterator[tuple[datetime, dict[str, Any]]]:
    """Every finished callback attempt as ``(ended_at, export object)``, oldest first.

    Fetched in pages, each its own short transaction.
    """
    after: tuple[datetime, str] | None = None
    while True:
        page = await page_callback_calls(
            db, zone, call_max_seconds=call_max_seconds, since=since, after=after
        )
        for key, obj in page:
            yield key[0], obj
        if len(page) < 500:
            return
        after = page[-1][0]
