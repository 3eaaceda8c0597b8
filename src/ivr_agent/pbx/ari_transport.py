"""ARI's REST transport: one HTTP session, a timeout on every call, every failure one
:class:`AriError` (``status`` None when no HTTP reply came), credentials in the header only.
The typed calls are in :mod:`.ari_channels`, :mod:`.ari_bridges` and :mod:`.ari_recordings`;
:class:`~ivr_agent.pbx.ari.AriClient` puts them together."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp

from ivr_agent.platform.logging import get_logger

log = get_logger(__name__)

JsonObject = dict[str, Any]
ParamValue = str | int | float | bool
OnConnect = Callable[[], Awaitable[None]]


class AriError(Exception):
    """An ARI request failed. ``status`` is the HTTP status, or None if no reply came."""

    def __init__(self, method: str, path: str, status: int | None, message: str) -> None:
        super().__init__(f"ARI {method} {path}: {status or 'no reply'} {message}".rstrip())
        self.method = method
        self.path = path
        self.status = status
        self.message = message


@dataclass(frozen=True)
class AriTarget:
    """Where an ARI lives and how to log in. ``repr`` hides the password."""

    base_url: str
    username: str
    password: str

    @classmethod
    def from_url(cls, url: str) -> AriTarget:
        """Parse ``http://user:secret@host:port`` (the form of ``IVR_AGENT_ARI_URL``)."""
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("ARI URL must look like http://user:secret@127.0.0.1:8088")
        if not parts.username or parts.password is None:
            raise ValueError("ARI URL must carry user:secret")
        port = parts.port or (8089 if parts.scheme == "https" else 8088)
        return cls(
            base_url=f"{parts.scheme}://{parts.hostname}:{port}",
            username=unquote(parts.username),
            password=unquote(parts.password),
        )

    def __repr__(self) -> str:
        return f"AriTarget({self.base_url}, user={self.username!r})"


def parse_timestamp(value: str) -> datetime:
    """An ARI event ``timestamp`` (``2026-11-23T16:02:05.425+0000``) as an aware datetime."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")


def event_time(event: JsonObject, fallback: float) -> float:
    """An ARI event's ``timestamp`` (PBX clock) as epoch seconds; ``fallback`` if absent."""
    stamp = event.get("timestamp")
    if isinstance(stamp, str):
        with contextlib.suppress(ValueError):
            return parse_timestamp(stamp).timestamp()
    return fallback


def param_text(value: ParamValue) -> str:
    """A query parameter as ARI reads it (booleans as ``true``/``false``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class AriTransport:
    """REST requests to one Asterisk's ARI (below ``/ari``), decoded or as bytes."""

    def __init__(self, target: AriTarget, *, timeout: float = 5.0) -> None:
        self.target = target
        self.timeout = timeout
        self._headers = {
            "Authorization": aiohttp.encode_basic_auth(target.username, target.password)
        }
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The shared HTTP session (created on first use, inside the running loop)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers)
        return self._session

    async def close(self) -> None:
        """Close the HTTP session; the client may be used again afterwards."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, ParamValue] | None = None,
        body: Any = None,
        timeout: float | None = None,
    ) -> Any:
        """Send ``method path`` (path below ``/ari``); return the decoded JSON (None if empty).

        Raises :class:`AriError` on any HTTP status >= 300, timeout or connection failure.
        """
        raw = await self.request_bytes(method, path, params=params, body=body, timeout=timeout)
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:  # JSON that does not decode
            raise AriError(method, path, None, f"unreadable reply: {exc}") from None

    async def request_bytes(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, ParamValue] | None = None,
        body: Any = None,
        timeout: float | None = None,
    ) -> bytes:
        """Like :meth:`request`, but return the reply body as bytes (e.g. a recording)."""
        url = f"{self.target.base_url}/ari{path}"
        query = {k: param_text(v) for k, v in (params or {}).items()}
        limit = aiohttp.ClientTimeout(total=timeout or self.timeout)
        try:
            async with self.session.request(
                method, url, params=query, json=body, timeout=limit
            ) as reply:
                raw = await reply.read()
                if reply.status >= 300:
                    text = raw.decode("utf-8", errors="replace")
                    raise AriError(method, path, reply.status, error_message(text))
                return raw
        except AriError:
            raise
        except TimeoutError:
            raise AriError(method, path, None, f"timed out after {limit.total} s") from None
        except aiohttp.ClientError as exc:
            raise AriError(method, path, None, type(exc).__name__) from None


def error_message(text: str) -> str:
    """The message of an ARI error reply (its JSON ``message``, else the text), at most 200
    characters."""
    try:
        decoded = json.loads(text)
    except ValueError:
        return text.strip()[:200]
    if isinstance(decoded, dict) and "message" in decoded:
        return str(decoded["message"])[:200]
    return text.strip()[:200]
