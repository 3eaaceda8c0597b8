"""The plumbing of the callback store: one unit of work, in the caller's transaction or one
of its own, and times checked to carry a zone before they are stored (as UTC)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from ivr_agent.db.database import Database
from ivr_agent.db.errors import translate_errors

T = TypeVar("T")


def utc(name: str, moment: datetime) -> datetime:
    """``moment`` in UTC; ``ValueError`` naming ``name`` if it has no zone."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must carry a time zone")
    return moment.astimezone(UTC)


async def in_transaction(
    target: Database | AsyncSession, action: str, work: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    """Run ``work`` in ``target``: an open session (the caller owns its transaction) or a
    database (a transaction of its own, committed when ``work`` returns). Driver errors
    become ``StoreError`` naming ``action`` either way."""
    if isinstance(target, AsyncSession):
        with translate_errors(action):
            return await work(target)
    async with target.transaction(action) as session:
        return await work(session)
