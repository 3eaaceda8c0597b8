"""Schema migrations against a real PostgreSQL: up, down, up again, concurrently, by CLI.

The CLI tests run the real console module, once against an external server given by
``IVR_AGENT_DATABASE_URL`` and once against the embedded server it starts itself.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection

from ivr_agent.db.database import Database, connect
from ivr_agent.db.embedded import embedded_postgres
from ivr_agent.db.errors import StoreError
from ivr_agent.db.migrate import (
    current_revision,
    downgrade_to_base,
    head_revision,
    upgrade_to_head,
)
from ivr_agent.db.models import Base

pytestmark = pytest.mark.postgres

SCHEMA_TABLES = {
    "complaints",
    "complaint_events",
    "call_records",
    "calls",
    "holds",
    "prompts_played",
    "call_events",
    "callbacks",
    "callback_attempts",
    "recordings",
    "survey_scores",
    "qa_scores",
    "api_tokens",
    "api_sessions",
    "audit_log",
    "campaigns",
    "campaign_customers",
    "campaign_runs",
    "rollup_basis",
    "rollup_calls",
    "rollup_calls_by_operator",
    "rollup_calls_by_operator_daily",
    "rollup_callback_facts",
    "rollup_callbacks",
}
SECRET = "Pw-never-in-output-7731"


async def _tables(url: URL) -> set[str]:
    async with connect(url) as db, db.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        )
        return {row[0] for row in rows} - {"alembic_version"}


async def test_given_an_empty_database_when_upgraded_downgraded_and_upgraded_then_each_step_holds(
    database_url: URL,
) -> None:
    assert await _tables(database_url) == set()
    assert await current_revision(database_url) is None

    up = await upgrade_to_head(database_url)
    assert (up.before, up.after, up.changed) == (None, head_revision(), True)
    assert await _tables(database_url) == SCHEMA_TABLES

    down = await downgrade_to_base(database_url)
    assert (down.before, down.after) == (head_revision(), None)
    assert await _tables(database_url) == set()
    assert await current_revision(database_url) is None

    again = await upgrade_to_head(database_url)
    assert again.after == head_revision()
    assert await _tables(database_url) == SCHEMA_TABLES


async def test_given_a_migrated_database_when_upgraded_again_then_nothing_changes(
    database_url: URL,
) -> None:
    await upgrade_to_head(database_url)
    second = await upgrade_to_head(database_url)
    assert (second.before, second.after, second.changed) == (
        head_revision(),
        head_revision(),
        False,
    )
    assert (await downgrade_to_base(database_url)).changed
    assert not (await downgrade_to_base(database_url)).changed


async def test_given_several_agents_when_they_migrate_at_once_then_exactly_one_migrates(
    database_url: URL,
) -> None:
    results = await asyncio.gather(*(upgrade_to_head(database_url) for _ in range(4)))
    assert sum(result.changed for result in results) == 1
    assert {result.after for result in results} == {head_revision()}


async def test_given_head_then_the_models_describe_exactly_the_migrated_schema(
    db: Database,
) -> None:
    def diff(conn: Connection) -> list[object]:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, Base.metadata))

    async with db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_given_the_audit_log_then_rows_can_be_added_but_never_changed(db: Database) -> None:
    async with db.transaction() as session:
        await session.execute(
            text("INSERT INTO audit_log (actor, action, object) VALUES ('qa1', 'play', 'rec-1')")
        )
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(StoreError, match="append-only"):
            async with db.transaction("tamper") as session:
                await session.execute(text(statement))
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("SELECT actor FROM audit_log"))).scalars().all() == ["qa1"]


async def test_given_a_database_that_is_down_when_migrating_then_a_store_error_says_why() -> None:
    url = f"postgresql+asyncpg://agent:{SECRET}@127.0.0.1:1/nowhere"
    with pytest.raises(StoreError, match="migrate to head failed") as caught:
        await upgrade_to_head(url)
    assert SECRET not in str(caught.value)


async def test_given_a_data_dir_too_long_for_a_unix_socket_then_the_embedded_server_still_starts(
    tmp_path: Path,
) -> None:
    # A socket path is limited to 107 bytes; the server must then put its socket elsewhere.
    data_dir = tmp_path / ("d" * 60) / ("e" * 60)
    assert len(str(data_dir / "postgres" / ".s.PGSQL.5432")) > 107
    async with embedded_postgres(data_dir) as server:
        async with connect(server.url) as db:
            assert await db.ping()
        assert len(str(server.socket_dir / ".s.PGSQL.5432")) <= 107
    assert not (server.pgdata / "postmaster.pid").exists()


def _migrate_cli(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ivr_agent.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_given_an_external_database_url_when_migrate_runs_twice_then_both_succeed(
    database_url: URL, cli_env: dict[str, str]
) -> None:
    # The session server trusts local connections, so any password works: the point is
    # that it never appears in the output.
    url = database_url.set(password=SECRET).render_as_string(hide_password=False)
    cli_env["IVR_AGENT_DATABASE_URL"] = url.replace("postgresql+asyncpg://", "postgresql://")
    first = _migrate_cli(cli_env)
    assert first.returncode == 0, first.stderr
    assert f"-> {head_revision()} (head)" in first.stdout
    second = _migrate_cli(cli_env)
    assert second.returncode == 0, second.stderr
    assert f"already at {head_revision()}" in second.stdout
    for output in (first.stdout, first.stderr, second.stdout, second.stderr):
        assert SECRET not in output
    # No embedded server was started for an external URL.
    assert not (Path(cli_env["IVR_AGENT_DATA_DIR"]) / "postgres").exists()


def test_given_no_database_url_when_migrate_runs_twice_then_the_embedded_database_is_migrated(
    cli_env: dict[str, str],
) -> None:
    first = _migrate_cli(cli_env)
    assert first.returncode == 0, first.stderr
    assert f"empty -> {head_revision()} (head)" in first.stdout
    second = _migrate_cli(cli_env)
    assert second.returncode == 0, second.stderr
    assert f"already at {head_revision()}" in second.stdout
    pgdata = Path(cli_env["IVR_AGENT_DATA_DIR"]) / "postgres"
    assert (pgdata / "PG_VERSION").exists()
    # Stopped cleanly on exit.
    assert not (pgdata / "postmaster.pid").exists()


def test_given_an_unreachable_database_when_migrate_runs_then_it_exits_1_with_the_reason(
    cli_env: dict[str, str],
) -> None:
    cli_env["IVR_AGENT_DATABASE_URL"] = f"postgresql://agent:{SECRET}@127.0.0.1:1/nowhere"
    result = _migrate_cli(cli_env)
    assert result.returncode == 1
    assert "ivr-agent migrate: migrate to head failed" in result.stderr
    assert SECRET not in result.stdout + result.stderr
