"""ARI's bridge calls: create, list, add channels, destroy, play into a bridge."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from ivr_agent.pbx.ari_transport import AriTransport, JsonObject, ParamValue


class BridgesApi(AriTransport):
    """``/bridges``."""

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
