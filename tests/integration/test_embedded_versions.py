"""The embedded PostgreSQL's major version: 18 for a new data directory; a directory an
earlier ivr-agent made with pgserver (PostgreSQL 16) keeps running on 16, never upgraded
behind the admin's back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest

from ivr_agent.db.embedded import EmbeddedServer, embedded_postgres, pgserver_module

pytestmark = pytest.mark.postgres


async def _major_version(server: EmbeddedServer) -> int:
    conn = await asyncpg.connect(host=str(server.socket_dir), user="postgres", database="postgres")
    try:
        return int(await conn.fetchval("SHOW server_version_num")) // 10000
    finally:
        await conn.close()


def _made_by_postgres_16(pgdata: Path) -> None:
    server = pgserver_module().get_server(pgdata, cleanup_mode="stop", postgres_version=16)
    server.cleanup()


async def test_given_a_new_data_dir_then_the_embedded_server_is_postgresql_18(
    tmp_path: Path,
) -> None:
    async with embedded_postgres(tmp_path) as server:
        assert await _major_version(server) == 18


async def test_given_a_data_dir_made_by_postgresql_16_then_it_runs_on_16_untouched(
    tmp_path: Path,
) -> None:
    (tmp_path / "postgres").mkdir()
    await asyncio.to_thread(_made_by_postgres_16, tmp_path / "postgres")
    async with embedded_postgres(tmp_path) as server:
        assert await _major_version(server) == 16
    assert (tmp_path / "postgres" / "PG_VERSION").read_text().strip() == "16"
