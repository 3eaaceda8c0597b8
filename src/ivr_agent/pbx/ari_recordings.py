"""ARI's recording calls: record a bridge or a channel, control a live recording, and fetch
(streamed to a file), list and delete stored ones."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

import aiohttp

from ivr_agent.pbx.ari_transport import AriError, AriTransport, JsonObject, error_message


class RecordingsApi(AriTransport):
    """``/recordings`` (live and stored), and recording from ``/bridges`` and ``/channels``."""

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
                    raise AriError("GET", path, reply.status, error_message(text))
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


#: Chunks of a streamed recording download (:meth:`AriClient.download_stored_recording`).
_DOWNLOAD_CHUNK = 256 * 1024


def _discard(out: BinaryIO, target: Path) -> None:
    """Close and remove a download that did not finish (the PBX still has the file)."""
    with contextlib.suppress(OSError):
        out.close()
    target.unlink(missing_ok=True)
