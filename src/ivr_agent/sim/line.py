"""The audio a simulated phone sends: phrases when scheduled, silence files in between.

A real phone sends RTP all the time; so does every simulated line once it is up, which keeps
frames flowing to the far end (Asterisk's talk detection needs them, ``PBX-SANDBOX.md``).

ARI runs a channel's commands one after another and a playback counts as one until it ends,
so a command such as hold or DTMF would wait behind a 10 s silence file. :meth:`LineAudio.command`
stops the current playback first, under a lock the audio loop also takes before starting the
next file, so the command runs at once.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Awaitable
from typing import Any

from ivr_agent.pbx.ari import AriClient, AriError
from ivr_agent.sim.legs import Hub, Leg, Playback, iso

SILENCE = "silence/10"
#: Silence (ms) after which a line's own talk detection says the audio it hears has ended:
#: above the gaps inside a sentence, well below the pauses between prompts.
HEARING_SILENCE_MS = 800


async def until(deadline: float, *stops: asyncio.Event) -> bool:
    """Sleep until the wall-clock ``deadline``; False if one of ``stops`` fired first."""
    if any(s.is_set() for s in stops):
        return False
    delay = deadline - time.time()
    if delay <= 0:
        return True
    waiters = [asyncio.create_task(s.wait()) for s in stops]
    try:
        done, _ = await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return not done


async def first_of(events: list[asyncio.Event], *stops: asyncio.Event, timeout: float) -> bool:
    """Wait until one of ``events`` fires: True; False if one of ``stops`` fired first or
    ``timeout`` seconds passed."""
    if any(e.is_set() for e in events):
        return True
    waiters = {asyncio.create_task(e.wait()): e for e in (*events, *stops)}
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return any(e.is_set() for e in events)


def seconds_between(end: float | None, start: float | None) -> float | None:
    """``end - start`` rounded to ms, or None if either is unknown."""
    return None if end is None or start is None else round(end - start, 3)


class LineAudio:
    """Plays on one leg until it ends; ``spoken`` lists the phrases with their event times."""

    def __init__(self, ari: AriClient, hub: Hub, leg: Leg) -> None:
        self.ari = ari
        self.hub = hub
        self.leg = leg
        self.spoken: list[dict[str, Any]] = []
        self._phrases: list[tuple[float, str]] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._current: Playback | None = None
        self._count = 0

    def say_at(self, at: float, sound: str) -> None:
        """Say ``sound`` (a sound name) at wall-clock time ``at`` (now if already past)."""
        bisect.insort(self._phrases, (at, sound))
        self._wake.set()

    async def command(self, command: Awaitable[None]) -> None:
        """Run a channel command now, stopping the silence or phrase being played."""
        async with self._lock:
            playback = self._current
            if playback is not None and not playback.finished.is_set():
                await self.ari.stop_playback(playback.id)
                await until(time.time() + 2, playback.finished, self.leg.ended)
            await command

    async def run(self) -> None:
        """Send audio until the leg ends (cancel to stop earlier)."""
        while not self.leg.ended.is_set():
            self._wake.clear()
            self._count += 1
            due = bool(self._phrases) and self._phrases[0][0] <= time.time() + 0.02
            sound = self._phrases.pop(0)[1] if due else SILENCE
            playback = self.hub.playback(f"{self.leg.id}-{self._count}", sound)
            async with self._lock:
                if self.leg.ended.is_set():
                    return
                self._current = playback
                try:
                    await self.ari.play(self.leg.id, [f"sound:{sound}"], playback.id)
                except AriError:
                    return  # the channel is gone
            if sound != SILENCE:
                await until(time.time() + 120, playback.finished, self.leg.ended)
                self.spoken.append(
                    {
                        "say": sound,
                        "started_at": iso(playback.started_at),
                        "ended_at": iso(playback.finished_at),
                        "seconds": seconds_between(playback.finished_at, playback.started_at),
                    }
                )
                continue
            await self._hold_silence(playback)

    async def _hold_silence(self, playback: Playback) -> None:
        """Let the silence file play until it ends, the leg ends, or a phrase falls due."""
        while not playback.finished.is_set() and not self.leg.ended.is_set():
            self._wake.clear()
            next_phrase = self._phrases[0][0] if self._phrases else time.time() + 3600
            if await until(next_phrase, playback.finished, self.leg.ended, self._wake):
                await self.ari.stop_playback(playback.id)
                await until(time.time() + 2, playback.finished, self.leg.ended)
                return
            # Woken by a newly scheduled phrase: look again at what is due.
