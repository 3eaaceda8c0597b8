"""Versioned QA scores and per-operator QA averages.

Scores are immutable (a trigger refuses changes, migration 0003). :func:`submit_score`
writes version 1 of a call's score, or a correction: the next version naming the version it
``supersedes``, which must be the call's latest — so the versions of a call form one chain
and the latest is the one not superseded. Two reviewers correcting the same version at once
cannot both win: the unique constraints refuse the second, which gets :class:`ScoreConflict`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from ivr_agent.core.ids import is_uuid
from ivr_agent.core.outcome import iso
from ivr_agent.core.satisfaction import INDICES, SCORE_MAX, SCORE_MIN, satisfaction_index
from ivr_agent.db.database import Database
from ivr_agent.db.errors import StoreError
from ivr_agent.db.models import (
    CallRow,
    QaScoreRow,
)
from ivr_agent.qa.records import Actor, audit_row

MAX_COMMENT = 4000
SCORE = "qa.score"


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
        # ASCII digits only: "²".isdigit() is true, and int() would raise on it.
        if isinstance(value, str) and re.fullmatch(r"[0-9]{1,3}", value.strip()):
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


def latest_scores() -> Any:
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
    target: Database | AsyncSession,
    start: datetime,
    end: datetime,
    pbx_ids: Sequence[str] | None = None,
) -> list[OperatorQa]:
    """Per operator, the mean QA indices of calls offered in ``[start, end)`` (of the PBXs
    ``pbx_ids`` only, when given).

    Only each call's latest score version counts. Operators are ordered by id (calls
    without an operator last). The metrics summary merges these by ``operator_id``.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must carry a zone")
    latest = latest_scores().subquery()
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
    if pbx_ids is not None:
        query = query.where(CallRow.pbx_id.in_(pbx_ids))

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
