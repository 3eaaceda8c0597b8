"""Composition root: builds every part of the agent from the settings and wires them.

Nothing else constructs its own dependencies. Long-lived parts (database, AMI, ARI,
background workers) are aiohttp ``cleanup_ctx`` generators: started in order when the app
starts, stopped in reverse order — cancelled and awaited — when it shuts down.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from ivr_agent.logging import get_logger
from ivr_agent.settings import Settings
from ivr_agent.store.db import Database, open_database
from ivr_agent.store.migrate import upgrade_to_head
from ivr_agent.web.auth import auth_middleware
from ivr_agent.web.calls_api import setup_calls_api
from ivr_agent.web.context import DATABASE, SETTINGS
from ivr_agent.web.errors import error_middleware
from ivr_agent.web.health import Readiness, State, setup_health

log = get_logger(__name__)

CleanupCtx = Callable[[web.Application], AsyncIterator[None]]


def _database_ctx(settings: Settings, readiness: Readiness) -> CleanupCtx:
    component = readiness.component("database")

    async def probe(db: Database) -> None:
        up = await db.ping()
        component.set(State.UP if up else State.DOWN, "" if up else "ping failed")

    async def database(app: web.Application) -> AsyncIterator[None]:
        async with open_database(settings) as db:
            if settings.auto_migrate:
                await upgrade_to_head(db)
            app[DATABASE] = db
            component.set(State.UP)
            readiness.add_probe("database", lambda: probe(db))
            yield
            component.set(State.DOWN, "shutting down")

    return database


def _connection_placeholders(settings: Settings, readiness: Readiness) -> None:
    # AMI and ARI report their own state once their clients are wired (issues 4 and 5);
    # until a configured connection reports "up", readiness says it is not there yet.
    readiness.component("ami", enabled=settings.ami_url is not None)
    readiness.component("ari", enabled=settings.ari_url is not None)


def _given_database_ctx(db: Database, readiness: Readiness) -> CleanupCtx:
    component = readiness.component("database")

    async def database(app: web.Application) -> AsyncIterator[None]:
        app[DATABASE] = db
        component.set(State.UP)
        yield

    return database


def build_app(settings: Settings, *, database: Database | None = None) -> web.Application:
    """The whole agent as one aiohttp application, ready to run.

    ``database``: an already open database to use (tests, embedding); by default the app
    opens the configured one when it starts and closes it when it stops.
    """
    app = web.Application(client_max_size=64 * 1024)
    app[SETTINGS] = settings
    app.middlewares.append(error_middleware)
    app.middlewares.append(auth_middleware(lambda: app[DATABASE]))
    readiness = Readiness()
    setup_health(app, readiness)
    setup_calls_api(app)
    if database is None:
        app.cleanup_ctx.append(_database_ctx(settings, readiness))
    else:
        app.cleanup_ctx.append(_given_database_ctx(database, readiness))
    _connection_placeholders(settings, readiness)
    return app


async def serve(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Run the agent until SIGTERM/SIGINT (or ``stop`` is set), then shut down cleanly."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(build_app(settings), handle_signals=False, access_log=None)
    await runner.setup()
    try:
        listen = settings.http_listen
        site = web.TCPSite(runner, listen.host, listen.port)
        await site.start()
        log.info("agent started", http=f"http://{listen}", pbx_id=settings.pbx_id)
        await stop.wait()
        log.info("agent stopping")
    finally:
        await runner.cleanup()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("agent stopped")
