"""Schema migrations from async code: upgrade to head, downgrade to base, where we are.

Alembic's command API is synchronous; it runs here on a connection of the async engine
through ``AsyncConnection.run_sync`` (the env.py in ``migrations/``, package data beside this
module, uses the connection it is handed). The whole migration is one transaction
(PostgreSQL has transactional DDL) holding an advisory lock, so several agents starting at
once against one database migrate it exactly once, and a failed migration leaves the schema
as it was.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr_agent.db.database import Database, connect
from ivr_agent.db.errors import StoreError, translate_errors
from ivr_agent.platform.logging import get_logger

log = get_logger(__name__)

# Arbitrary but fixed: every ivr-agent process takes this advisory lock to migrate.
_MIGRATION_LOCK_KEY = 0x1A7E_5C4E_0000_0001


@dataclass(frozen=True)
class MigrationResult:
    """The revision before and after a migration (``None``: no schema at all)."""

    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        """True if any migration ran."""
        return self.before != self.after


def migrations_dir() -> Path:
    """The Alembic environment: ``migrations/`` inside the installed package (package
    data, so an installed wheel finds it from any working directory).

    Raises :class:`StoreError` naming the directory if it holds no Alembic environment
    (a package installed without its data).
    """
    directory = Path(str(resources.files("ivr_agent.db") / "migrations"))
    if not (directory / "env.py").is_file():
        raise StoreError(
            f"Alembic migrations not found in {directory}: reinstall ivr-agent "
            "(the package ships them as data)"
        )
    return directory


def alembic_config() -> Config:
    """An Alembic config for our scripts; no ini file, so nothing reconfigures logging."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    return config


def head_revision() -> str:
    """The newest revision in ``migrations/versions``."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise StoreError("no migrations in migrations/versions")
    return head


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _runner(
    action: Callable[[Config, str], None], revision: str
) -> Callable[[Connection], MigrationResult]:
    def run(connection: Connection) -> MigrationResult:
        before = _current(connection)
        config = alembic_config()
        config.attributes["connection"] = connection
        action(config, revision)
        return MigrationResult(before=before, after=_current(connection))

    return run


@asynccontextmanager
async def _engine(target: Database | URL | str) -> AsyncIterator[AsyncEngine]:
    # Always a separate engine without the statement timeout of the agent's pool: a future
    # migration that rebuilds an index on a large table may rightly take minutes.
    url = target.url if isinstance(target, Database) else target
    async with connect(url, statement_timeout=None) as db:
        yield db.engine


async def _migrate(
    target: Database | URL | str, action: Callable[[Config, str], None], revision: str
) -> MigrationResult:
    with translate_errors(f"migrate to {revision}"):
        async with _engine(target) as engine, engine.begin() as conn:
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
            )
            result = await conn.run_sync(_runner(action, revision))
    if result.changed:
        log.info("database schema migrated", before=result.before, after=result.after)
    return result


async def upgrade_to_head(target: Database | URL | str) -> MigrationResult:
    """Upgrade the schema to the newest revision; does nothing if it is already there.

    ``target`` is an open :class:`Database` or a URL; either way the migration runs on a
    short-lived connection of its own, without the agent's statement timeout.
    Raises :class:`StoreError` if the database is unreachable or a migration fails.
    """
    return await _migrate(target, command.upgrade, "head")


async def upgrade_to(target: Database | URL | str, revision: str) -> MigrationResult:
    """Upgrade the schema to ``revision`` (tests of a migration's backfill start below it)."""
    return await _migrate(target, command.upgrade, revision)


async def downgrade_to_base(target: Database | URL | str) -> MigrationResult:
    """Remove every table the migrations created (tests and uninstall); idempotent."""
    return await _migrate(target, command.downgrade, "base")


async def current_revision(target: Database | URL | str) -> str | None:
    """The schema's revision now, ``None`` if the database was never migrated."""
    with translate_errors("read schema revision"):
        async with _engine(target) as engine, engine.connect() as conn:
            return await conn.run_sync(_current)
