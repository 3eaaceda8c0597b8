"""A real TCP server speaking just enough AMI to inject faults Asterisk cannot produce.

Used only for fault injection (malformed frames, a cut after an action is written,
unanswered pings); everything else is tested against the real Asterisk sandbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

Frame = dict[str, str]


def encode(fields: Frame) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n").encode()


@dataclass
class FakeAmi:
    """Accepts logins; records every action; hooks decide how to answer."""

    answer_pings: bool = True
    #: Called with (action, writer); return True when it answered/handled the action itself.
    on_action: Callable[[Frame, asyncio.StreamWriter], bool] | None = None
    actions: list[Frame] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    _server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for writer in self.writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def send_raw(self, data: bytes) -> None:
        writer = self.writers[-1]
        writer.write(data)
        await writer.drain()

    def drop_all(self) -> None:
        for writer in self.writers:
            writer.transport.abort()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                action = dict(
                    line.split(": ", 1)
                    for line in raw.decode().strip().split("\r\n")
                    if ": " in line
                )
                self.actions.append(action)
                if self.on_action is not None and self.on_action(action, writer):
                    continue
                name = action.get("Action", "").lower()
                reply = {"Response": "Success", "ActionID": action.get("ActionID", "")}
                if name == "login":
                    writer.write(encode({**reply, "Message": "Authentication accepted"}))
                    writer.write(encode({"Event": "FullyBooted", "Status": "Fully Booted"}))
                elif name == "ping" and not self.answer_pings:
                    continue
                else:
                    writer.write(encode(reply))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
