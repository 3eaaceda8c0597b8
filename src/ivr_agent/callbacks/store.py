"""Callback jobs in PostgreSQL: create, claim for dialling, finish an attempt, read back.

Theory of operation: a callback row is the job; each dialling is a ``callback_attempts`` row
written **before** the originate, in the same transaction that claims the job
(:func:`claim_due`, ``SELECT … FOR UPDATE SKIP LOCKED``), so several agents can share the
queue, no job is dialled twice, and an agent that dies mid-call leaves an attempt in state
``dialling`` (or ``answered``) for :func:`unfinished_attempts` to reconcile. The attempt's
``channel_id`` is chosen by the caller (``channel_id_for(attempt_id)``) and is the ARI
channel id the dialer originates with.

:func:`finish_attempt` writes, in one transaction: the attempt (ended, outcome), its survey
scores, its recording row, and the callback's next state from the pure rules of
``core/callbacks.py``. It refuses (``ValueError``, nothing written) an answered outcome
(completed, declined, rescheduled) without a recording, and a completed one without all
five scores. Every time is stored as ``timestamptz``; reads render times in the zone given.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ivr_agent.core.callbacks import (
    ANSWERED_OUTCOMES,
    OUTCOMES,
    CallbackConfig,
    CallbackState,
    NextState,
    check_customer_name,
    next_allowed,
    next_state,
    schedule,
)
from ivr_agent.core.ids import is_uuid
from ivr_agent.core.outcome import CallOutcome
from ivr_agent.core.phone import check_customer_number
from ivr_agent.core.satisfaction import INDICES, check_scores, satisfaction_index
from ivr_agent.db.database import Database
from ivr_agent.db.errors import translate_errors
from ivr_agent.db.models import (
    CALLBACK_STATUSES,
    CallbackAttemptRow,
    CallbackRow,
    RecordingRow,
    SurveyScoreRow,
)
from ivr_agent.recordings.files import RecordingFile

#: Largest page :func:`list_callbacks` returns.
MAX_PAGE = 1000
#: ARI accepts any string as a channel id; we keep ours to characters safe in logs and URLs.
CHANNEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,127}")
UNFINISHED_STATES = ("dialling", "answered")


class CallbackNotFound(LookupError):
    """No callback attempt with the given id."""


class AttemptAlreadyFinished(ValueError):
    """The attempt was finished before with a different outcome."""


@dataclass(frozen=True)
class CallbackRequest:
    """What ``POST /api/callbacks`` (or an abandoned call) asks for; validated on creation."""

    customer_number: str
    customer_name: str | None
    reason: str
    reference_time: datetime
    source_call_id: str | None = None


@dataclass(frozen=True)
class CreatedCallback:
    """A stored new callback: when it is first dialled and its hard deadline (UTC)."""

    callback_id: str
    due_at: datetime
    deadline: datetime
    overdue: bool
    created: bool = True


@dataclass(frozen=True)
class ClaimedAttempt:
    """An attempt to dial a callback, written before the originate."""

    attempt_id: str
    callback_id: str
    attempt_no: int
    channel_id: str
    pbx_id: str
    state: str
    started_at: datetime
    customer_number: str
    customer_name: str | None
    reason: str
    deadline: datetime
    overdue: bool


@dataclass(frozen=True)
class AttemptResult:
    """How an attempt ended (see ``core/callbacks.py`` for the outcomes)."""

    outcome: str
    answered_at: datetime | None = None
    scores: Mapping[str, int] = field(default_factory=dict)
    #: The call's recording as the dialer stored and verified it: ``ok`` or ``corrupt``.
    recording: RecordingFile | None = None
    detail: str | None = None


def _utc(name: str, moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must carry a time zone")
    return moment.astimezone(UTC)


async def _in_transaction(
    target: Database | AsyncSession, action: str, work: Callable[[AsyncSession], Any]
) -> Any:
    if isinstance(target, AsyncSession):
        with translate_errors(action):
            return await work(target)
    async with target.transaction(action) as session:
        return await work(session)


def check_request(request: CallbackRequest) -> CallbackRequest:
    """The request with its name normalised; ``ValueError`` naming the bad field."""
    try:
        check_customer_number(request.customer_number)
    except ValueError as exc:
        raise ValueError(f"customer_number: {exc}") from None
    try:
        name = check_customer_name(request.customer_name)
    except ValueError as exc:
        raise ValueError(f"customer_name: {exc}") from None
    _utc("reference_time", request.reference_time)
    return CallbackRequest(
        request.customer_number,
        name,
        request.reason,
        request.reference_time,
        request.source_call_id,
    )


async def create_callback(
    target: Database | AsyncSession,
    request: CallbackRequest,
    config: CallbackConfig,
    now: datetime,
) -> CreatedCallback:
    """Store a new pending callback, due by the S5 rules; ``ValueError`` for a bad request.

    With an open session the caller owns the transaction (e.g. saving an abandoned call and
    its callback atomically). A second request for the same abandoned call (same
    ``source_call_id``) creates nothing and returns the existing callback with
    ``created=False``.
    """
    request = check_request(request)
    plan = schedule(request.reason, request.reference_time, now, config)
    values = {
        "callback_id": str(uuid.uuid4()),
        "customer_number": request.customer_number,
        "customer_name": request.customer_name,
        "reason": request.reason,
        "reference_time": _utc("reference_time", request.reference_time),
        "due_at": plan.due_at,
        "deadline": plan.deadline,
        "status": "pending",
        "next_attempt_at": plan.due_at,
        "overdue": plan.overdue,
        "source_call_id": request.source_call_id,
        "status_reason": "overdue at creation" if plan.overdue else None,
    }

    async def work(session: AsyncSession) -> CreatedCallback:
        stmt = pg_insert(CallbackRow).values(values)
        if request.reason == "abandoned_call" and request.source_call_id is not None:
            stmt = stmt.on_conflict_do_nothing(
                index_elements=["source_call_id"],
                index_where=CallbackRow.reason == "abandoned_call",
            )
        inserted = (await session.execute(stmt.returning(CallbackRow.callback_id))).scalar()
        if inserted is not None:
            return CreatedCallback(inserted, plan.due_at, plan.deadline, plan.overdue)
        row = (
            await session.scalars(
                select(CallbackRow).where(
                    CallbackRow.source_call_id == request.source_call_id,
                    CallbackRow.reason == "abandoned_call",
                )
            )
        ).one()
        return CreatedCallback(row.callback_id, row.due_at, row.deadline, row.overdue, False)

    result: CreatedCallback = await _in_transaction(target, "create callback", work)
    return result


async def callback_for_abandoned(
    session: AsyncSession,
    outcome: CallOutcome,
    call_id: str,
    config: CallbackConfig,
    now: datetime,
) -> CreatedCallback | None:
    """The automatic callback of an abandoned inbound call, in the caller's transaction.

    Created for an inbound call that was abandoned, unless it was a short abandon (a
    misdial by S1's reckoning) or the caller's number cannot be dialled (withheld,
    internal, malformed). Its reference time is the abandon time (``ended_at``). Saving
    the same call again creates nothing (unique per ``source_call_id``); ``None`` when no
    callback is due.
    """
    if outcome.direction != "inbound" or not outcome.abandoned or outcome.short_abandon:
        return None
    try:
        number = check_customer_number(outcome.caller_number)
    except ValueError:
        return None
    try:
        name = check_customer_name(outcome.extra.get("caller_name"))
    except ValueError:
        name = None  # a name we cannot speak safely is left out, the callback still placed
    request = CallbackRequest(number, name, "abandoned_call", outcome.ended_at, call_id)
    return await create_callback(session, request, config, now)


def _claimed(row: CallbackRow, attempt: CallbackAttemptRow) -> ClaimedAttempt:
    return ClaimedAttempt(
        attempt_id=attempt.attempt_id,
        callback_id=row.callback_id,
        attempt_no=attempt.attempt_no,
        channel_id=attempt.channel_id,
        pbx_id=attempt.pbx_id,
        state=attempt.state,
        started_at=attempt.started_at,
        customer_number=row.customer_number,
        customer_name=row.customer_name,
        reason=row.reason,
        deadline=row.deadline,
        overdue=row.overdue,
    )


async def claim_due(
    db: Database,
    now: datetime,
    *,
    limit: int,
    pbx_id: str,
    channel_id_for: Callable[[str], str],
    config: CallbackConfig | None = None,
) -> list[ClaimedAttempt]:
    """Claim up to ``limit`` pending callbacks due at ``now``, oldest due first.

    One transaction: the due rows are locked with ``FOR UPDATE SKIP LOCKED`` (rows another
    agent is claiming are skipped, never waited for or claimed twice), each gets an attempt
    row in state ``dialling`` with ``channel_id_for(attempt_id)`` as its channel id, and
    becomes ``in_progress`` with ``attempts_made`` + 1. A callback claimed after its
    deadline is flagged ``overdue``. With ``config``, a due callback is claimed only if
    ``now`` is inside its calling windows: one the dialer reaches late (it was down past
    the window) is moved to its next window instead of phoning a customer at night.
    Returns what was claimed (possibly nothing).
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be 1-{MAX_PAGE}")
    at = _utc("now", now)

    async def work(session: AsyncSession) -> list[ClaimedAttempt]:
        rows = (
            await session.scalars(
                select(CallbackRow)
                .where(CallbackRow.status == "pending", CallbackRow.next_attempt_at <= at)
                .order_by(CallbackRow.next_attempt_at, CallbackRow.callback_id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        claimed = []
        for row in rows:
            if config is not None:
                allowed = next_allowed(at, config.allowed_windows(row.reason), config)
                if allowed > at:
                    row.next_attempt_at = allowed
                    row.status_reason = "reached outside its calling window: moved to the next"
                    row.updated_at = at
                    continue
            attempt_id = str(uuid.uuid4())
            channel_id = channel_id_for(attempt_id)
            if not isinstance(channel_id, str) or not CHANNEL_ID.fullmatch(channel_id):
                raise ValueError(f"channel id {channel_id!r} must match {CHANNEL_ID.pattern}")
            attempt = CallbackAttemptRow(
                attempt_id=attempt_id,
                callback_id=row.callback_id,
                attempt_no=row.attempts_made + 1,
                channel_id=channel_id,
                pbx_id=pbx_id,
                state="dialling",
                started_at=at,
            )
            session.add(attempt)
            row.attempts_made += 1
            row.status = "in_progress"
            row.overdue = row.overdue or at > row.deadline
            row.updated_at = at
            claimed.append(_claimed(row, attempt))
        await session.flush()
        return claimed

    result: list[ClaimedAttempt] = await _in_transaction(db, "claim due callbacks", work)
    return result


async def mark_answered(db: Database, attempt_id: str, answered_at: datetime) -> None:
    """Record that the customer answered (state ``answered``); only from ``dialling``."""
    at = _utc("answered_at", answered_at)

    async def work(session: AsyncSession) -> None:
        result = await session.execute(
            update(CallbackAttemptRow)
            .where(
                CallbackAttemptRow.attempt_id == attempt_id,
                CallbackAttemptRow.state == "dialling",
            )
            .values(state="answered", answered_at=at)
        )
        if getattr(result, "rowcount", 0) != 1:
            raise CallbackNotFound(f"no dialling attempt {attempt_id}")

    if not is_uuid(attempt_id):
        raise CallbackNotFound(f"no attempt {attempt_id!r}")
    await _in_transaction(db, "mark attempt answered", work)


def _check_result(result: AttemptResult) -> None:
    if result.outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)} (got {result.outcome!r})")
    check_scores(result.scores)
    recording = result.recording
    if result.outcome in ANSWERED_OUTCOMES:
        if recording is None:
            raise ValueError(
                f"outcome {result.outcome} needs the call's recording (S5: no outcome without "
                "a recording); report 'failed' and reschedule instead"
            )
        if result.answered_at is None:
            raise ValueError(f"outcome {result.outcome} needs answered_at")
    if result.outcome == "completed":
        satisfaction_index(result.scores)  # raises naming the missing indices
    if recording is not None:
        if recording.status not in ("ok", "corrupt"):
            raise ValueError("recording status must be 'ok' or 'corrupt'")
        if recording.status == "corrupt" and not recording.reason:
            raise ValueError("a corrupt recording needs its reason")
    if result.answered_at is not None:
        _utc("answered_at", result.answered_at)


def _detail(result: AttemptResult) -> str | None:
    parts = [result.detail] if result.detail else []
    if result.recording is not None and result.recording.status == "corrupt":
        parts.append(f"recording corrupt: {result.recording.reason}")
    return "; ".join(parts) or None


async def finish_attempt(
    db: Database | AsyncSession,
    attempt_id: str,
    result: AttemptResult,
    now: datetime,
    *,
    config: CallbackConfig,
) -> NextState:
    """Write how an attempt ended and the callback's next state, in one transaction.

    Writes the attempt (``ended_at`` = ``now``, outcome, state ``finished``, or ``failed``
    for outcome ``failed``), the survey scores, the recording row, the satisfaction index
    (mean of the five scores, for ``completed``) and the callback's status /
    ``next_attempt_at`` / ``overdue`` by :func:`ivr_agent.core.callbacks.next_state`.
    Finishing an already finished attempt with the same outcome changes nothing (safe to
    repeat after a crash); with another outcome raises :class:`AttemptAlreadyFinished`.
    Raises ``ValueError`` (nothing written) for a result the rules refuse and
    :class:`CallbackNotFound` for an unknown attempt.
    """
    _check_result(result)
    ended = _utc("now", now)
    if not is_uuid(attempt_id):
        raise CallbackNotFound(f"no attempt {attempt_id!r}")

    async def work(session: AsyncSession) -> NextState:
        attempt = await session.get(CallbackAttemptRow, attempt_id, with_for_update=True)
        if attempt is None:
            raise CallbackNotFound(f"no attempt {attempt_id}")
        row = await session.get(CallbackRow, attempt.callback_id, with_for_update=True)
        assert row is not None  # the foreign key guarantees it
        callback_state = CallbackState(
            reason=row.reason,
            deadline=row.deadline,
            failed_attempts=row.failed_attempts,
            reschedules=row.reschedules,
            overdue=row.overdue,
        )
        if attempt.state not in UNFINISHED_STATES:
            if attempt.outcome == result.outcome:
                return NextState(
                    row.status,  # type: ignore[arg-type]  # CHECK constraint keeps it valid
                    row.next_attempt_at,
                    row.overdue,
                    row.failed_attempts,
                    row.reschedules,
                    result.outcome,
                    row.status_reason or "already finished",
                )
            raise AttemptAlreadyFinished(
                f"attempt {attempt_id} already finished as {attempt.outcome}"
            )
        following = next_state(
            callback_state,
            result.outcome,
            started_at=attempt.started_at,
            ended_at=max(ended, attempt.started_at),
            config=config,
        )
        attempt.state = "failed" if result.outcome == "failed" else "finished"
        attempt.ended_at = ended
        attempt.outcome = result.outcome
        attempt.answered_at = (
            _utc("answered_at", result.answered_at) if result.answered_at else attempt.answered_at
        )
        attempt.detail = _detail(result)
        for name, score in result.scores.items():
            session.add(SurveyScoreRow(attempt_id=attempt_id, index_name=name, score=score))
        if result.recording is not None:
            session.add(RecordingRow(**asdict(result.recording), attempt_id=attempt_id))
        # A callback cancelled while it was being dialled stays cancelled.
        if row.status != "cancelled":
            row.status = following.status
            row.next_attempt_at = following.next_attempt_at
            row.status_reason = following.why
        row.overdue = following.overdue
        row.failed_attempts = following.failed_attempts
        row.reschedules = following.reschedules
        row.outcome = result.outcome
        if result.outcome == "completed":
            row.satisfaction_index = satisfaction_index(result.scores)
        row.updated_at = ended
        await session.flush()
        return following

    following: NextState = await _in_transaction(db, "finish callback attempt", work)
    return following


async def unfinished_attempts(db: Database, *, pbx_id: str | None = None) -> list[ClaimedAttempt]:
    """Attempts left ``dialling`` or ``answered`` (by ``pbx_id``, or by any PBX), oldest first.

    What an agent restarting after a crash must reconcile: never redial these blindly.
    """

    async def work(session: AsyncSession) -> list[ClaimedAttempt]:
        query = (
            select(CallbackAttemptRow, CallbackRow)
            .join(CallbackRow, CallbackRow.callback_id == CallbackAttemptRow.callback_id)
            .where(CallbackAttemptRow.state.in_(UNFINISHED_STATES))
            .order_by(CallbackAttemptRow.started_at, CallbackAttemptRow.attempt_id)
        )
        if pbx_id is not None:
            query = query.where(CallbackAttemptRow.pbx_id == pbx_id)
        return [_claimed(row, attempt) for attempt, row in (await session.execute(query)).all()]

    result: list[ClaimedAttempt] = await _in_transaction(db, "list unfinished attempts", work)
    return result


async def dialling_attempts(db: Database, *, pbx_id: str | None = None) -> list[ClaimedAttempt]:
    """The contract name of :func:`unfinished_attempts` (crash reconciliation)."""
    return await unfinished_attempts(db, pbx_id=pbx_id)


# --- reading back (API) --------------------------------------------------------------------


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
) -> dict[str, Any]:
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
        "recording": None if latest_recording is None else _recording_json(latest_recording),
        "source_call_id": row.source_call_id,
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
                "recording_id": (
                    recordings[a.attempt_id].recording_id if a.attempt_id in recordings else None
                ),
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
    return [
        _callback_json(row, attempts[row.callback_id], scores, recordings, zone) for row in rows
    ]


async def get_callback(db: Database, callback_id: str, zone: tzinfo) -> dict[str, Any] | None:
    """The callback with its attempts, scores and recording, or ``None`` if unknown."""
    if not is_uuid(callback_id):
        return None

    async def work(session: AsyncSession) -> dict[str, Any] | None:
        row = await session.get(CallbackRow, callback_id)
        return None if row is None else (await _render(session, [row], zone))[0]

    result: dict[str, Any] | None = await _in_transaction(db, "read callback", work)
    return result


async def list_callbacks(
    db: Database,
    zone: tzinfo,
    *,
    status: str | None = None,
    due_from: datetime | None = None,
    due_to: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Callbacks due in ``[due_from, due_to)`` with ``status``, by ``(due_at, callback_id)``."""
    if status is not None and status not in CALLBACK_STATUSES:
        raise ValueError(f"status must be one of {', '.join(CALLBACK_STATUSES)}")
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise ValueError(f"limit must be 1-{MAX_PAGE} and offset >= 0")
    query = select(CallbackRow)
    if status is not None:
        query = query.where(CallbackRow.status == status)
    if due_from is not None:
        query = query.where(CallbackRow.due_at >= _utc("from", due_from))
    if due_to is not None:
        query = query.where(CallbackRow.due_at < _utc("to", due_to))
    query = query.order_by(CallbackRow.due_at, CallbackRow.callback_id).limit(limit).offset(offset)

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        return await _render(session, list(await session.scalars(query)), zone)

    result: list[dict[str, Any]] = await _in_transaction(db, "list callbacks", work)
    return result


async def count_callbacks(db: Database) -> int:
    """How many callbacks are stored (for tests and the dashboard)."""
    async with db.transaction("count callbacks") as session:
        return int(await session.scalar(select(func.count()).select_from(CallbackRow)) or 0)


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
    customer's), followed by ``callback``: the callback id, attempt number, reason,
    attempt outcome, the callback's status, and the attempt's scores. ``after`` is the
    sort key of the last object of the previous page.
    """
    query = (
        select(CallbackAttemptRow, CallbackRow, RecordingRow.recording_id)
        .join(CallbackRow, CallbackRow.callback_id == CallbackAttemptRow.callback_id)
        .outerjoin(RecordingRow, RecordingRow.attempt_id == CallbackAttemptRow.attempt_id)
        .where(CallbackAttemptRow.ended_at.is_not(None))
    )
    if since is not None:
        query = query.where(CallbackAttemptRow.ended_at >= _utc("since", since))
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
                    "outcome": attempt.outcome,
                    "status": row.status,
                    "scores": {k: attempt_scores[k] for k in INDICES if k in attempt_scores},
                }
            }
            assert attempt.ended_at is not None
            page.append(((attempt.ended_at, attempt.attempt_id), obj))
        return page

    result: list[tuple[tuple[datetime, str], dict[str, Any]]] = await _in_transaction(
        db, "list callback calls", work
    )
    return result


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
