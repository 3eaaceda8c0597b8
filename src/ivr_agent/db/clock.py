"""The database's clock: the one time every agent shares, for claims and due times.

Each agent host's clock may be off (or stepped by NTP while it runs); PostgreSQL's ``now()``
is the same for every agent writing to it, so decisions that several agents must agree on
(which callback is due, when one becomes due) are taken on it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession


async def database_now(session: AsyncSession) -> datetime:
    """The database's ``now()`` (start of the session's transaction), with its zone."""
    moment = await session.scalar(select(func.now()))
    if not isinstance(moment, datetime):
        raise ValueError(f"the database's now() gave {moment!r}")
    return moment
