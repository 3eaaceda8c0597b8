"""Dialling callback jobs: claim the due ones, mark an answer, finish an attempt.

Theory of operation: each dialling of a callback is a ``callback_attempts`` row written
**before** the originate, in the same transaction that claims the job (:func:`claim_due`,
``SELECT … FOR UPDATE SKIP LOCKED``), so several agents can share the queue, no job is
dialled twice, and an agent that dies mid-call leaves an attempt in state ``dialling`` (or
``answered``) for :func:`unfinished_attempts` to reconcile. The attempt's ``channel_id`` is
chosen by the caller (``channel_id_for(attempt_id)``) and is the ARI channel id the dialer
originates with.

:func:`finish_attempt` writes, in one transaction: the attempt (ended, outcome), its survey
scores, its recording row, and the callback's next state from the pure rules of
``core/callbacks.py``. It refuses (``ValueError``, nothing written) an answered outcome
(completed, declined, rescheduled) without a recording, and a completed one without all
five scores. Every time is stored as ``timestamptz``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from ivr_agent.callbacks.sessions import in_transaction, utc
from ivr_agent.core.callbacks import (
    ANSWERED_OUTCOMES,
    BETTER_TIMES,
    OUTCOMES,
    CallbackConfig,
    CallbackState,
    NextState,
    next_allowed,
    next_state,
)
from ivr_agent.core.campaigns import stored_windows
from ivr_agent.core.ids import is_uuid
from ivr_agent.core.satisfaction import check_scores, satisfaction_index
from ivr_agent.db.clock import database_now
from ivr_agent.db.database import Database
from ivr_agent.db.models import (
    CallbackAttemptRow,
    CallbackRow,
    RecordingRow,
    SurveyScoreRow,
)
from ivr_agent.recordings import RecordingFile

#: Most callbacks one :func:`claim_due` may claim.
MAX_CLAIM = 1000
#: ARI accepts any string as a channel id; we keep ours to characters safe in logs and URLs.
CHANNEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,127}")
UNFINISHED_STATES = ("dialling", "answered")


class CallbackNotFound(LookupError):
    """No callback attempt with the given id."""


class AttemptAlreadyFinished(ValueError):
    """The attempt was finished before with a different outcome."""


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
    #: An in-queue callback request (S8): the queue whose place it kept.
    queue_name: str | None = None
    #: A specialist call-back (S8): the specialist's operator id (rung first).
    operator_id: str | None = None
    #: An operator-first return call (S8): the operator's queue interface rung first.
    operator_first: str | None = None


@dataclass(frozen=True)
class AttemptResult:
    """How an attempt ended (see ``core/callbacks.py`` for the outcomes)."""

    outcome: str
    answered_at: datetime | None = None
    scores: Mapping[str, int] = field(default_factory=dict)
    #: The call's recording as the dialer stored and verified it: ``ok`` or ``corrupt``.
    recording: RecordingFile | None = None
    detail: str | None = None
    #: When the answered call ended (PBX time, from the call itself); None: when the
    #: dialler writes the result.
    ended_at: datetime | None = None
    #: ``rescheduled``: when the customer would rather be called (``BetterTime``).
    better_time: str | None = None
    #: The answer to "has the problem been solved?" (None: not asked, or no answer).
    problem_solved: bool | None = None


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
        queue_name=row.queue_name,
        operator_id=row.operator_id,
        operator_first=attempt.operator_first,
    )


async def claim_due(
    db: Database,
    now: datetime | None = None,
    *,
    limit: int,
    pbx_id: str,
    channel_id_for: Callable[[str], str],
    config: CallbackConfig | None = None,
    instance_id: str | None = None,
) -> list[ClaimedAttempt]:
    """Claim up to ``limit`` pending callbacks due now, oldest due first.

    "Now" is the database's ``now()`` (the claim's transaction start): agents sharing the
    database agree on what is due whatever their own clocks say. ``now`` overrides it
    (tests, and the dialer when it is given a clock to travel in time with).

    One transaction: the due rows are locked with ``FOR UPDATE SKIP LOCKED`` (rows another
    agent is claiming are skipped, never waited for or claimed twice), each gets an attempt
    row in state ``dialling`` with ``channel_id_for(attempt_id)`` as its channel id, and
    becomes ``in_progress`` with ``attempts_made`` + 1. A callback claimed after its
    deadline is flagged ``overdue``. With ``config``, a due callback is claimed only if
    "now" is inside its calling windows (decided in ``config.zone``, the call centre's
    time zone): one the dialer reaches late (it was down past the window, or a backlog
    larger than its concurrency) is moved to its next window instead of phoning a
    customer at night. The dialer always passes ``config``, and its ``instance_id`` (the
    attempts are its own to reconcile while its lease lasts).
    Returns what was claimed (possibly nothing).
    """
    if not 1 <= limit <= MAX_CLAIM:
        raise ValueError(f"limit must be 1-{MAX_CLAIM}")
    given = None if now is None else utc("now", now)

    async def work(session: AsyncSession) -> list[ClaimedAttempt]:
        at = given if given is not None else utc("database now()", await database_now(session))
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
            # Released in its place (S8): the caller waits now, in the queue's hours.
            # A specialist call-back (S8) is due within minutes of the hand-over: no windows.
            in_place = (
                row.reason == "queue_callback" and row.attempts_made == 0
            ) or row.reason == "specialist"
            if config is not None and not in_place:
                windows = config.allowed_windows(row.reason, stored_windows(row.calling_windows))
                allowed = next_allowed(at, windows, config)
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
                instance_id=instance_id,
                heartbeat_at=func.now(),
            )
            session.add(attempt)
            row.attempts_made += 1
            row.status = "in_progress"
            row.overdue = row.overdue or at > row.deadline
            row.updated_at = at
            claimed.append(_claimed(row, attempt))
        await session.flush()
        return claimed

    return await in_transaction(db, "claim due callbacks", work)


async def mark_answered(db: Database, attempt_id: str, answered_at: datetime) -> None:
    """Record that the customer answered (state ``answered``); only from ``dialling``."""
    at = utc("answered_at", answered_at)

    async def work(session: AsyncSession) -> None:
        result = await session.execute(
            update(CallbackAttemptRow)
            .where(
                CallbackAttemptRow.attempt_id == attempt_id,
                CallbackAttemptRow.state == "dialling",
            )
            # PBX time, never before the claim (database time): see finish_attempt.
            .values(state="answered", answered_at=func.greatest(at, CallbackAttemptRow.started_at))
        )
        if getattr(result, "rowcount", 0) != 1:
            raise CallbackNotFound(f"no dialling attempt {attempt_id}")

    if not is_uuid(attempt_id):
        raise CallbackNotFound(f"no attempt {attempt_id!r}")
    await in_transaction(db, "mark attempt answered", work)


def _check_result(result: AttemptResult) -> None:
    if result.outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)} (got {result.outcome!r})")
    if result.better_time is not None and result.better_time not in BETTER_TIMES:
        raise ValueError(f"better time must be one of {', '.join(BETTER_TIMES)}")
    check_scores(result.scores)
    recording = result.recording
    if result.outcome in ANSWERED_OUTCOMES:
        if recording is None:
            raise ValueError(
                f"outcome {result.outcome} needs the call's recording (S5: no outcome without "
                "a recording); report 'failed' and reschedule instead"
            )
        if recording.status != "ok":
            raise ValueError(
                f"outcome {result.outcome} needs a verified recording, this one is "
                f"{recording.status} (S5: a corrupt recording never completes a callback); "
                "report 'failed' and reschedule instead"
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
        utc("answered_at", result.answered_at)


def unless_recorded(result: AttemptResult) -> AttemptResult:
    """``result`` itself, or — when the customer's answer has no verified recording to back
    it (none, or one kept as ``corrupt``) — a ``failed`` attempt to be rescheduled, with the
    recording kept and the reason (S5: no outcome without a recording, a corrupt recording
    never completes a callback)."""
    if result.outcome not in ANSWERED_OUTCOMES:
        return result
    recording = result.recording
    if recording is None:
        why = f"no recording for outcome {result.outcome}"
    elif recording.status != "ok":
        why = f"the customer's {result.outcome} is not kept: its recording is {recording.status}"
    else:
        return result
    return AttemptResult(
        outcome="failed",
        answered_at=result.answered_at,
        scores=result.scores,
        recording=recording,
        detail="; ".join(part for part in (result.detail, why) if part),
        ended_at=result.ended_at,
        problem_solved=result.problem_solved,
    )


def _detail(result: AttemptResult) -> str | None:
    parts = [result.detail] if result.detail else []
    if result.outcome == "rescheduled" and result.better_time:
        parts.append(f"the customer chose {result.better_time}")
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
    ended = utc("now", now)
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
            windows=stored_windows(row.calling_windows),
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
            better_time=result.better_time if result.outcome == "rescheduled" else None,
        )
        attempt.state = "failed" if result.outcome == "failed" else "finished"
        # The end is PBX time, the start the database's: a PBX clock a little behind must
        # not store a call that ended before it was placed.
        attempt.ended_at = max(ended, attempt.started_at)
        attempt.outcome = result.outcome
        attempt.answered_at = (
            max(utc("answered_at", result.answered_at), attempt.started_at)
            if result.answered_at
            else attempt.answered_at
        )
        attempt.detail = _detail(result)
        attempt.problem_solved = result.problem_solved
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
        if result.problem_solved is not None:
            # A "no" needs someone to act on it (S5), whatever became of the call; a later
            # "yes" (the next survey) says it was dealt with.
            row.problem_solved = result.problem_solved
        if result.outcome == "completed":
            row.satisfaction_index = satisfaction_index(result.scores)
        row.updated_at = ended
        await session.flush()
        return following

    return await in_transaction(db, "finish callback attempt", work)


async def unfinished_attempts(
    db: Database, *, pbx_id: str | None = None, instance_id: str | None = None
) -> list[ClaimedAttempt]:
    """Attempts left ``dialling`` or ``answered`` (by ``pbx_id``, or by any PBX; placed by
    dialer ``instance_id``, or by any), oldest first.

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
        if instance_id is not None:
            query = query.where(CallbackAttemptRow.instance_id == instance_id)
        return [_claimed(row, attempt) for attempt, row in (await session.execute(query)).all()]

    return await in_transaction(db, "list unfinished attempts", work)


async def heartbeat(db: Database, *, instance_id: str, pbx_id: str) -> int:
    """Renew dialer ``instance_id``'s lease on its unfinished attempts of ``pbx_id`` (to the
    database's ``now()``); how many there are. StoreError if the database is unreachable."""

    async def work(session: AsyncSession) -> int:
        result = await session.execute(
            update(CallbackAttemptRow)
            .where(
                CallbackAttemptRow.instance_id == instance_id,
                CallbackAttemptRow.pbx_id == pbx_id,
                CallbackAttemptRow.state.in_(UNFINISHED_STATES),
            )
            .values(heartbeat_at=func.now())
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0))

    return await in_transaction(db, "renew the dialer's lease", work)


async def take_unfinished(
    db: Database,
    *,
    pbx_id: str,
    instance_id: str,
    lease_seconds: float,
    own: bool = True,
    orphans: bool = False,
) -> list[ClaimedAttempt]:
    """Make unfinished attempts of ``pbx_id`` dialer ``instance_id``'s, and list them.

    ``own``: those it placed itself (a restart of the same agent: same data dir, same id),
    and those with no instance (placed before instances were recorded). ``orphans``: those
    of another dialer whose lease on them ran out (not renewed for ``lease_seconds`` by the
    database's clock), and those with no instance. A live dialer's attempts are never
    taken. One UPDATE moves them to ``instance_id`` and renews the lease: two dialers
    taking at once never take the same attempt (the second sees it is no longer expired).
    """

    async def work(session: AsyncSession) -> list[ClaimedAttempt]:
        attempt = CallbackAttemptRow
        expired = or_(
            attempt.heartbeat_at.is_(None),
            attempt.heartbeat_at <= func.now() - timedelta(seconds=lease_seconds),
        )
        whose: list[ColumnElement[bool]] = [attempt.instance_id.is_(None)]
        if own:
            whose.append(attempt.instance_id == instance_id)
        if orphans:
            whose.append(and_(attempt.instance_id != instance_id, expired))
        taken = (
            await session.scalars(
                update(attempt)
                .where(
                    attempt.state.in_(UNFINISHED_STATES),
                    attempt.pbx_id == pbx_id,
                    or_(*whose),
                )
                .values(instance_id=instance_id, heartbeat_at=func.now())
                .returning(attempt.attempt_id)
                .execution_options(synchronize_session=False)
            )
        ).all()
        if not taken:
            return []
        query = (
            select(attempt, CallbackRow)
            .join(CallbackRow, CallbackRow.callback_id == attempt.callback_id)
            .where(attempt.attempt_id.in_(taken))
            .order_by(attempt.started_at, attempt.attempt_id)
        )
        return [_claimed(row, a) for a, row in (await session.execute(query)).all()]

    return await in_transaction(db, "take unfinished attempts", work)


async def dialling_attempts(db: Database, *, pbx_id: str | None = None) -> list[ClaimedAttempt]:
    """The contract name of :func:`unfinished_attempts` (crash reconciliation)."""
    return await unfinished_attempts(db, pbx_id=pbx_id)
