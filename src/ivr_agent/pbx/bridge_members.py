"""Who shares a bridge with whom, from the AMI stream the agent reads anyway.

A prompt both parties hear (the 工号播报) is whispered into the operator's channel, so the
whisper needs the one other channel bridged with the caller. Asking ARI for it
(``GET /bridges``) lists every bridge on the PBX: with 200 calls up that was a 60 KB reply
built and parsed for each answered call, and 16 ms of the prompt's 38 ms lateness (p50;
47 of 105 at p99) in ``benchmarks/load.py``. The ``BridgeEnter``/``BridgeLeave`` events
already say it, so the answer is kept here.

The answer can come a moment before the bridge does (``Dial()``: the operator's ``Newstate
Up`` is the answer, the two ``BridgeEnter`` follow within milliseconds), so
:meth:`BridgeMembers.others` waits briefly for the caller to have company. A caller this
index has never seen bridged (the agent connected after the bridge formed, AMI reconnected)
is answered ``None``: the caller of :meth:`others` then asks ARI as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping

#: Channels followed at most (oldest forgotten first): bounds what missed BridgeLeave and
#: Hangup events (an AMI outage) can leave behind.
MAX_CHANNELS = 100_000


class BridgeMembers:
    """Bridge membership by channel id (AMI ``Uniqueid``, which is also the ARI channel id)."""

    def __init__(self) -> None:
        self._bridge_of: dict[str, str] = {}
        self._members: dict[str, set[str]] = {}
        self._changed = asyncio.Event()

    def observe(self, raw: Mapping[str, str]) -> None:
        """Follow one raw AMI event (``BridgeEnter``, ``BridgeLeave``, ``Hangup``; others
        are ignored). Never raises."""
        name = raw.get("Event")
        uid = raw.get("Uniqueid")
        if not uid:
            return
        if name == "BridgeEnter":
            bridge = raw.get("BridgeUniqueid")
            if bridge:
                self._leave(uid)
                self._bridge_of[uid] = bridge
                self._members.setdefault(bridge, set()).add(uid)
                self._trim()
                self._wake()
        elif name in ("BridgeLeave", "Hangup"):
            self._leave(uid)

    def clear(self) -> None:
        """Forget everything (AMI reconnected: events were missed)."""
        self._bridge_of.clear()
        self._members.clear()

    async def others(self, channel_id: str, wait: float) -> list[str] | None:
        """The other channels in ``channel_id``'s bridge, waiting up to ``wait`` seconds
        for it to have any; ``None`` if it was not seen in a bridge by then."""
        deadline = time.monotonic() + wait
        while True:
            bridge = self._bridge_of.get(channel_id)
            others = (
                None if bridge is None else sorted(self._members.get(bridge, set()) - {channel_id})
            )
            remaining = deadline - time.monotonic()
            if others or remaining <= 0:
                return others
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    def _leave(self, uid: str) -> None:
        bridge = self._bridge_of.pop(uid, None)
        if bridge is None:
            return
        members = self._members.get(bridge)
        if members is not None:
            members.discard(uid)
            if not members:
                del self._members[bridge]

    def _trim(self) -> None:
        while len(self._bridge_of) > MAX_CHANNELS:
            self._leave(next(iter(self._bridge_of)))

    def _wake(self) -> None:
        # Everyone waiting looks again; later waiters wait on a fresh event.
        self._changed.set()
        self._changed = asyncio.Event()
