"""A real SMTP server (aiosmtpd) in the test's event loop: what the agent sends arrives
here as parsed messages, and a test can script refusals first."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class ReceivedMail:
    """One message as the server received it: envelope recipients and the parsed message."""

    recipients: list[str]
    message: EmailMessage


@dataclass
class MailServer:
    """The server's address, what arrived, and the replies to give before accepting."""

    host: str
    port: int
    received: list[ReceivedMail] = field(default_factory=list)
    #: Replies to DATA given first, one per message (e.g. "451 4.3.0 busy"), then accepted.
    refusals: list[str] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    #: Seconds the server takes before answering each message (a slow server).
    delay: float = 0.0

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(self.delay)
        if self.refusals:
            return self.refusals.pop(0)
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(ReceivedMail(list(envelope.rcpt_tos), message))
        self.arrived.set()
        return "250 2.0.0 OK"

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        """The first ``count`` messages, once that many arrived."""
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.received[:count]


@contextlib.asynccontextmanager
async def local_smtp_server(**smtp_options: Any) -> AsyncIterator[MailServer]:
    """An SMTP server on 127.0.0.1 at a free port while the block runs."""
    server = MailServer("127.0.0.1", 0)
    loop = asyncio.get_running_loop()
    listening = await loop.create_server(
        lambda: SMTP(server, hostname="mail.test", **smtp_options), server.host, 0
    )
    server.port = listening.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listening.close()
        await listening.wait_closed()
