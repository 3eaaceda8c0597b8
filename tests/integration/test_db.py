"""Opening the database: embedded or external, health probe, errors at the boundary."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from ivr_agent.db.database import Database, connect, open_database
from ivr_agent.db.embedded import embedded_postgres
from ivr_agent.db.errors import StoreError
from ivr_agent.settings import load_settings

pytestmark = pytest.mark.postgres

SECRET = "Db-pass-that-must-not-show-5521"


async def test_given_an_external_url_then_no_embedded_server_starts_and_the_url_is_masked(
    database_url: URL, tmp_path: Path
) -> None:
    raw = database_url.set(password=SECRET).render_as_string(hide_password=False)
    settings = load_settings(database_url=raw, data_dir=tmp_path)
    async with open_database(settings) as db:
        assert await db.ping()
        assert SECRET not in db.display_url
        assert SECRET not in str(db.url)
        assert SECRET not in repr(db)
    assert not (tmp_path / "postgres").exists()


async def test_given_a_server_that_is_down_then_ping_is_false_and_queries_raise_store_error() -> (
    None
):
    async with connect(f"postgresql+asyncpg://agent:{SECRET}@127.0.0.1:1/x") as db:
        assert await db.ping(within=5) is False
        with pytest.raises(StoreError, match="count calls failed") as caught:
            async with db.transaction("count calls") as session:
                await session.execute(text("SELECT 1"))
    assert SECRET not in str(caught.value)


async def test_given_a_rejected_statement_then_the_error_carries_no_sql_or_parameters(
    db: Database,
) -> None:
    with pytest.raises(StoreError) as caught:
        async with db.transaction("insert token") as session:
            await session.execute(
                text("INSERT INTO api_tokens (token_id, role, token_sha256) VALUES (:i, :r, :h)"),
                {"i": "6f1c8d2e-0000-4000-8000-000000000001", "r": "root", "h": "0" * 64},
            )
    message = str(caught.value)
    assert message.startswith("insert token failed: CheckViolationError")
    assert caught.value.sqlstate == "23514"
    assert "ck_api_tokens_role" in message
    assert "INSERT" not in message
    assert "0" * 64 not in message


def test_given_an_unsupported_driver_then_connect_refuses_it() -> None:
    from ivr_agent.db.database import create_database

    with pytest.raises(StoreError, match="postgresql\\+asyncpg"):
        create_database("sqlite+aiosqlite:///x.db")


async def test_given_no_url_then_the_embedded_server_runs_under_the_data_dir_and_stops(
    tmp_path: Path,
) -> None:
    settings = load_settings(data_dir=tmp_path / "var")
    async with open_database(settings) as db:
        assert await db.ping()
        assert db.url.database == "ivr_agent"
        pgdata = tmp_path / "var" / "postgres"
        assert (pgdata / "postmaster.pid").exists()
        # Nested use in one process (e.g. a CLI command inside the app) shares the server.
        async with open_database(settings) as inner:
            assert await inner.ping()
        assert await db.ping()
    assert not (pgdata / "postmaster.pid").exists()


async def test_given_a_process_that_died_holding_the_server_then_the_next_exit_still_stops_it(
    tmp_path: Path,
) -> None:
    async with embedded_postgres(tmp_path) as server:
        pgdata = server.pgdata
    dead = await asyncio.create_subprocess_exec("true")  # a pid that surely exits
    await dead.wait()
    # As left by an agent killed with SIGKILL: its pid is still listed as a user.
    (pgdata / ".handle_pids.json").write_text(json.dumps([dead.pid]))
    async with embedded_postgres(tmp_path) as server:
        assert (server.pgdata / "postmaster.pid").exists()
    assert not (pgdata / "postmaster.pid").exists()
