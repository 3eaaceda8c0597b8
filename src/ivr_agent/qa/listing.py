"""The QA call list: stored calls with their recording, breaches and latest QA index,
filtered and paged for the QA pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import aliased

from ivr_agent.core.breaches import BREACHES, BreachKind, late_wrap_up
from ivr_agent.core.breaches import breaches_of as _breaches_of
from ivr_agent.db.breaches import DEFAULT_WRAP_UP, breach_sql
from ivr_agent.db.database import Database
from ivr_agent.db.models import (
    CallRecordRow,
    CallRow,
    RecordingRow,
)
from ivr_agent.qa.scores import latest_scores

DIRECTIONS = ("inbound", "callback")
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class QaFilter:
    """Filters of the QA list. Times are zone-aware; None: no filter."""

    start: datetime | None = None
    end: datetime | None = None
    operator_id: str | None = None
    direction: str | None = None
    breach: str | None = None
    #: S8: how long after hang-up a call's record is due (``IVR_AGENT_WRAP_UP_MINUTES``).
    wrap_up: timedelta = DEFAULT_WRAP_UP

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
    #: The call's key on its PBX (its links to callbacks are looked up by it).
    pbx_id: str
    linkedid: str
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
        conditions.append(breach_sql(filters.breach, latest_index, filters.wrap_up))
    return select(CallRow).where(and_(*conditions)) if conditions else select(CallRow)


def breaches_of(
    row: Any,
    qa_index: float | None,
    first_record: datetime | None = None,
    *,
    now: datetime | None = None,
    wrap_up: timedelta = DEFAULT_WRAP_UP,
) -> tuple[BreachKind, ...]:
    """The QA breach names that apply to a call row (see :mod:`ivr_agent.core.breaches`);
    ``first_record``: when its record was first entered (S8), judged at ``now``."""
    late = (
        row.direction == "inbound"
        and row.answered_at is not None
        and row.record_expected
        and late_wrap_up(row.ended_at, first_record, now or datetime.now(UTC), wrap_up)
    )
    return _breaches_of(row, (row.extra or {}).get("satisfaction"), qa_index, late)


async def qa_calls(
    db: Database, filters: QaFilter, *, page: int = 1, per_page: int = 25
) -> tuple[list[QaListRow], int]:
    """One page of calls matching ``filters`` (newest first) and how many match in all."""
    if page < 1:
        raise ValueError("page must be 1 or more")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError(f"per_page must be 1-{MAX_PER_PAGE}")
    latest = latest_scores().subquery()
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

    # S8: when the call's record was first entered (version 1), for its late_wrap_up.
    first_record = (
        select(CallRecordRow.created_at)
        .where(CallRecordRow.call_id == calls.call_id, CallRecordRow.version == 1)
        .scalar_subquery()
    )

    def newest_recording(column: Any) -> Any:
        return (
            select(column)
            .where(RecordingRow.call_id == calls.call_id, RecordingRow.kind == "call")
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
            first_record.label("first_record"),
        )
        .order_by(calls.offered_at.desc(), calls.call_id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    async with db.transaction("list QA calls") as session:
        total = int(await session.scalar(select(func.count()).select_from(base)) or 0)
        rows = []
        now = datetime.now(UTC)
        for call, qa_index, recording_id, status, first in await session.execute(query):
            rows.append(
                QaListRow(
                    call_id=str(call.call_id),
                    offered_at=call.offered_at,
                    direction=call.direction,
                    operator_id=call.operator_id,
                    pbx_id=call.pbx_id,
                    linkedid=call.linkedid,
                    caller_number=call.caller_number,
                    duration_seconds=call.duration_seconds,
                    breaches=breaches_of(call, qa_index, first, now=now, wrap_up=filters.wrap_up),
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
