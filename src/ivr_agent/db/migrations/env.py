"""Alembic environment (async): the only way the schema changes.

Two ways in:
- ``ivr-agent migrate`` / auto-migrate on start (db/migrate.py) hand over an open
  connection in ``config.attributes["connection"]``; it is already inside a transaction
  that holds the migration advisory lock, and is used as is.
- ``alembic`` on the command line (developers): the URL comes from ``sqlalchemy.url`` if
  set in the config, else from ``IVR_AGENT_DATABASE_URL`` via the settings, and
  an async engine is created here.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import async_engine_from_config

from ivr_agent.db.models import Base

config = context.config
target_metadata = Base.metadata


def _url_for_cli() -> str:
    configured = config.get_main_option("sqlalchemy.url")
    if configured:
        return configured
    from ivr_agent.settings import load_settings

    url = load_settings().database_url
    if url is None:
        raise SystemExit(
            "alembic: set IVR_AGENT_DATABASE_URL (the embedded database is migrated with "
            "`ivr-agent migrate`)"
        )
    return url.get_secret_value()


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
    )


def do_run_migrations(connection: Connection) -> None:
    """Run the pending migrations on ``connection`` (sync side of ``run_sync``)."""
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    """Connect with an async engine (no pool: one connection, then gone) and migrate."""
    engine = async_engine_from_config(
        {"sqlalchemy.url": make_url(_url_for_cli())},
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await engine.dispose()


def run_migrations_offline() -> None:
    """``alembic upgrade --sql``: print the SQL instead of running it."""
    context.configure(
        dialect_name="postgresql",
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate a live database: the caller's connection if given, else our own."""
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
        return
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    asyncio.run(run_async_migrations())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
