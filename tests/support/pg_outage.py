"""A database outage on demand, in front of the real test PostgreSQL.

:class:`PostgresDoor` is a TCP relay between the agent's engine and the session's PostgreSQL
(its Unix socket, or the host and port of ``IVR_AGENT_DATABASE_URL``). ``shut()`` stops
listening and cuts every open connection, so the client sees exactly what a server that
went away gives — connections reset, then refused — and ``open()`` listens again on the
same port, as a server that came back. Nothing in the agent is replaced or patched.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.engine import URL

from ivr_agent.db.database import Database, connect


class PostgresDoor:
    """A relay that can be shut (the database is down) and opened again."""

    def __init__(self, target: URL) -> None:
        self.target = target
        self.port = 0
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> URL:
        """The target database, reached through the door."""
        return self.target.difference_update_query(["host"]).set(host="127.0.0.1", port=self.port)

    async def _connect_target(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        host = self.target.query.get("host")
        if isinstance(host, str) and host.startswith("/"):
            return await asyncio.open_unix_connection(f"{host}/.s.PGSQL.{self.target.port or 5432}")
        return await asyncio.open_connection(
            self.target.host or "127.0.0.1", self.target.port or 5432
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await self._connect_target()
        except OSError:
            writer.close()
            return
        self._links.update((writer, up_writer))
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def open(self) -> None:
        """Listen (again, on the same port once one was chosen)."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def shut(self) -> None:
        """The database goes away: no new connections, and the open ones are cut."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    async def close(self) -> None:
        """Shut, and wait for the relay's tasks."""
        await self.shut()
        for task in list(self._pipes):
            task.cancel()
        for task in list(self._pipes):
            with contextlib.suppress(asyncio.CancelledError):
                await task


@contextlib.asynccontextmanager
async def database_behind_door(target: URL) -> AsyncIterator[tuple[Database, PostgresDoor]]:
    """A :class:`Database` on ``target`` whose every connection goes through a door."""
    door = PostgresDoor(target)
    await door.open()
    try:
        async with connect(door.url) as db:
            yield db, door
    finally:
        await door.close()
