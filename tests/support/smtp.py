"""A real SMTP server (aiosmtpd) in the test's event loop: what the agent sends arrives
here as parsed messages, and a test can script refusals first."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


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


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 and its key (openssl), valid for a day; the
    certificate is its own CA, to trust through IVR_AGENT_SMTP_CA_FILE."""
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    """The server side's TLS context for that certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def accept_login(user: str, password: str) -> Any:
    """An aiosmtpd authenticator that accepts exactly this login (PLAIN or LOGIN)."""

    def authenticate(
        _server: SMTP, _session: Session, _envelope: Envelope, _mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            user.encode(),
            password.encode(),
        )
        # handled=False: aiosmtpd then answers 535 itself.
        return AuthResult(success=ok, handled=False)

    return authenticate


@contextlib.asynccontextmanager
async def local_smtp_server(
    *, implicit_tls: ssl.SSLContext | None = None, **smtp_options: Any
) -> AsyncIterator[MailServer]:
    """An SMTP server on 127.0.0.1 at a free port while the block runs; ``implicit_tls``:
    TLS from the first byte (SMTPS); ``smtp_options`` go to aiosmtpd's ``SMTP`` (e.g.
    ``tls_context``, ``require_starttls``, ``auth_required``, ``authenticator``)."""
    server = MailServer("127.0.0.1", 0)
    loop = asyncio.get_running_loop()
    listening = await loop.create_server(
        lambda: SMTP(server, hostname="mail.test", **smtp_options),
        server.host,
        0,
        ssl=implicit_tls,
    )
    server.port = listening.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listening.close()
        await listening.wait_closed()
