"""Which PBXs the data holds, and what belongs to some of them (the figures' PBX filter).

Several PBXs share one database (issue 20); every call and callback names its PBX. The
summary, the history, the calls list and the dashboard count every PBX's rows, or only
those of the PBXs asked for (``pbx_id`` in the query).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, or_, select, text

from ivr_agent.db.database import Database
from ivr_agent.db.models import CallbackRow, CallRow, ComplaintRow

#: The distinct PBX ids of a table by a skip scan of an index led by ``pbx_id`` (calls:
#: its ``(pbx_id, linkedid)`` key; callbacks: the dialer's index): one index probe per PBX,
#: never a scan of millions of rows.
_DISTINCT = """
WITH RECURSIVE seen(pbx_id) AS (
    (SELECT pbx_id FROM {table} ORDER BY pbx_id LIMIT 1)
    UNION ALL
    SELECT (SELECT t.pbx_id FROM {table} AS t WHERE t.pbx_id > seen.pbx_id
            ORDER BY t.pbx_id LIMIT 1)
    FROM seen WHERE seen.pbx_id IS NOT NULL
)
SELECT pbx_id FROM seen WHERE pbx_id IS NOT NULL
"""


async def seen_pbx_ids(database: Database) -> list[str]:
    """Every PBX id of a stored call or callback, sorted (the dashboard's PBX selector)."""
    found: set[str] = set()
    async with database.transaction("PBXs seen") as session:
        for table in ("calls", "callbacks"):
            rows = await session.execute(text(_DISTINCT.format(table=table)))
            found.update(str(row[0]) for row in rows)
    return sorted(found)


def complaint_of_pbxs(pbx_ids: Sequence[str]) -> ColumnElement[bool]:
    """A complaint about a call of one of ``pbx_ids``, or opened by one of their callbacks
    (a complaint with neither belongs to no PBX: only a summary of every PBX counts it)."""
    c = ComplaintRow
    return or_(
        c.call_id.in_(select(CallRow.call_id).where(CallRow.pbx_id.in_(pbx_ids))),
        c.source_callback_id.in_(
            select(CallbackRow.callback_id).where(CallbackRow.pbx_id.in_(pbx_ids))
        ),
    )
