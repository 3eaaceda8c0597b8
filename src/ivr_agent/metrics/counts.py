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
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
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
from sqlalchemy.ext.asyncio import AsyncConnection

from ivr_agent.core.buckets import Unit, bucket_starts
from ivr_agent.core.figures import Counts
from ivr_agent.core.standards import SATISFACTION_ANSWERS
from ivr_agent.db.breaches import DEFAULT_WRAP_UP, late_wrap_up_sql
from ivr_agent.db.database import Database
from ivr_agent.db.models import (
    CallRow,
    RollupCallsByOperatorDailyRow,
    RollupCallsByOperatorRow,
    RollupCallsRow,
)
from ivr_agent.metrics.rollups import (
    SUMMED,
    Basis,
    Piece,
    Table,
    one_row_each,
    read_basis,
    rolled_query,
    split,
    split_days,
    usable,
)


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
        func.max(wait).label("longest_wait"),
    ]


# Both queries' rows are added up by position: the raw query's columns must be SUMMED's.
if [c.key for c in _aggregates(0.0, 0.0, DEFAULT_WRAP_UP)] != [*SUMMED, "longest_wait"]:
    raise RuntimeError("the raw summary's columns are not in rollups.SUMMED order")

#: A group's values as PostgreSQL returned them, in :data:`SUMMED` order (ints; the ring
#: time an exact Decimal), then the longest wait: adding the roll-ups' parts and the
#: edges' parts is exact in any order.
Tally = tuple[Any, ...]
_N = len(SUMMED)


def _plus(mine: Tally, theirs: Tally) -> Tally:
    a, b = mine[_N], theirs[_N]
    longest = a if b is None else b if a is None else max(a, b)
    return (*(x + y for x, y in zip(mine[:_N], theirs[:_N], strict=True)), longest)


def _total(tallies: Sequence[Tally]) -> Tally:
    if not tallies:
        return (*(0 for _ in SUMMED), None)
    columns = list(zip(*tallies, strict=True))
    waits = [w for w in columns[_N] if w is not None]
    return (*(sum(column) for column in columns[:_N]), max(waits) if waits else None)


#: Counts' field → the label of its value in a tally (where they differ).
_FIELD_LABELS = {
    "answered_within_standard": "within",
    "ring_seconds_sum": "ring_sum",
    "silence_prompted_then_spoke": "silence_spoke",
    "silence_hung_up_silent": "silence_hung_up",
    "within_target_duration": "within_target",
    "operator_hung_up_first": "operator_first",
    "longest_wait_seconds": "longest_wait",
}
#: Where each of Counts' fields is in a tally, in the order Counts takes them.
_POSITIONS = [
    [*SUMMED, "longest_wait"].index(_FIELD_LABELS.get(f.name, f.name)) for f in fields(Counts)
]
_RING = [f.name for f in fields(Counts)].index("ring_seconds_sum")
_LONGEST = [f.name for f in fields(Counts)].index("longest_wait_seconds")


def _counts(tally: Tally) -> Counts:
    # Positional: a year by hour builds 8,760 of these.
    values = [tally[p] for p in _POSITIONS]
    values[_RING] = float(values[_RING])
    longest = values[_LONGEST]
    values[_LONGEST] = None if longest is None else round(float(longest), 3)
    return Counts(*values)


def _add(found: dict[tuple[int, str | None], Tally], key: tuple[int, str | None], row: Any) -> None:
    # The values are the row's last columns (after the slot and, by operator, the key).
    tally: Tally = row[-_N - 1 :]
    known = found.get(key)
    found[key] = tally if known is None else _plus(known, tally)


def raw_query(
    pieces: Sequence[Piece],
    *,
    hold_severe_seconds: float,
    call_target_seconds: float,
    wrap_up: timedelta = DEFAULT_WRAP_UP,
    by_operator: bool = False,
    operator: str | None = None,
    pbx_ids: Sequence[str] | None = None,
) -> Select[Any]:
    """The counts of the calls of each piece (``slot`` = the piece's index), from ``calls``
    (of the PBXs ``pbx_ids`` only, when given).

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
    if pbx_ids is not None:
        per_piece = per_piece.where(c.pbx_id.in_(pbx_ids))
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


async def _add_rolled(
    conn: AsyncConnection,
    found: dict[tuple[int, str | None], Tally],
    pieces: list[Piece],
    basis: Basis,
    zone: str,
    *,
    by_operator: bool,
    operator: str | None,
    pbx_ids: Sequence[str] | None,
) -> list[Piece]:
    """Add the roll-ups' counts of the whole grains (and, per operator, whole local days)
    of ``pieces`` to ``found``; return the edges left to count from ``calls``."""
    # Each level: its table, its pieces, whether each piece is one row of it.
    levels: list[tuple[Table, list[Piece], bool]] = []
    per_operator = by_operator or operator is not None
    if per_operator and basis.zone == zone:
        # A year per operator: 365 rows each instead of 8,760.
        days, pieces = split_days(pieces, ZoneInfo(zone))
        levels.append((RollupCallsByOperatorDailyRow, days, False))
    cut = split(pieces, basis.grain_seconds)
    grains: Table = RollupCallsByOperatorRow if per_operator else RollupCallsRow
    levels.append((grains, cut.inner, one_row_each(cut, grains)))
    for table, parts, by_row in levels:
        if not parts:
            continue
        query = rolled_query(
            table,
            parts,
            basis,
            by_operator=by_operator,
            operator=operator,
            by_row=by_row,
            pbx_ids=pbx_ids,
        )
        starts = {low: index for index, low, _high in parts} if by_row else {}
        for row in (await conn.execute(query)).all():
            if by_row:
                index = starts.get(row.slot)
            else:  # an odd slot is a piece's; an even one lies between two pieces
                index = parts[row.slot // 2][0] if row.slot % 2 else None
            if index is not None:  # else a row between pieces: another level's
                _add(found, (index, (row.key or None) if by_operator else None), row)
    return cut.edges


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
    pbx_ids: Sequence[str] | None = None,
) -> Summary:
    """Counts of the inbound calls offered in ``[start, end)``, in total and per group.

    ``hour``/``day``/``week``/``month`` buckets are cut in the time zone ``zone`` (the call
    centre's; weeks start on Monday), so a day is a local day also across daylight-saving
    changes; only buckets with calls are returned, oldest first. ``operator`` groups by
    ``operator_id`` (``None``: unanswered), ``None`` last. With ``operator``, only that
    operator's calls count; with ``pbx_ids``, only those PBXs' calls (``None``: every
    PBX's). The roll-ups serve every whole grain when they were built with these settings
    (and ``use_rollups``); the same counts come from ``calls`` otherwise.
    """
    pieces = _pieces(start, end, group_by, zone)
    indexed: list[Piece] = [(n, low, high) for n, (_key, low, high) in enumerate(pieces)]
    by_operator = group_by is GroupBy.OPERATOR
    found: dict[tuple[int, str | None], Tally] = {}
    # One transaction: the roll-ups and the edges are read at one now() (late wrap-ups).
    async with database.transaction("metrics summary") as session:
        # Core execution: the ORM's row processing cost more than the query for 8,760 rows.
        conn = await session.connection()
        basis = await read_basis(session) if use_rollups else None
        edges = indexed
        if basis is not None and usable(
            basis, zone, hold_severe_seconds, call_target_seconds, wrap_up
        ):
            edges = await _add_rolled(
                conn,
                found,
                edges,
                basis,
                zone,
                by_operator=by_operator,
                operator=operator,
                pbx_ids=pbx_ids,
            )
        if edges:
            query = raw_query(
                edges,
                hold_severe_seconds=hold_severe_seconds,
                call_target_seconds=call_target_seconds,
                wrap_up=wrap_up,
                by_operator=by_operator,
                operator=operator,
                pbx_ids=pbx_ids,
            )
            for row in (await conn.execute(query)).all():
                if row.offered:
                    _add(found, (row.slot, row.key if by_operator else None), row)
    # The groups partition the interval's calls, and every count adds up: the total is
    # their sum (an empty interval: all zero), with no second pass over the rows.
    total = _counts(_total(list(found.values())))
    if group_by is None:
        return Summary(total=total, groups=None)
    if by_operator:
        keys = sorted((k[1] for k in found), key=lambda op: (op is None, op or ""))
        groups = tuple(Group(key=op, counts=_counts(found[(0, op)])) for op in keys)
    else:
        groups = tuple(
            Group(key=pieces[n][0], counts=_counts(found[(n, None)]))
            for n in range(len(pieces))
            if (n, None) in found
        )
    return Summary(total=total, groups=tuple(g for g in groups if g.counts.offered))
