"""Opening the database: an engine, a session factory and a health probe.

:func:`open_database` is the only way the rest of the agent gets a database. With
``IVR_AGENT_DATABASE_URL`` unset it starts the embedded PostgreSQL first (store.embedded).
Opening does not require the server to be reachable: the engine connects lazily, so the
agent can start (and spool outcomes) while an external PostgreSQL is down; ``ping()``
tells whether it is up.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from ivr_agent.db.embedded import embedded_postgres
from ivr_agent.db.errors import StoreError, translate_errors
from ivr_agent.platform.logging import get_logger
from ivr_agent.settings import Settings

log = get_logger(__name__)

#: Seconds to wait for a connection, and for any single statement, before giving up.
CONNECT_TIMEOUT = 10.0
STATEMENT_TIMEOUT = 60.0


@dataclass(frozen=True)
class Database:
    """An open database. ``str(url)`` and ``display_url`` never show the password."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    url: URL

    @property
    def display_url(self) -> str:
        """The URL with the password masked, safe to log and show."""
        return self.url.render_as_string(hide_password=True)

    async def ping(self, within: float = 5.0) -> bool:
        """True if a ``SELECT 1`` succeeds within ``within`` seconds; never raises."""
        try:
            async with asyncio.timeout(within), self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:  # any failure means "not up"; the reason is for the logs
            log.debug("database ping failed", url=self.display_url, exc_info=True)
            return False
        return True

    @asynccontextmanager
    async def transaction(
        self, action: str = "database transaction"
    ) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on exit, rolled back on error.

        Driver errors leave as :class:`StoreError` whose message starts with ``action``.
        """
        with translate_errors(action):
            async with self.sessions() as session, session.begin():
                yield session


def _dumps(value: Any) -> str:
    # JSONB columns hold caller names and event details: keep Chinese readable in psql.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def create_database(
    url: URL | str, *, statement_timeout: float | None = STATEMENT_TIMEOUT
) -> Database:
    """A :class:`Database` for ``url`` (``postgresql+asyncpg``); nothing connects yet.

    ``statement_timeout`` bounds every statement (seconds; ``None``: unbounded, for
    migrations that rebuild large tables). It is enforced by the client, so it also ends
    a statement stuck on a connection the server has silently lost.
    """
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername != "postgresql+asyncpg":
        raise StoreError(
            f"unsupported database driver {parsed.drivername!r}; use postgresql+asyncpg"
        )
    engine = create_async_engine(
        parsed,
        pool_pre_ping=True,
        json_serializer=_dumps,
        connect_args={
            "timeout": CONNECT_TIMEOUT,
            "command_timeout": statement_timeout,
            "server_settings": {"application_name": "ivr-agent", "timezone": "UTC"},
        },
    )
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    return Database(engine=engine, sessions=sessions, url=parsed)


@asynccontextmanager
async def connect(
    url: URL | str, *, statement_timeout: float | None = STATEMENT_TIMEOUT
) -> AsyncIterator[Database]:
    """Open the database at ``url``; its connections are closed on exit."""
    db = create_database(url, statement_timeout=statement_timeout)
    try:
        yield db
    finally:
        await db.engine.dispose()


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    """Open the configured database, starting the embedded server when no URL is set.

    On exit the connections are closed and an embedded server this process started is
    stopped (unless another process still uses it). Raises :class:`StoreError` if the
    embedded server cannot start; an external server may be down (see ``ping``).
    """
    async with AsyncExitStack() as stack:
        if settings.database_url is None:
            server = await stack.enter_async_context(embedded_postgres(settings.data_dir))
            url = server.url
        else:
            url = make_url(settings.database_url.get_secret_value())
        db = await stack.enter_async_context(connect(url))
        log.info("database opened", url=db.display_url, embedded=settings.database_url is None)
        yield db
