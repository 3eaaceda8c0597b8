"""What the simulator knows about each phones-side channel and playback, from ARI events.

:class:`Hub` is fed every event of the phones instance's Stasis app (``dispatch`` never
blocks or raises) and keeps one :class:`Leg` per channel and one :class:`Playback` per
playback. Every time recorded here is the ``timestamp`` of the Asterisk event that showed
the change — the ground truth the simulator reports is measured, not assumed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ivr_agent.pbx.ari import parse_timestamp
from ivr_agent.platform.logging import get_logger

log = get_logger(__name__)


def event_time(event: dict[str, Any]) -> float:
    """Epoch seconds of an ARI event (its ``timestamp``; now if it has none)."""
    stamp = event.get("timestamp")
    if isinstance(stamp, str):
        try:
            return parse_timestamp(stamp).timestamp()
        except ValueError:
            pass
    return time.time()


def iso(epoch: float | None) -> str | None:
    """Epoch seconds as ISO 8601 with zone (UTC), millisecond precision."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


@dataclass
class Leg:
    """One channel on the phones instance."""

    id: str
    exten: str = ""
    caller_number: str = ""
    started_at: float | None = None
    ringing_at: float | None = None
    up_at: float | None = None
    ended_at: float | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)
    ringing: asyncio.Event = field(default_factory=asyncio.Event)
    up: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    talking: asyncio.Queue[tuple[str, float]] = field(default_factory=asyncio.Queue)

    def end(self, at: float) -> None:
        """Mark the leg gone (first report wins)."""
        if self.ended_at is None:
            self.ended_at = at
        self.ended.set()


@dataclass
class Playback:
    """One playback on a leg."""

    id: str
    media: str
    started_at: float | None = None
    finished_at: float | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)


class Hub:
    """Routes phones-side ARI events to legs and playbacks.

    ``on_incoming`` is called (synchronously, must not raise) for every channel that enters
    the app without having been originated by the simulator: operator and customer legs.
    """

    def __init__(self, on_incoming: Callable[[Leg], None]) -> None:
        self.legs: dict[str, Leg] = {}
        self.playbacks: dict[str, Playback] = {}
        self._on_incoming = on_incoming

    def leg(self, channel_id: str) -> Leg:
        """The leg of ``channel_id``, created if new (register before originating)."""
        if channel_id not in self.legs:
            self.legs[channel_id] = Leg(channel_id)
        return self.legs[channel_id]

    def playback(self, playback_id: str, media: str) -> Playback:
        """Register a playback before starting it, so no event about it is missed."""
        self.playbacks[playback_id] = Playback(playback_id, media)
        return self.playbacks[playback_id]

    def dispatch(self, event: dict[str, Any]) -> None:
        """Apply one ARI event; never raises (a bad event is logged and skipped)."""
        try:
            self._dispatch(event)
        except Exception:  # one odd event must not stop the run
            log.exception("sim_event_failed", event_type=event.get("type"))

    def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        at = event_time(event)
        if kind.startswith("Playback"):
            playback = self.playbacks.get(event.get("playback", {}).get("id", ""))
            if playback is None:
                return
            if kind == "PlaybackStarted" and playback.started_at is None:
                playback.started_at = at
            elif kind == "PlaybackFinished":
                playback.finished_at = at
                playback.finished.set()
            return
        channel = event.get("channel")
        if not isinstance(channel, dict):
            return
        channel_id = channel["id"]
        known = channel_id in self.legs
        leg = self.leg(channel_id)
        if kind == "StasisStart":
            leg.exten = channel.get("dialplan", {}).get("exten", "")
            leg.caller_number = channel.get("caller", {}).get("number", "")
            leg.started_at = at
            if channel.get("state") == "Up" and leg.up_at is None:
                leg.up_at = at
                leg.up.set()
            leg.started.set()
            if not known:
                self._on_incoming(leg)
        elif kind == "ChannelStateChange":
            state = channel.get("state")
            if state == "Ringing" and leg.ringing_at is None:
                leg.ringing_at = at
                leg.ringing.set()
            elif state == "Up" and leg.up_at is None:
                leg.up_at = at
                leg.up.set()
        elif kind in ("ChannelTalkingStarted", "ChannelTalkingFinished"):
            leg.talking.put_nowait((kind, at))
        elif kind in ("StasisEnd", "ChannelDestroyed", "ChannelHangupRequest"):
            leg.end(at)
