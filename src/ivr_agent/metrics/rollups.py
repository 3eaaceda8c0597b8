"""Reading the roll-up tables (migration 0014) for the summary, and rebuilding them.

Triggers keep ``rollup_calls`` (per grain), ``rollup_calls_by_operator`` (per grain and
operator) and ``rollup_calls_by_operator_daily`` (per local day and operator) exact as
outcomes and call records are stored, and the callbacks' ``rollup_callbacks`` (see the
migration). A summary interval is cut into whole local days (per operator), whole grains
— read here, one row each — and the partial edges, which
:mod:`ivr_agent.metrics.counts` counts from ``calls`` as before; they add up to exactly
what the raw query returns (property tests check it).

The roll-ups are used only when they were built with the settings the summary asks for
(:class:`Basis`); otherwise the summary counts every call from ``calls`` (exact, slower)
until ``ivr-agent rollups rebuild`` rebuilds them with the current settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Select,
    and_,
    bindparam,
    case,
    cast,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from ivr_agent.core.buckets import ceil_to_grain, floor_to_grain, zone_grain_seconds
from ivr_agent.core.standards import SATISFACTION_ANSWERS
from ivr_agent.db.breaches import first_record_entry, needs_record
from ivr_agent.db.database import Database
from ivr_agent.db.models import (
    CallRow,
    RollupBasisRow,
    RollupCallsByOperatorDailyRow,
    RollupCallsByOperatorRow,
    RollupCallsRow,
)
from ivr_agent.platform.logging import get_logger

log = get_logger(__name__)

#: One part of a summary interval: the index of the group it belongs to, and ``[low, high)``.
Piece = tuple[int, datetime, datetime]

#: The summed values both the roll-up and the raw query return, in this order, then the
#: longest wait (a maximum): the summary adds up rows by position.
SUMMED = (
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
#: The roll-up column of a summed value, where its name differs.
_COLUMNS = {"within": "within_standard", "ring_sum": "ring_seconds_sum"}


@dataclass(frozen=True)
class Basis:
    """What the roll-ups were built with: the grain of their buckets and the settings some
    counts depend on (hold_severe, within_target, late wrap-ups)."""

    grain_seconds: int
    zone: str
    hold_severe_seconds: float
    call_target_seconds: float
    wrap_up: timedelta
    #: S5's "within 30 min" of the callback figures (``IVR_AGENT_CALLBACK_SERVICE_DUE_MINUTES``).
    callback_service_due_minutes: int

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
        zone=row.zone,
        hold_severe_seconds=row.hold_severe_seconds,
        call_target_seconds=row.call_target_seconds,
        wrap_up=row.wrap_up,
        callback_service_due_minutes=row.callback_service_due_minutes,
    )


class Split(NamedTuple):
    """Pieces cut at the grain: the whole grains (``inner``), the partial ``edges``, and
    how many grains ``inner`` covers in all."""

    inner: list[Piece]
    edges: list[Piece]
    grains: int


def split(pieces: Sequence[Piece], grain_seconds: int) -> Split:
    """Each piece cut into its whole grains (read from the roll-ups) and the partial edges
    before and after them (counted from ``calls``); a piece within one grain is all edge."""
    inner: list[Piece] = []
    edges: list[Piece] = []
    grains = 0
    for index, low, high in pieces:
        # One timestamp per bound (a year by hour has 17,520): whole seconds are exact floats.
        low_at, high_at = low.timestamp(), high.timestamp()
        if low.microsecond or low_at % grain_seconds:
            first = ceil_to_grain(low, grain_seconds)
            low_at = first.timestamp()
        else:
            first = low
        if high.microsecond or high_at % grain_seconds:
            last = floor_to_grain(high, grain_seconds)
            high_at = last.timestamp()
        else:
            last = high
        if first >= last:
            edges.append((index, low, high))
            continue
        inner.append((index, first, last))
        grains += round(high_at - low_at) // grain_seconds
        if low < first:
            edges.append((index, low, first))
        if last < high:
            edges.append((index, last, high))
    return Split(inner, edges, grains)


def _midnight_on_or_after(moment: datetime, zone: ZoneInfo) -> datetime:
    day = moment.astimezone(zone).date()
    midnight = datetime.combine(day, time(0), tzinfo=zone)
    return (
        midnight if midnight >= moment else datetime.combine(day + timedelta(days=1), time(0), zone)
    )


def split_days(pieces: Sequence[Piece], zone: ZoneInfo) -> tuple[list[Piece], list[Piece]]:
    """Each piece cut into its whole local days in ``zone`` (read from the daily roll-ups)
    and the rest before and after them (left to :func:`split`)."""
    days: list[Piece] = []
    rest: list[Piece] = []
    for index, low, high in pieces:
        first = _midnight_on_or_after(low, zone)
        last = datetime.combine(high.astimezone(zone).date(), time(0), tzinfo=zone)
        if first >= last:
            rest.append((index, low, high))
            continue
        days.append((index, first, last))
        if low < first:
            rest.append((index, low, first))
        if last < high:
            rest.append((index, last, high))
    return days, rest


Table = type[RollupCallsRow] | type[RollupCallsByOperatorRow] | type[RollupCallsByOperatorDailyRow]


def _members(table: Table, basis: Basis) -> ColumnElement[bool]:
    """The calls counted in a row of ``table`` (for the late wrap-ups still unsettled)."""
    c = CallRow
    if table is RollupCallsByOperatorDailyRow:
        # A local day lasts 23 to 25 hours: the range serves the index, the day decides.
        return and_(
            c.offered_at >= table.bucket_start,
            c.offered_at < table.bucket_start + timedelta(hours=26),
            func.date_trunc("day", c.offered_at, basis.zone) == table.bucket_start,
            func.coalesce(c.operator_id, "") == table.operator_key,
            c.pbx_id == table.pbx_id,
        )
    grain = timedelta(seconds=basis.grain_seconds)
    members = and_(
        c.offered_at >= table.bucket_start,
        c.offered_at < table.bucket_start + grain,
        c.pbx_id == table.pbx_id,
    )
    if table is RollupCallsByOperatorRow:
        members = and_(members, func.coalesce(c.operator_id, "") == table.operator_key)
    return members


def _late_wrap_ups(table: Table, basis: Basis) -> ColumnElement[Any]:
    """A row's late wrap-ups at the database's ``now()``: the records entered late, plus the
    answered calls still without a record once all of them are due (their latest end +
    the wrap-up time has passed); until then, those counted one by one from ``calls``."""
    unsettled = and_(
        needs_record(),
        first_record_entry().is_(None),
        func.now() > CallRow.ended_at + basis.wrap_up,
        _members(table, basis),
    )
    missing_late = case(
        (
            (table.records_missing == 0) | (table.missing_last_end + basis.wrap_up < func.now()),
            table.records_missing,
        ),
        else_=select(func.count()).where(unsettled).scalar_subquery(),
    )
    return cast(func.sum(table.records_late + missing_late), BigInteger)


def one_row_each(cut: Split, table: Table) -> bool:
    """True when each inner piece is exactly one row of ``table`` (a year by hour in a
    whole-hour zone): the rows' own ``bucket_start`` then names their piece."""
    return table is not RollupCallsByOperatorDailyRow and cut.grains == len(cut.inner)


def rolled_query(
    table: Table,
    inner: Sequence[Piece],
    basis: Basis,
    *,
    by_operator: bool,
    operator: str | None,
    by_row: bool = False,
    pbx_ids: Sequence[str] | None = None,
) -> Select[Any]:
    """The counts of the roll-up rows in each inner piece (``slot`` = 2 × piece + 1; rows
    of even slots lie between pieces and are dropped by the caller), per operator when
    ``by_operator``, of one operator when ``operator`` is given, of the PBXs ``pbx_ids``
    only when given (the rows of every PBX are added up otherwise).

    ``width_bucket`` finds a row's piece by binary search in the pieces' bounds, so one
    scan of the interval's rows and one hash aggregate answer every grouping. With
    ``by_row`` (see :func:`one_row_each`) the slot is the row's ``bucket_start`` instead,
    and no bounds are sent.
    """
    bounds = [inner[0][1], inner[-1][2]]
    slot: ColumnElement[Any]
    if by_row:
        slot = table.bucket_start.label("slot")
    else:
        bounds = [moment for _index, low, high in inner for moment in (low, high)]
        slot = func.width_bucket(
            table.bucket_start,
            bindparam("piece_bounds", bounds, type_=ARRAY(DateTime(timezone=True))),
        ).label("slot")
    columns: list[ColumnElement[Any]] = [
        (
            _late_wrap_ups(table, basis)
            if label == "late_wrap_ups"
            else func.sum(getattr(table, _COLUMNS.get(label, label)))
        ).label(label)
        for label in SUMMED
    ]
    columns.append(func.max(table.longest_wait).label("longest_wait"))
    keys: list[ColumnElement[Any]] = [slot]
    if by_operator:
        keys.append(table.__table__.c.operator_key.label("key"))
    query = (
        select(*keys, *columns)
        .where(table.bucket_start >= bounds[0], table.bucket_start < bounds[-1])
        .group_by(*keys)
    )
    if operator is not None:
        query = query.where(table.__table__.c.operator_key == operator)
    if pbx_ids is not None:
        query = query.where(table.pbx_id.in_(pbx_ids))
    return query


async def rebuild(
    database: Database,
    *,
    grain_seconds: int,
    zone: str,
    hold_severe_seconds: float,
    call_target_seconds: float,
    wrap_up: timedelta,
    callback_service_due_minutes: int,
) -> int:
    """Empty and refill the roll-ups from ``calls`` with this basis (one transaction; calls
    and records wait meanwhile); return the number of roll-up rows per operator."""
    async with database.transaction("rebuild roll-ups") as session:
        await session.execute(
            text(
                "SELECT rollup_rebuild(:grain, :zone, :hold_severe, :call_target, :wrap_up, "
                ":service_due)"
            ),
            {
                "grain": grain_seconds,
                "zone": zone,
                "hold_severe": hold_severe_seconds,
                "call_target": call_target_seconds,
                "wrap_up": wrap_up,
                "service_due": callback_service_due_minutes,
            },
        )
        rows = await session.scalar(select(func.count()).select_from(RollupCallsByOperatorRow))
    return int(rows or 0)
