"""ARI's channel calls: originate, answer, hang up, hold, play, DTMF, variables, the
dialplan, snoop and external media."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from ivr_agent.pbx.ari_transport import AriError, AriTransport, JsonObject, ParamValue


class ChannelsApi(AriTransport):
    """``/channels`` and ``/playbacks``."""

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
