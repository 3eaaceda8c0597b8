"""Asterisk REST Interface: the REST client, a typed method for every path the agent uses
(the events websocket is :mod:`.ari_events`).

Theory of operation:

* :class:`AriClient` sends REST requests with a timeout on every call. Every failure — HTTP
  error status, timeout, refused connection, unreadable body — becomes one :class:`AriError`
  carrying ``status`` (None when no HTTP reply came), ``method`` and ``path``, so callers
  catch one type at their edge. Credentials go in the ``Authorization`` header, never in a
  URL, and nothing here logs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, unquote, urlsplit

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


class AriClient:
    """REST calls to one Asterisk's ARI. Use as ``async with AriClient(target) as ari:``.

    Every ARI path the agent uses has a typed method here, so REST paths are written in
    this module only; :meth:`request` stays public for probes and tests.
    """

    def __init__(self, target: AriTarget, *, timeout: float = 5.0) -> None:
        self.target = target
        self.timeout = timeout
        self._headers = {
            "Authorization": aiohttp.encode_basic_auth(target.username, target.password)
        }
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AriClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

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
                    raise AriError(method, path, reply.status, _error_message(text))
                return raw
        except AriError:
            raise
        except TimeoutError:
            raise AriError(method, path, None, f"timed out after {limit.total} s") from None
        except aiohttp.ClientError as exc:
            raise AriError(method, path, None, type(exc).__name__) from None

    # --- the calls the agent and the simulator use -------------------------------------------

    async def info(self) -> JsonObject:
        """``GET /asterisk/info``: build, system, config and status of the Asterisk."""
        result: JsonObject = await self.request("GET", "/asterisk/info")
        return result

    async def channels(self) -> list[JsonObject]:
        """``GET /channels``: every live channel (for resync after a reconnect)."""
        result: list[JsonObject] = await self.request("GET", "/channels")
        return result

    async def originate(
        self,
        endpoint: str,
        *,
        channel_id: str,
        app: str | None = None,
        app_args: str | None = None,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        caller_id: str | None = None,
        timeout: int = 30,
        variables: Mapping[str, str] | None = None,
    ) -> JsonObject:
        """Originate a channel under our own id (Uniqueids restart with Asterisk; ours do not)."""
        params: dict[str, ParamValue] = {"endpoint": endpoint, "timeout": timeout}
        optional: dict[str, ParamValue | None] = {
            "app": app,
            "appArgs": app_args,
            "context": context,
            "extension": extension,
            "priority": priority,
            "callerId": caller_id,
        }
        params.update({k: v for k, v in optional.items() if v is not None})
        body = {"variables": dict(variables)} if variables else None
        result: JsonObject = await self.request(
            "POST", f"/channels/{quote(channel_id, safe='')}", params=params, body=body
        )
        return result

    async def answer(self, channel_id: str) -> None:
        """Answer a channel (200 OK toward its caller)."""
        await self.request("POST", f"/channels/{quote(channel_id, safe='')}/answer")

    async def ring(self, channel_id: str) -> None:
        """Indicate ringing on a channel (180 toward its caller)."""
        await self.request("POST", f"/channels/{quote(channel_id, safe='')}/ring")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        """Hang up a channel; ``reason`` e.g. normal, busy, rejected, no_answer."""
        await self.request(
            "DELETE", f"/channels/{quote(channel_id, safe='')}", params={"reason": reason}
        )

    async def hold(self, channel_id: str) -> None:
        """Put the far end on hold (a SIP re-INVITE when the endpoint has moh_passthrough)."""
        await self.request("POST", f"/channels/{quote(channel_id, safe='')}/hold")

    async def unhold(self, channel_id: str) -> None:
        """Take the far end off hold."""
        await self.request("DELETE", f"/channels/{quote(channel_id, safe='')}/hold")

    async def play(self, channel_id: str, media: Sequence[str], playback_id: str) -> JsonObject:
        """Play ``media`` URIs (``sound:…``) in order on a channel under our playback id."""
        result: JsonObject = await self.request(
            "POST",
            f"/channels/{quote(channel_id, safe='')}/play/{quote(playback_id, safe='')}",
            params={"media": ",".join(media)},
        )
        return result

    async def stop_playback(self, playback_id: str) -> None:
        """Stop a playback (no error if it already finished)."""
        with contextlib.suppress(AriError):
            await self.request("DELETE", f"/playbacks/{quote(playback_id, safe='')}")

    async def send_dtmf(self, channel_id: str, digits: str, duration_ms: int = 150) -> None:
        """Send keypad digits on a channel (RFC 4733 toward the far end)."""
        await self.request(
            "POST",
            f"/channels/{quote(channel_id, safe='')}/dtmf",
            params={"dtmf": digits, "duration": duration_ms},
        )

    async def redirect(self, channel_id: str, endpoint: str) -> None:
        """Transfer the far end of a channel elsewhere, as its phone would: on an answered
        PJSIP channel ``endpoint`` ``PJSIP/sip:8000@host`` sends a SIP REFER to that URI
        (a blind transfer; a ringing one gets a 302 instead)."""
        await self.request(
            "POST",
            f"/channels/{quote(channel_id, safe='')}/redirect",
            params={"endpoint": endpoint},
        )

    async def get_variable(self, channel_id: str, variable: str) -> str:
        """A channel variable's value, or a dialplan function's evaluated on the channel,
        e.g. ``DIALPLAN_EXISTS(ctx,s,1)``."""
        reply = await self.request(
            "GET",
            f"/channels/{quote(channel_id, safe='')}/variable",
            params={"variable": variable},
        )
        return str((reply or {}).get("value") or "")

    async def set_variable(self, channel_id: str, variable: str, value: str) -> None:
        """Set a channel variable or function, e.g. ``TALK_DETECT(set)``."""
        await self.request(
            "POST",
            f"/channels/{quote(channel_id, safe='')}/variable",
            params={"variable": variable, "value": value},
        )

    async def continue_in_dialplan(
        self,
        channel_id: str,
        *,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
    ) -> None:
        """Leave Stasis: the channel goes on in the dialplan (after ``Stasis()`` by default)."""
        params: dict[str, ParamValue] = {}
        for key, value in (("context", context), ("extension", extension), ("priority", priority)):
            if value is not None:
                params[key] = value
        await self.request(
            "POST", f"/channels/{quote(channel_id, safe='')}/continue", params=params
        )

    async def snoop(
        self,
        channel_id: str,
        *,
        app: str,
        snoop_id: str,
        spy: str = "none",
        whisper: str = "out",
        app_args: str | None = None,
    ) -> JsonObject:
        """A ``Snoop/…`` channel on ``channel_id`` entering ``app``; play on it to whisper.

        Works on channels in plain dialplan (not in Stasis): the caller hears what is played.
        """
        params: dict[str, ParamValue] = {
            "app": app,
            "snoopId": snoop_id,
            "spy": spy,
            "whisper": whisper,
        }
        if app_args is not None:
            params["appArgs"] = app_args
        result: JsonObject = await self.request(
            "POST", f"/channels/{quote(channel_id, safe='')}/snoop", params=params
        )
        return result

    async def external_media(
        self, *, app: str, channel_id: str, external_host: str, audio_format: str = "ulaw"
    ) -> JsonObject:
        """An ``UnicastRTP/…`` channel under our id entering ``app``: what it hears in a
        bridge is sent as RTP (``audio_format``) to ``external_host`` (``host:port``)."""
        result: JsonObject = await self.request(
            "POST",
            "/channels/externalMedia",
            params={
                "app": app,
                "channelId": channel_id,
                "external_host": external_host,
                "format": audio_format,
            },
        )
        return result

    async def create_bridge(self, bridge_id: str, bridge_type: str = "mixing") -> JsonObject:
        """Create a bridge under our own id."""
        result: JsonObject = await self.request(
            "POST", f"/bridges/{quote(bridge_id, safe='')}", params={"type": bridge_type}
        )
        return result

    async def bridges(self) -> list[JsonObject]:
        """``GET /bridges``: every bridge, with the ids of its ``channels``."""
        result: list[JsonObject] = await self.request("GET", "/bridges")
        return result

    async def bridge(self, bridge_id: str) -> JsonObject:
        """``GET /bridges/{id}``: one bridge (404 ``AriError`` if it is gone)."""
        result: JsonObject = await self.request("GET", f"/bridges/{quote(bridge_id, safe='')}")
        return result

    async def add_to_bridge(
        self, bridge_id: str, channel_id: str, *, absorb_dtmf: bool = False
    ) -> None:
        """Put a channel (in Stasis) into a bridge.

        ``absorb_dtmf``: the channel's keys reach us as events but not the bridge's audio
        (nor a recording of the bridge).
        """
        params: dict[str, ParamValue] = {"channel": channel_id}
        if absorb_dtmf:
            params["absorbDTMF"] = True
        await self.request(
            "POST", f"/bridges/{quote(bridge_id, safe='')}/addChannel", params=params
        )

    async def destroy_bridge(self, bridge_id: str) -> None:
        """Destroy a bridge (its channels stay up, back in Stasis)."""
        await self.request("DELETE", f"/bridges/{quote(bridge_id, safe='')}")

    async def play_on_bridge(
        self,
        bridge_id: str,
        media: Sequence[str],
        playback_id: str,
        *,
        offset_ms: int | None = None,
    ) -> JsonObject:
        """Play ``media`` URIs in order into a bridge (all its channels, and its recording).

        ``offset_ms``: start this far into the media (past its end: the PBX opens the file
        and finishes at once, ``done``, or ``failed`` when it cannot open it)."""
        params: dict[str, ParamValue] = {"media": ",".join(media)}
        if offset_ms is not None:
            params["offsetms"] = offset_ms
        result: JsonObject = await self.request(
            "POST",
            f"/bridges/{quote(bridge_id, safe='')}/play/{quote(playback_id, safe='')}",
            params=params,
        )
        return result

    async def record_bridge(
        self,
        bridge_id: str,
        name: str,
        *,
        audio_format: str = "wav",
        max_duration_seconds: int = 0,
        if_exists: str = "fail",
    ) -> JsonObject:
        """Start recording a bridge as ``name`` (RecordingStarted/RecordingFinished follow)."""
        return await self._record(
            "bridges", bridge_id, name, audio_format, max_duration_seconds, if_exists
        )

    async def record_channel(
        self,
        channel_id: str,
        name: str,
        *,
        audio_format: str = "wav",
        max_duration_seconds: int = 0,
        if_exists: str = "fail",
        max_silence_seconds: int = 0,
        beep: bool = False,
        terminate_on: str = "none",
    ) -> JsonObject:
        """Start recording a channel (e.g. a snoop) as ``name``; Recording* events follow.

        ``max_silence_seconds`` (0: none), ``beep`` first, ``terminate_on`` a key (``#``):
        what a caller leaving a message needs."""
        return await self._record(
            "channels",
            channel_id,
            name,
            audio_format,
            max_duration_seconds,
            if_exists,
            # Only what differs from ARI's defaults (none, no beep, no key).
            {
                k: v
                for k, v in (
                    ("maxSilenceSeconds", max_silence_seconds),
                    ("beep", "true" if beep else ""),
                    ("terminateOn", "" if terminate_on == "none" else terminate_on),
                )
                if v
            },
        )

    async def _record(
        self,
        collection: str,
        target_id: str,
        name: str,
        audio_format: str,
        max_duration_seconds: int,
        if_exists: str,
        extra: dict[str, str | int] | None = None,
    ) -> JsonObject:
        result: JsonObject = await self.request(
            "POST",
            f"/{collection}/{quote(target_id, safe='')}/record",
            params={
                "name": name,
                "format": audio_format,
                "maxDurationSeconds": max_duration_seconds,
                "ifExists": if_exists,
                **(extra or {}),
            },
        )
        return result

    async def live_recording(self, name: str) -> JsonObject:
        """``GET /recordings/live/{name}``: a recording in progress, with its ``state``.

        404 ``AriError`` when it is not live (finished already, or never started).
        """
        result: JsonObject = await self.request("GET", f"/recordings/live/{quote(name, safe='')}")
        return result

    async def stop_recording(self, name: str) -> None:
        """Stop a live recording and keep what was recorded."""
        await self.request("POST", f"/recordings/live/{quote(name, safe='')}/stop")

    async def mute_recording(self, name: str) -> None:
        """Mute a live recording: it goes on writing silence, so its time axis is kept."""
        await self.request("POST", f"/recordings/live/{quote(name, safe='')}/mute")

    async def unmute_recording(self, name: str) -> None:
        """Unmute a live recording: it writes the audio again."""
        await self.request("DELETE", f"/recordings/live/{quote(name, safe='')}/mute")

    async def stored_recordings(self) -> list[JsonObject]:
        """``GET /recordings/stored``: every finished recording in the PBX's spool."""
        result: list[JsonObject] = await self.request("GET", "/recordings/stored")
        return result

    async def stored_recording(self, name: str) -> JsonObject:
        """``GET /recordings/stored/{name}``: a finished recording's metadata (404 if none)."""
        result: JsonObject = await self.request("GET", f"/recordings/stored/{quote(name, safe='')}")
        return result

    async def stored_recording_file(self, name: str, timeout: float = 30.0) -> bytes:
        """The bytes of a finished recording (a RIFF/WAVE file for format ``wav``)."""
        return await self.request_bytes(
            "GET", f"/recordings/stored/{quote(name, safe='')}/file", timeout=timeout
        )

    async def download_stored_recording(
        self, name: str, target: Path, timeout: float = 300.0
    ) -> int:
        """``GET /recordings/stored/{name}/file`` streamed into ``target`` (created; must not
        exist); the number of bytes written.

        A long call's recording (an hour of stereo 8 kHz is 115 MB) is never held in memory:
        it arrives in chunks written from a thread. On any failure — :class:`AriError`, or
        ``OSError`` from a full disk — ``target`` is removed and the error raised; the PBX
        keeps its copy.
        """
        path = f"/recordings/stored/{quote(name, safe='')}/file"
        url = f"{self.target.base_url}/ari{path}"
        limit = aiohttp.ClientTimeout(total=timeout)
        out = await asyncio.to_thread(target.open, "xb")
        written = 0
        try:
            async with self.session.get(url, timeout=limit) as reply:
                if reply.status >= 300:
                    text = (await reply.read()).decode("utf-8", errors="replace")
                    raise AriError("GET", path, reply.status, _error_message(text))
                async for chunk in reply.content.iter_chunked(_DOWNLOAD_CHUNK):
                    await asyncio.to_thread(out.write, chunk)
                    written += len(chunk)
            await asyncio.to_thread(out.close)
        except BaseException as exc:
            await asyncio.to_thread(_discard, out, target)
            if isinstance(exc, TimeoutError):
                raise AriError("GET", path, None, f"timed out after {timeout} s") from None
            if isinstance(exc, aiohttp.ClientError):
                raise AriError("GET", path, None, type(exc).__name__) from None
            raise
        return written

    async def delete_stored_recording(self, name: str) -> None:
        """Delete a finished recording from the Asterisk's spool."""
        await self.request("DELETE", f"/recordings/stored/{quote(name, safe='')}")

    async def applications(self) -> list[JsonObject]:
        """``GET /applications``: the Stasis apps some websocket has registered now."""
        result: list[JsonObject] = await self.request("GET", "/applications")
        return result

    async def subscribe(self, app: str, event_source: str) -> JsonObject:
        """Have ``app`` receive the events of ``event_source`` (``channel:ID``, ``bridge:ID``)."""
        result: JsonObject = await self.request(
            "POST",
            f"/applications/{quote(app, safe='')}/subscription",
            params={"eventSource": event_source},
        )
        return result


def _error_message(text: str) -> str:
    try:
        decoded = json.loads(text)
    except ValueError:
        return text.strip()[:200]
    if isinstance(decoded, dict) and "message" in decoded:
        return str(decoded["message"])[:200]
    return text.strip()[:200]


#: Chunks of a streamed recording download (:meth:`AriClient.download_stored_recording`).
_DOWNLOAD_CHUNK = 256 * 1024


def _discard(out: BinaryIO, target: Path) -> None:
    """Close and remove a download that did not finish (the PBX still has the file)."""
    with contextlib.suppress(OSError):
        out.close()
    target.unlink(missing_ok=True)
