"""QA replay in the store: who is asking, recordings by opaque id, the audit trail of plays
and pauses, versioned QA scores, per-operator QA averages, and the QA call list.

Scores are immutable (a trigger refuses changes, migration 0003). :func:`submit_score`
writes version 1 of a call's score, or a correction: the next version naming the version it
``supersedes``, which must be the call's latest — so the versions of a call form one chain
and the latest is the one not superseded. Two reviewers correcting the same version at once
cannot both win: the unique constraints refuse the second, which gets :class:`ScoreConflict`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from ivr_agent.core.breaches import BREACHES, BreachKind
from ivr_agent.core.breaches import breaches_of as _breaches_of
from ivr_agent.core.ids import is_uuid
from ivr_agent.core.outcome import iso
from ivr_agent.core.satisfaction import INDICES, SCORE_MAX, SCORE_MIN, satisfaction_index
from ivr_agent.db.breaches import breach_sql
from ivr_agent.db.database import Database
from ivr_agent.db.errors import StoreError
from ivr_agent.db.models import (
    ApiTokenRow,
    AuditLogRow,
    CallRow,
    QaScoreRow,
    RecordingRow,
)
from ivr_agent.db.tokens import token_digest
from ivr_agent.recordings import RecordingFile

DIRECTIONS = ("inbound", "callback")
MAX_PER_PAGE = 100
MAX_COMMENT = 4000

# Audit actions written by QA replay.
PLAY = "recording.play"
PAUSE = "recording.pause"
RESUME = "recording.resume"
SCORE = "qa.score"
PURGE = "recording.purge"


class ScoreError(ValueError):
    """A score cannot be stored as given; the message names the problem."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnknownCall(ScoreError):
    """The call to score does not exist."""


class ScoreConflict(ScoreError):
    """The score would not extend the call's version chain (stale or missing ``supersedes``)."""


@dataclass(frozen=True)
class Actor:
    """Who made a request: a token (by id, never the token itself) and its role."""

    token_id: str
    role: str
    label: str | None = None

    @property
    def name(self) -> str:
        """How the audit log names this actor."""
        return f"token:{self.token_id}"


async def actor_of(session: AsyncSession, token: str) -> Actor | None:
    """The unrevoked token's id and role, or None."""
    row = (
        await session.execute(
            select(ApiTokenRow.token_id, ApiTokenRow.role, ApiTokenRow.label).where(
                ApiTokenRow.token_sha256 == token_digest(token), ApiTokenRow.revoked_at.is_(None)
            )
        )
    ).one_or_none()
    return None if row is None else Actor(str(row.token_id), row.role, row.label)


def audit_row(actor: str, action: str, obj: str | None, details: Mapping[str, Any]) -> AuditLogRow:
    """An audit log row (append-only table) ready to add to a session."""
    return AuditLogRow(actor=actor, action=action, object=obj, details=dict(details))


async def audit(
    db: Database, actor: str, action: str, obj: str | None, details: Mapping[str, Any]
) -> None:
    """Append one audit row in its own transaction."""
    async with db.transaction(f"audit {action}") as session:
        session.add(audit_row(actor, action, obj, details))


# ------------------------------------------------------------------ recordings --


@dataclass(frozen=True, kw_only=True)
class Recording(RecordingFile):
    """A ``recordings`` row as QA replay reads it: the file, whose it is, and when."""

    call_id: str | None
    attempt_id: str | None
    #: When the PBX started writing the file (replay offsets count from it).
    started_at: datetime | None
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        """JSON-ready (no path: it never leaves the server)."""
        return {
            "recording_id": self.recording_id,
            "call_id": self.call_id,
            "attempt_id": self.attempt_id,
            "sha256": self.sha256,
            "seconds": self.seconds,
            "bytes": self.bytes,
            "status": self.status,
            "reason": self.reason,
            "started_at": iso(self.started_at) if self.started_at else None,
        }


def _recording(row: RecordingRow) -> Recording:
    # The dataclass fields are the table's column names.
    return Recording(**{f.name: getattr(row, f.name) for f in fields(Recording)})


async def get_recording(db: Database, recording_id: str) -> Recording | None:
    """The recording with this opaque id, whatever its status."""
    async with db.transaction("read recording") as session:
        row = await session.get(RecordingRow, recording_id)
        return None if row is None else _recording(row)


async def recordings_of_call(db: Database, call_id: str) -> list[Recording]:
    """The call's recordings, oldest first."""
    async with db.transaction("read recordings of call") as session:
        rows = await session.scalars(
            select(RecordingRow)
            .where(RecordingRow.call_id == call_id)
            .order_by(RecordingRow.created_at, RecordingRow.recording_id)
        )
        return [_recording(r) for r in rows]


async def save_call_recording(
    db: Database, *, call_id: str, file: RecordingFile, started_at: datetime | None
) -> bool:
    """Write an inbound call's recording row; False if the call is not stored (yet).

    Idempotent by ``file.recording_id``: writing the same recording again changes nothing.
    """
    async with db.transaction("save call recording") as session:
        if await session.get(CallRow, call_id) is None:
            return False
        if await session.get(RecordingRow, file.recording_id) is not None:
            return True
        session.add(RecordingRow(**asdict(file), call_id=call_id, started_at=started_at))
    return True


@dataclass(frozen=True)
class PauseMark:
    """A recording pause or resume of a call (from the audit log)."""

    at: datetime
    action: Literal["pause", "resume"]
    by: str


async def pauses_of_call(db: Database, call_id: str) -> list[PauseMark]:
    """The call's recording pauses and resumes, in time order."""
    async with db.transaction("read recording pauses") as session:
        rows = await session.execute(
            select(AuditLogRow.at, AuditLogRow.action, AuditLogRow.actor, AuditLogRow.details)
            .where(AuditLogRow.object == call_id, AuditLogRow.action.in_((PAUSE, RESUME)))
            .order_by(AuditLogRow.audit_id)
        )
        marks = []
        for at, action, actor, details in rows:
            when = details.get("at") if isinstance(details, dict) else None
            marks.append(
                PauseMark(
                    at=datetime.fromisoformat(when) if isinstance(when, str) else at,
                    action="pause" if action == PAUSE else "resume",
                    by=actor,
                )
            )
        return marks


# ---------------------------------------------------------------------- scores --


@dataclass(frozen=True)
class QaScore:
    """One version of a call's QA score."""

    score_id: str
    call_id: str
    version: int
    supersedes: str | None
    scores: dict[str, int]
    satisfaction_index: float
    comment: str
    scored_by: str
    scorer_role: str
    created_at: datetime
    superseded: bool = False

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        body = asdict(self)
        body["created_at"] = iso(self.created_at)
        return body


def validate_scores(raw: Mapping[str, Any]) -> dict[str, int]:
    """The five indices as integers 1–5; :class:`ScoreError` naming the first bad field."""
    scores = {}
    for name in INDICES:
        value = raw.get(name)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScoreError(f"{name}: required, an integer 1-5", name)
        if not SCORE_MIN <= value <= SCORE_MAX:
            raise ScoreError(f"{name}: {value} is not between 1 and 5", name)
        scores[name] = value
    return scores


def _score(row: QaScoreRow, superseded: bool) -> QaScore:
    return QaScore(
        score_id=str(row.score_id),
        call_id=str(row.call_id),
        version=row.version,
        supersedes=str(row.supersedes) if row.supersedes else None,
        scores={name: getattr(row, name) for name in INDICES},
        satisfaction_index=row.satisfaction_index,
        comment=row.comment,
        scored_by=row.scored_by,
        scorer_role=row.scorer_role,
        created_at=row.created_at,
        superseded=superseded,
    )


async def submit_score(
    db: Database,
    call_id: str,
    scores: Mapping[str, Any],
    comment: str,
    actor: Actor,
    *,
    supersedes: str | None = None,
) -> QaScore:
    """Store a QA score of ``call_id`` (version 1, or a correction of ``supersedes``).

    Raises :class:`ScoreError` for bad indices or comment, :class:`UnknownCall`, and
    :class:`ScoreConflict` when the call already has a score and ``supersedes`` is not its
    latest version (a correction must say which version it corrects). The audit log gets a
    row in the same transaction.
    """
    values = validate_scores(scores)
    if len(comment) > MAX_COMMENT:
        raise ScoreError(f"comment: longer than {MAX_COMMENT} characters", "comment")
    if not is_uuid(call_id):
        raise UnknownCall(f"no call {call_id!r}")
    if supersedes is not None and not is_uuid(supersedes):
        raise ScoreError("supersedes: not a score id", "supersedes")
    try:
        async with db.transaction("submit QA score") as session:
            if await session.get(CallRow, call_id) is None:
                raise UnknownCall(f"no call {call_id!r}")
            latest = await session.scalar(
                select(QaScoreRow)
                .where(QaScoreRow.call_id == call_id)
                .order_by(QaScoreRow.version.desc())
                .limit(1)
            )
            if latest is None and supersedes is not None:
                raise ScoreConflict("supersedes: the call has no score to correct", "supersedes")
            if latest is not None and str(latest.score_id) != supersedes:
                raise ScoreConflict(
                    f"supersedes: the call's latest score is version {latest.version} "
                    f"({latest.score_id}); a correction must name it",
                    "supersedes",
                )
            row = QaScoreRow(
                score_id=str(uuid.uuid4()),
                call_id=call_id,
                version=1 if latest is None else latest.version + 1,
                supersedes=supersedes,
                satisfaction_index=satisfaction_index(values),
                comment=comment,
                scored_by=actor.name,
                scorer_role=actor.role,
                **values,
            )
            session.add(row)
            session.add(
                audit_row(
                    actor.name,
                    SCORE,
                    call_id,
                    {"score_id": row.score_id, "version": row.version, "supersedes": supersedes},
                )
            )
            await session.flush()
            await session.refresh(row)
            return _score(row, superseded=False)
    except StoreError as exc:
        if exc.sqlstate == "23505":  # a concurrent correction of the same version won
            raise ScoreConflict(
                "supersedes: another reviewer corrected this version first", "supersedes"
            ) from exc
        raise


async def score_history(db: Database, call_id: str) -> list[QaScore]:
    """Every version of the call's QA score, oldest first."""
    if not is_uuid(call_id):
        return []
    async with db.transaction("read QA scores") as session:
        rows = list(
            await session.scalars(
                select(QaScoreRow).where(QaScoreRow.call_id == call_id).order_by(QaScoreRow.version)
            )
        )
        superseded = {str(r.supersedes) for r in rows if r.supersedes}
        return [_score(r, str(r.score_id) in superseded) for r in rows]


def _latest_scores() -> Any:
    """The scores no later version supersedes (one per scored call)."""
    newer = aliased(QaScoreRow)
    return select(QaScoreRow).where(~exists().where(newer.supersedes == QaScoreRow.score_id))


@dataclass(frozen=True)
class OperatorQa:
    """QA averages of one operator's calls (latest score version of each scored call)."""

    operator_id: str | None
    scored_calls: int
    satisfaction_index: float
    indices: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (averages rounded to 3 decimals)."""
        return {
            "operator_id": self.operator_id,
            "qa_scored_calls": self.scored_calls,
            "qa_satisfaction_index": round(self.satisfaction_index, 3),
            "qa_indices": {k: round(v, 3) for k, v in self.indices.items()},
        }


async def operator_qa_averages(
    target: Database | AsyncSession, start: datetime, end: datetime
) -> list[OperatorQa]:
    """Per operator, the mean QA indices of calls offered in ``[start, end)``.

    Only each call's latest score version counts. Operators are ordered by id (calls
    without an operator last). The metrics summary merges these by ``operator_id``.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must carry a zone")
    latest = _latest_scores().subquery()
    query = (
        select(
            CallRow.operator_id,
            func.count().label("scored"),
            func.avg(latest.c.satisfaction_index).label("index_avg"),
            *(func.avg(getattr(latest.c, name)).label(name) for name in INDICES),
        )
        .join(latest, latest.c.call_id == CallRow.call_id)
        .where(CallRow.offered_at >= start, CallRow.offered_at < end)
        .group_by(CallRow.operator_id)
        .order_by(CallRow.operator_id.asc().nulls_last())
    )

    async def work(session: AsyncSession) -> list[OperatorQa]:
        rows = await session.execute(query)
        return [
            OperatorQa(
                operator_id=row.operator_id,
                scored_calls=row.scored,
                satisfaction_index=float(row.index_avg),
                indices={name: float(getattr(row, name)) for name in INDICES},
            )
            for row in rows
        ]

    if isinstance(target, AsyncSession):
        return await work(target)
    async with target.transaction("read operator QA averages") as session:
        return await work(session)


# ----------------------------------------------------------------- QA call list --


@dataclass(frozen=True)
class QaFilter:
    """Filters of the QA list. Times are zone-aware; None: no filter."""

    start: datetime | None = None
    end: datetime | None = None
    operator_id: str | None = None
    direction: str | None = None
    breach: str | None = None

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                raise ValueError(f"{name} must carry a zone")
        if self.direction is not None and self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}")
        if self.breach is not None and self.breach not in BREACHES:
            raise ValueError(f"breach must be one of {', '.join(BREACHES)}")


@dataclass(frozen=True)
class QaListRow:
    """One call of the QA list."""

    call_id: str
    offered_at: datetime
    direction: str
    operator_id: str | None
    caller_number: str | None
    duration_seconds: float
    breaches: tuple[str, ...]
    recording_id: str | None
    recording_status: str | None
    qa_index: float | None
    satisfaction: str | None


def _filtered(filters: QaFilter, latest_index: Any) -> Select[Any]:
    conditions = []
    if filters.start is not None:
        conditions.append(CallRow.offered_at >= filters.start)
    if filters.end is not None:
        conditions.append(CallRow.offered_at < filters.end)
    if filters.operator_id:
        conditions.append(CallRow.operator_id == filters.operator_id)
    if filters.direction:
        conditions.append(CallRow.direction == filters.direction)
    if filters.breach:
        conditions.append(breach_sql(filters.breach, latest_index))
    return select(CallRow).where(and_(*conditions)) if conditions else select(CallRow)


def breaches_of(row: Any, qa_index: float | None) -> tuple[BreachKind, ...]:
    """The QA breach names that apply to a call row (see :mod:`ivr_agent.core.breaches`)."""
    return _breaches_of(row, (row.extra or {}).get("satisfaction"), qa_index)


async def qa_calls(
    db: Database, filters: QaFilter, *, page: int = 1, per_page: int = 25
) -> tuple[list[QaListRow], int]:
    """One page of calls matching ``filters`` (newest first) and how many match in all."""
    if page < 1:
        raise ValueError("page must be 1 or more")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError(f"per_page must be 1-{MAX_PER_PAGE}")
    latest = _latest_scores().subquery()
    latest_index = (
        select(latest.c.satisfaction_index)
        .where(latest.c.call_id == CallRow.call_id)
        .scalar_subquery()
    )
    base = _filtered(filters, latest_index).subquery()
    calls = aliased(CallRow, base)
    index_of = (
        select(latest.c.satisfaction_index)
        .where(latest.c.call_id == calls.call_id)
        .scalar_subquery()
    )

    def newest_recording(column: Any) -> Any:
        return (
            select(column)
            .where(RecordingRow.call_id == calls.call_id)
            .order_by(RecordingRow.created_at.desc(), RecordingRow.recording_id)
            .limit(1)
            .scalar_subquery()
        )

    query = (
        select(
            calls,
            index_of.label("qa_index"),
            newest_recording(RecordingRow.recording_id).label("recording_id"),
            newest_recording(RecordingRow.status).label("recording_status"),
        )
        .order_by(calls.offered_at.desc(), calls.call_id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    async with db.transaction("list QA calls") as session:
        total = int(await session.scalar(select(func.count()).select_from(base)) or 0)
        rows = []
        for call, qa_index, recording_id, status in await session.execute(query):
            rows.append(
                QaListRow(
                    call_id=str(call.call_id),
                    offered_at=call.offered_at,
                    direction=call.direction,
                    operator_id=call.operator_id,
                    caller_number=call.caller_number,
                    duration_seconds=call.duration_seconds,
                    breaches=breaches_of(call, qa_index),
                    recording_id=recording_id,
                    recording_status=status,
                    qa_index=qa_index,
                    satisfaction=(call.extra or {}).get("satisfaction"),
                )
            )
        return rows, total


async def known_operators(db: Database) -> list[str]:
    """Every operator id that took a stored call, sorted."""
    async with db.transaction("list operators") as session:
        rows = await session.scalars(
            select(CallRow.operator_id).where(CallRow.operator_id.is_not(None)).distinct()
        )
        return sorted(str(r) for r in rows)
