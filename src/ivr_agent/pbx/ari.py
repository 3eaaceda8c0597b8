"""Asterisk REST Interface: the REST client, a typed method for every path the agent uses
(the events websocket is :mod:`.ari_events`). The client is made of one part per resource:
:mod:`.ari_channels`, :mod:`.ari_bridges`, :mod:`.ari_recordings`, over :mod:`.ari_transport`.

Theory of operation:

* :class:`AriClient` sends REST requests with a timeout on every call. Every failure — HTTP
  error status, timeout, refused connection, unreadable body — becomes one :class:`AriError`
  carrying ``status`` (None when no HTTP reply came), ``method`` and ``path``, so callers
  catch one type at their edge. Credentials go in the ``Authorization`` header, never in a
  URL, and nothing here logs them.
"""

from __future__ import annotations

import time
from urllib.parse import quote

from ivr_agent.pbx.ari_bridges import BridgesApi
from ivr_agent.pbx.ari_channels import ChannelsApi
from ivr_agent.pbx.ari_recordings import RecordingsApi
from ivr_agent.pbx.ari_transport import (
    AriError,
    AriTarget,
    JsonObject,
    OnConnect,
    ParamValue,
    event_time,
    param_text,
    parse_timestamp,
)


class AriClient(ChannelsApi, BridgesApi, RecordingsApi):
    """REST calls to one Asterisk's ARI. Use as ``async with AriClient(target) as ari:``.

    Every ARI path the agent uses has a typed method (here and in the ``ari_*`` modules it
    is made of), so REST paths are written there only; :meth:`request` stays public for
    probes and tests.
    """

    async def __aenter__(self) -> AriClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def info(self) -> JsonObject:
        """``GET /asterisk/info``: build, system, config and status of the Asterisk."""
        result: JsonObject = await self.request("GET", "/asterisk/info")
        return result

    async def ping(self) -> float:
        """``GET /asterisk/ping``: seconds the PBX took to answer a request that does
        nothing (its HTTP handling and the login check of every request)."""
        began = time.perf_counter()
        await self.request("GET", "/asterisk/ping")
        return time.perf_counter() - began

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


__all__ = [
    "AriClient",
    "AriError",
    "AriTarget",
    "JsonObject",
    "OnConnect",
    "ParamValue",
    "event_time",
    "param_text",
    "parse_timestamp",
]
