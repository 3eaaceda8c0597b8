"""Reading the roll-up tables (migration 0014) for the summary, and rebuilding them.

Triggers keep ``rollup_calls`` and ``rollup_calls_by_operator`` exact as outcomes and call
records are stored (see the migration). A summary interval is cut into the part that
covers whole grains — read here, one row per grain and operator — and the partial edges,
which :mod:`ivr_agent.metrics.counts` counts from ``calls`` as before; the two add up to
exactly what the raw query returns (a property test checks it).

The roll-ups are used only when they were built with the settings the summary asks for
(:class:`Basis`); otherwise the summary counts every call from ``calls`` (exact, slower)
until ``ivr-agent rollups rebuild`` rebuilds them with the current settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Select,
    and_,
    bindparam,
    case,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from ivr_agent.core.buckets import ceil_to_grain, floor_to_grain, zone_grain_seconds
from ivr_agent.db.breaches import first_record_entry, needs_record
from ivr_agent.db.database import Database
from ivr_agent.db.models import (
    ROLLUP_COUNTS,
    CallRow,
    RollupBasisRow,
    RollupCallsByOperatorRow,
    RollupCallsRow,
)
from ivr_agent.platform.logging import get_logger

log = get_logger(__name__)

#: One part of a summary interval: the index of the group it belongs to, and ``[low, high)``.
Piece = tuple[int, datetime, datetime]

#: Roll-up column → the label the summary's counts are read by (the raw query's labels).
_LABELS = {
    **{name: name for name in ROLLUP_COUNTS},
    "within_standard": "within",
}


@dataclass(frozen=True)
class Basis:
    """What the roll-ups were built with: the grain of their buckets and the settings some
    counts depend on (hold_severe, within_target, late wrap-ups)."""

    grain_seconds: int
    hold_severe_seconds: float
    call_target_seconds: float
    wrap_up: timedelta

    def fits(
        self, hold_severe_seconds: float, call_target_seconds: float, wrap_up: timedelta
    ) -> bool:
        """True when these roll-ups count what a summary with these settings counts."""
        return (
            self.hold_severe_seconds == hold_severe_seconds
            and self.call_target_seconds == call_target_seconds
            and self.wrap_up == wrap_up
        )


#: The mismatches already logged (once per process each, not once per summary).
_WARNED: set[tuple[Basis, str, float, float, timedelta]] = set()


def usable(
    basis: Basis | None,
    zone: str,
    hold_severe_seconds: float,
    call_target_seconds: float,
    wrap_up: timedelta,
) -> bool:
    """Whether a summary with these settings may read the roll-ups ``basis`` describes;
    says once in the log when they were built otherwise (the summary is then counted from
    ``calls``: the same figures, slower) or with a grain coarser than the zone needs (only
    whole grains are read: each local bucket's edges are counted from ``calls``)."""
    if basis is None:
        return False
    fits = basis.fits(hold_severe_seconds, call_target_seconds, wrap_up)
    coarse = zone_grain_seconds(zone) % basis.grain_seconds != 0
    key = (basis, zone, hold_severe_seconds, call_target_seconds, wrap_up)
    if (coarse or not fits) and key not in _WARNED:
        _WARNED.add(key)
        log.warning(
            "roll-ups built with other settings: run `ivr-agent rollups rebuild`",
            rollups_built_for=str(basis),
            zone=zone,
            settings_fit=fits,
            grain_fits_zone=not coarse,
        )
    return fits


async def read_basis(session: AsyncSession) -> Basis | None:
    """The roll-ups' basis, or ``None`` when there are no roll-ups."""
    row = await session.scalar(select(RollupBasisRow))
    if row is None:
        return None
    return Basis(
        grain_seconds=row.grain_seconds,
        hold_severe_seconds=row.hold_severe_seconds,
        call_target_seconds=row.call_target_seconds,
        wrap_up=row.wrap_up,
    )


def split(pieces: Sequence[Piece], grain_seconds: int) -> tuple[list[Piece], list[Piece]]:
    """Each piece cut into its whole grains (read from the roll-ups) and the partial edges
    before and after them (counted from ``calls``); a piece within one grain is all edge."""
    inner: list[Piece] = []
    edges: list[Piece] = []
    for index, low, high in pieces:
        first = ceil_to_grain(low, grain_seconds)
        last = floor_to_grain(high, grain_seconds)
        if first >= last:
            edges.append((index, low, high))
            continue
        inner.append((index, first, last))
        if low < first:
            edges.append((index, low, first))
        if last < high:
            edges.append((index, last, high))
    return inner, edges


def _late_wrap_ups(
    table: type[RollupCallsRow] | type[RollupCallsByOperatorRow], basis: Basis
) -> ColumnElement[Any]:
    """A row's late wrap-ups at the database's ``now()``: the records entered late, plus the
    answered calls still without a record once all of them are due (their latest end +
    the wrap-up time has passed); until then, those counted one by one from ``calls``."""
    grain = timedelta(seconds=basis.grain_seconds)
    c = CallRow
    unsettled = and_(
        needs_record(),
        first_record_entry().is_(None),
        func.now() > c.ended_at + basis.wrap_up,
        c.offered_at >= table.bucket_start,
        c.offered_at < table.bucket_start + grain,
    )
    if table is RollupCallsByOperatorRow:
        unsettled = and_(
            unsettled, func.coalesce(c.operator_id, "") == RollupCallsByOperatorRow.operator_key
        )
    missing_late = case(
        (
            (table.records_missing == 0) | (table.missing_last_end + basis.wrap_up < func.now()),
            table.records_missing,
        ),
        else_=select(func.count()).where(unsettled).scalar_subquery(),
    )
    return func.sum(table.records_late + missing_late)


def rolled_query(
    inner: Sequence[Piece], basis: Basis, *, by_operator: bool, operator: str | None
) -> Select[Any]:
    """The counts of the roll-up rows in each inner piece (``slot`` = 2 × piece + 1; rows
    of even slots lie between pieces and are dropped by the caller), per operator when
    ``by_operator``, of one operator when ``operator`` is given.

    ``width_bucket`` finds a row's piece by binary search in the pieces' bounds, so one
    scan of the interval's rows and one hash aggregate answer every grouping.
    """
    table: type[RollupCallsRow] | type[RollupCallsByOperatorRow] = (
        RollupCallsByOperatorRow if by_operator or operator is not None else RollupCallsRow
    )
    bounds = [moment for _index, low, high in inner for moment in (low, high)]
    slot = func.width_bucket(
        table.bucket_start,
        bindparam("piece_bounds", bounds, type_=ARRAY(DateTime(timezone=True))),
    ).label("slot")
    columns: list[ColumnElement[Any]] = [
        func.sum(getattr(table, name)).label(label)
        for name, label in _LABELS.items()
        if name not in {"records_late", "records_missing"}
    ]
    columns += [
        func.sum(table.ring_seconds_sum).label("ring_sum"),
        func.max(table.longest_wait).label("longest_wait"),
        _late_wrap_ups(table, basis).label("late_wrap_ups"),
    ]
    keys: list[ColumnElement[Any]] = [slot]
    if by_operator:
        keys.append(RollupCallsByOperatorRow.operator_key.label("key"))
    query = (
        select(*keys, *columns)
        .where(table.bucket_start >= bounds[0], table.bucket_start < bounds[-1])
        .group_by(*keys)
    )
    if operator is not None:
        query = query.where(RollupCallsByOperatorRow.operator_key == operator)
    return query


async def rebuild(
    database: Database,
    *,
    grain_seconds: int,
    hold_severe_seconds: float,
    call_target_seconds: float,
    wrap_up: timedelta,
) -> int:
    """Empty and refill the roll-ups from ``calls`` with this basis (one transaction; calls
    and records wait meanwhile); return the number of roll-up rows per operator."""
    async with database.transaction("rebuild roll-ups") as session:
        await session.execute(
            text("SELECT rollup_rebuild(:grain, :hold_severe, :call_target, :wrap_up)"),
            {
                "grain": grain_seconds,
                "hold_severe": hold_severe_seconds,
                "call_target": call_target_seconds,
                "wrap_up": wrap_up,
            },
        )
        rows = await session.scalar(select(func.count()).select_from(RollupCallsByOperatorRow))
    return int(rows or 0)
