"""Running one piece of async database work from a synchronous command."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from ivr_agent.settings import Settings

if TYPE_CHECKING:
    from ivr_agent.db.database import Database

T = TypeVar("T")


def in_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """``work(db)`` on the settings' database (migrated first when ``auto_migrate``), in a
    fresh event loop; its result."""
    from ivr_agent.db.database import open_database
    from ivr_agent.db.migrate import upgrade_to_head

    async def run() -> T:
        async with open_database(settings) as db:
            if settings.auto_migrate:
                await upgrade_to_head(db)
            return await work(db)

    return asyncio.run(run())
