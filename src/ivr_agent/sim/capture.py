"""Record a PBX's raw AMI event stream as JSON lines (one object per event).

Used by ``ivr-agent simulate --capture FILE`` and the integration tests: the recordings under
``tests/fixtures/captures/`` are replayed by the call tracker's unit tests. Lines are in the
format of :mod:`ivr_agent.pbx.capture` (read them with its ``read_capture``): every field of
the event exactly as Asterisk sent it (a repeated key becomes a list) plus ``received_at``
(ISO 8601, UTC, this machine's clock). It speaks the AMI wire protocol
directly over asyncio streams, decoding UTF-8 per whole message so that a Chinese caller
name split across TCP reads keeps all its bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

from ivr_agent.pbx.capture import RECEIVED_AT, capture_line

AmiMessage = dict[str, Any]


class CaptureError(RuntimeError):
    """The AMI could not be reached or refused the login."""


def parse_message(raw: bytes) -> AmiMessage:
    """One AMI message (the bytes between blank lines) as a dict; repeated keys give lists."""
    message: AmiMessage = {}
    for line in raw.decode("utf-8", errors="replace").split("\r\n"):
        key, sep, value = line.partition(": ")
        if not sep:
            key, sep, value = line.partition(":")
            if not sep:
                continue
        if key in message:
            previous = message[key]
            message[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            message[key] = value
    return message


class AmiCapture:
    """Log in to AMI and collect every event until :meth:`stop`.

    ``events`` holds what arrived so far; with ``out`` each event is also written as a JSON line
    as it arrives. ``on_event`` (must not raise) sees each event too.
    """

    def __init__(
        self,
        url: str,
        *,
        out: TextIO | None = None,
        on_event: Callable[[AmiMessage], None] | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "ami" or not parts.hostname or not parts.username:
            raise CaptureError("AMI URL must look like ami://user:secret@127.0.0.1:5038")
        self._host, self._port = parts.hostname, parts.port or 5038
        self._user, self._secret = unquote(parts.username), unquote(parts.password or "")
        self._out = out
        self._on_event = on_event
        self.events: list[AmiMessage] = []
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def start(self, timeout: float = 5.0) -> None:
        """Connect and log in; raise :class:`CaptureError` if that fails within ``timeout``."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self._host, self._port), timeout
            )
            await asyncio.wait_for(reader.readline(), timeout)  # "Asterisk Call Manager/…"
            writer.write(
                (
                    f"Action: Login\r\nActionID: capture-login\r\nUsername: {self._user}\r\n"
                    f"Secret: {self._secret}\r\nEvents: on\r\n\r\n"
                ).encode()
            )
            await writer.drain()
            reply = parse_message(await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout))
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            raise CaptureError(f"AMI {self._host}:{self._port}: {type(exc).__name__}") from None
        if reply.get("Response") != "Success":
            writer.close()
            raise CaptureError(f"AMI login refused: {reply.get('Message', reply)}")
        self._writer = writer
        self._task = asyncio.create_task(self._read(reader), name="ami-capture")

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                raw = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
                return
            message = parse_message(raw)
            if "Event" not in message:
                continue
            received_at = time.time()
            self.events.append({**message, RECEIVED_AT: received_at})
            if self._out is not None:
                # The agent's own capture format (``ivr-agent run --capture``): one reader.
                self._out.write(capture_line(message, received_at))
                self._out.flush()
            if self._on_event is not None:
                self._on_event(message)

    async def stop(self) -> None:
        """Log off and stop reading."""
        if self._writer is not None:
            with contextlib.suppress(OSError):
                self._writer.write(b"Action: Logoff\r\n\r\n")
                await self._writer.drain()
            self._writer.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
