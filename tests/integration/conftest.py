"""A real PostgreSQL for the integration tests, and a fresh database for each test.

One server serves the whole session: ``IVR_AGENT_DATABASE_URL`` if it is set (CI may
provide one), else a pgserver started under the session's temporary directory. Each test
that asks for ``database_url`` gets its own empty database (``CREATE DATABASE test_…``),
dropped afterwards, so tests never see each other's rows. If no server can be started the
fixture raises: the tests error out, they are never skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from ivr_agent.db.database import Database, connect
from ivr_agent.db.embedded import database_url as socket_url
from ivr_agent.db.migrate import upgrade_to_head


def _external_url() -> URL | None:
    raw = os.environ.get("IVR_AGENT_DATABASE_URL", "").strip()
    if not raw:
        return None
    _scheme, _, rest = raw.partition("://")
    return make_url(f"postgresql+asyncpg://{rest}")


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[URL]:
    """URL of the session's PostgreSQL server (its maintenance database ``postgres``)."""
    external = _external_url()
    if external is not None:
        yield external.set(database="postgres")
        return
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    server: Any = pgserver.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="stop")
    try:
        socket_dir = parse_qs(urlsplit(server.get_uri()).query)["host"][0]
        yield socket_url(Path(socket_dir), "postgres")
    finally:
        server.cleanup()


@pytest.fixture
async def database_url(postgres_url: URL) -> AsyncIterator[URL]:
    """URL of a new, empty database on the session server; dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    admin = create_async_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield postgres_url.set(database=name)
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@pytest.fixture
async def db(database_url: URL) -> AsyncIterator[Database]:
    """An open :class:`Database` on a fresh database migrated to head."""
    async with connect(database_url) as database:
        await upgrade_to_head(database)
        yield database


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for running ``ivr-agent`` as a subprocess: no inherited IVR_AGENT_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_AGENT_")}
    env["IVR_AGENT_DATA_DIR"] = str(tmp_path / "var")
    env["IVR_AGENT_LOG_FORMAT"] = "json"
    return env
