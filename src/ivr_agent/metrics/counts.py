"""The summary's counts of inbound calls: from the roll-ups where they cover whole grains,
from ``calls`` for the rest — the same numbers either way.

Everything is counted in PostgreSQL (``count(*) FILTER (WHERE …)``, ``sum``, ``max``); only
one row per group comes back. The raw query over ``calls`` aggregates each piece of the
interval by a ``LATERAL`` range scan of the ``offered_at`` index; the roll-up query
(:mod:`ivr_agent.metrics.rollups`) reads one row per grain. Turning counts into figures
(ratios, formulas) is :mod:`ivr_agent.core.figures`.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    Numeric,
    Select,
    and_,
    bindparam,
    cast,
    extract,
    func,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from ivr_agent.core.buckets import Unit, bucket_starts
from ivr_agent.core.figures import Counts
from ivr_agent.core.standards import SATISFACTION_ANSWERS
from ivr_agent.db.breaches import DEFAULT_WRAP_UP, late_wrap_up_sql
from ivr_agent.db.database import Database
from ivr_agent.db.models import CallRow
from ivr_agent.metrics.rollups import Piece, read_basis, rolled_query, split, usable


class GroupBy(enum.StrEnum):
    """How ``summary`` splits the interval."""

    OPERATOR = "operator"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"

    @property
    def unit(self) -> Unit | None:
        """The time bucket of this grouping (``None``: by operator)."""
        return None if self is GroupBy.OPERATOR else Unit(self.value)


@dataclass(frozen=True)
class Group:
    """One group's key (operator id, or the bucket's start) and its counts."""

    key: str | datetime | None
    counts: Counts


@dataclass(frozen=True)
class Summary:
    """The counts of the whole interval and, when grouped, of each group."""

    total: Counts
    groups: tuple[Group, ...] | None


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count().filter(condition)


def _aggregates(
    hold_severe_seconds: float, call_target_seconds: float, wrap_up: timedelta
) -> list[ColumnElement[Any]]:
    c = CallRow
    answered = c.answered_at.is_not(None)
    wait = func.coalesce(c.ring_seconds, extract("epoch", c.ended_at - c.wait_started_at))
    return [
        func.count().label("offered"),
        _count(answered).label("answered"),
        _count(and_(answered, c.answered_within_standard.is_(True))).label("within"),
        _count(c.abandoned.is_(True)).label("abandoned"),
        _count(and_(c.abandoned.is_(True), c.short_abandon.is_(True))).label("short_abandons"),
        # An exact decimal sum: the same whatever order the rows (or roll-ups) are added in.
        func.coalesce(func.sum(cast(c.ring_seconds, Numeric)).filter(answered), 0).label(
            "ring_sum"
        ),
        func.max(wait).label("longest_wait"),
        _count(c.hold_over_limit.is_(True)).label("hold_over_limit"),
        _count(c.max_hold_seconds > hold_severe_seconds).label("hold_severe"),
        _count(c.silence == "prompted_then_spoke").label("silence_spoke"),
        _count(c.silence == "hung_up_silent").label("silence_hung_up"),
        _count(c.over_max_duration.is_(True)).label("over_max_duration"),
        _count(and_(answered, c.talk_seconds <= call_target_seconds)).label("within_target"),
        _count(c.operator_hung_up_first.is_(True)).label("operator_first"),
        *(
            _count(c.extra["satisfaction"].astext == answer).label(f"satisfaction_{answer}")
            for answer in SATISFACTION_ANSWERS
        ),
        _count(c.complete.is_(False)).label("incomplete"),
        # S8, at the database's clock: a record still missing is late once it is due.
        _count(late_wrap_up_sql(wrap_up)).label("late_wrap_ups"),
    ]


#: The labels of the summed values (everything but the longest wait, a maximum).
_SUMMED = (
    "offered",
    "answered",
    "within",
    "abandoned",
    "short_abandons",
    "ring_sum",
    "hold_over_limit",
    "hold_severe",
    "silence_spoke",
    "silence_hung_up",
    "over_max_duration",
    "within_target",
    "operator_first",
    *(f"satisfaction_{answer}" for answer in SATISFACTION_ANSWERS),
    "incomplete",
    "late_wrap_ups",
)


@dataclass(frozen=True)
class _Tally:
    """A group's sums as PostgreSQL returned them (ints, the ring time an exact Decimal),
    so adding the roll-ups' part and the edges' parts is exact in any order."""

    sums: tuple[Decimal, ...] = tuple(Decimal(0) for _ in _SUMMED)
    longest_wait: float | None = None

    @classmethod
    def of(cls, row: Any) -> _Tally:
        longest = row.longest_wait
        return cls(
            sums=tuple(Decimal(getattr(row, label) or 0) for label in _SUMMED),
            longest_wait=None if longest is None else float(longest),
        )

    def __add__(self, other: _Tally) -> _Tally:
        waits = [w for w in (self.longest_wait, other.longest_wait) if w is not None]
        return _Tally(
            sums=tuple(a + b for a, b in zip(self.sums, other.sums, strict=True)),
            longest_wait=max(waits) if waits else None,
        )

    def counts(self) -> Counts:
        """The summary's :class:`Counts` of these sums."""
        v = dict(zip(_SUMMED, self.sums, strict=True))
        longest = self.longest_wait
        return Counts(
            offered=int(v["offered"]),
            answered=int(v["answered"]),
            answered_within_standard=int(v["within"]),
            abandoned=int(v["abandoned"]),
            short_abandons=int(v["short_abandons"]),
            ring_seconds_sum=float(v["ring_sum"]),
            longest_wait_seconds=None if longest is None else round(longest, 3),
            hold_over_limit=int(v["hold_over_limit"]),
            hold_severe=int(v["hold_severe"]),
            silence_prompted_then_spoke=int(v["silence_spoke"]),
            silence_hung_up_silent=int(v["silence_hung_up"]),
            over_max_duration=int(v["over_max_duration"]),
            within_target_duration=int(v["within_target"]),
            operator_hung_up_first=int(v["operator_first"]),
            satisfaction_satisfied=int(v["satisfaction_satisfied"]),
            satisfaction_suggestion=int(v["satisfaction_suggestion"]),
            satisfaction_invalid=int(v["satisfaction_invalid"]),
            satisfaction_no_answer=int(v["satisfaction_no_answer"]),
            incomplete=int(v["incomplete"]),
            late_wrap_ups=int(v["late_wrap_ups"]),
        )


def raw_query(
    pieces: Sequence[Piece],
    *,
    hold_severe_seconds: float,
    call_target_seconds: float,
    wrap_up: timedelta = DEFAULT_WRAP_UP,
    by_operator: bool = False,
    operator: str | None = None,
) -> Select[Any]:
    """The counts of the calls of each piece (``slot`` = the piece's index), from ``calls``.

    The pieces' bounds are joined as ``unnest`` of arrays, each piece aggregated by a
    lateral range scan of the ``offered_at`` index — no sort of the interval's rows, no
    time-zone arithmetic per row (``GROUP BY date_trunc(…)`` made PostgreSQL sort every
    row: see benchmarks/README.md). By operator: a ``GROUP BY operator_id`` inside.
    """
    c = CallRow
    array_type = ARRAY(DateTime(timezone=True))
    bounds = (
        func.unnest(
            bindparam("slots", [p[0] for p in pieces], type_=ARRAY(Integer)),
            bindparam("lows", [p[1] for p in pieces], type_=array_type),
            bindparam("highs", [p[2] for p in pieces], type_=array_type),
        )
        .table_valued("slot", "low", "high")
        .render_derived(name="piece", with_types=False)
    )
    aggregates = _aggregates(hold_severe_seconds, call_target_seconds, wrap_up)
    keys = [c.operator_id.label("key")] if by_operator else []
    per_piece = select(*keys, *aggregates).where(
        c.direction == "inbound", c.offered_at >= bounds.c.low, c.offered_at < bounds.c.high
    )
    if operator is not None:
        per_piece = per_piece.where(c.operator_id == operator)
    if by_operator:
        per_piece = per_piece.group_by(c.operator_id)
    lateral = per_piece.lateral("figures")
    return select(bounds.c.slot, lateral).select_from(bounds.join(lateral, true()))


def _pieces(
    start: datetime, end: datetime, group_by: GroupBy | None, zone: str
) -> list[tuple[datetime | None, datetime, datetime]]:
    """The groups' keys and bounds: one piece for the whole interval (total, operators), or
    one per time bucket clipped to ``[start, end)``."""
    unit = group_by.unit if group_by is not None else None
    if unit is None:
        return [(None, start, end)]
    starts = bucket_starts(start, end, unit, ZoneInfo(zone))
    highs = [*starts[1:], end]
    return [(s, max(s, start), min(h, end)) for s, h in zip(starts, highs, strict=True)]


async def summary(
    database: Database,
    start: datetime,
    end: datetime,
    *,
    hold_severe_seconds: float,
    call_target_seconds: float,
    group_by: GroupBy | None = None,
    zone: str = "UTC",
    wrap_up: timedelta = DEFAULT_WRAP_UP,
    operator: str | None = None,
    use_rollups: bool = True,
) -> Summary:
    """Counts of the inbound calls offered in ``[start, end)``, in total and per group.

    ``hour``/``day``/``week``/``month`` buckets are cut in the time zone ``zone`` (the call
    centre's; weeks start on Monday), so a day is a local day also across daylight-saving
    changes; only buckets with calls are returned, oldest first. ``operator`` groups by
    ``operator_id`` (``None``: unanswered), ``None`` last. With ``operator``, only that
    operator's calls count. The roll-ups serve every whole grain when they were built with
    these settings (and ``use_rollups``); the same counts come from ``calls`` otherwise.
    """
    pieces = _pieces(start, end, group_by, zone)
    indexed: list[Piece] = [(n, low, high) for n, (_key, low, high) in enumerate(pieces)]
    by_operator = group_by is GroupBy.OPERATOR
    found: dict[tuple[int, str | None], _Tally] = defaultdict(_Tally)
    # One transaction: the roll-ups and the edges are read at one now() (late wrap-ups).
    async with database.transaction("metrics summary") as session:
        basis = await read_basis(session) if use_rollups else None
        if basis is not None and usable(
            basis, zone, hold_severe_seconds, call_target_seconds, wrap_up
        ):
            inner, edges = split(indexed, basis.grain_seconds)
            if inner:
                query = rolled_query(inner, basis, by_operator=by_operator, operator=operator)
                for row in (await session.execute(query)).all():
                    if row.slot % 2:  # an even slot lies between two pieces: an edge's
                        index = inner[row.slot // 2][0]
                        found[(index, (row.key or None) if by_operator else None)] += _Tally.of(row)
        else:
            edges = indexed
        await _add_raw(
            session,
            edges,
            found,
            by_operator=by_operator,
            operator=operator,
            hold_severe_seconds=hold_severe_seconds,
            call_target_seconds=call_target_seconds,
            wrap_up=wrap_up,
        )
    # The groups partition the interval's calls, and every count adds up: the total is
    # their sum (an empty interval: all zero), with no second pass over the rows.
    total = sum(found.values(), _Tally()).counts()
    if group_by is None:
        return Summary(total=total, groups=None)
    if by_operator:
        keys = sorted((k[1] for k in found), key=lambda op: (op is None, op or ""))
        groups = tuple(Group(key=op, counts=found[(0, op)].counts()) for op in keys)
    else:
        groups = tuple(
            Group(key=pieces[n][0], counts=found[(n, None)].counts())
            for n in range(len(pieces))
            if (n, None) in found
        )
    return Summary(total=total, groups=tuple(g for g in groups if g.counts.offered))


async def _add_raw(
    session: AsyncSession,
    edges: Sequence[Piece],
    found: dict[tuple[int, str | None], _Tally],
    *,
    by_operator: bool,
    operator: str | None,
    hold_severe_seconds: float,
    call_target_seconds: float,
    wrap_up: timedelta,
) -> None:
    if not edges:
        return
    query = raw_query(
        edges,
        hold_severe_seconds=hold_severe_seconds,
        call_target_seconds=call_target_seconds,
        wrap_up=wrap_up,
        by_operator=by_operator,
        operator=operator,
    )
    for row in (await session.execute(query)).all():
        if row.offered:
            found[(row.slot, row.key if by_operator else None)] += _Tally.of(row)
