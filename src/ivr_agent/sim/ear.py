"""What a simulated phone hears, live: the caller-side truth of ringback and prompts.

A real caller knows they are waiting when they hear ringback (or music) and knows a prompt
was played when they hear it. The simulator gets the same evidence from the caller's own
line on the phones instance: a ``Snoop/…`` channel spies on what the PBX sends the caller
(``spy=in``), a mixing bridge joins it to an external-media channel, and Asterisk sends that
audio as µ-law RTP to a UDP socket of ours. Each 20 ms packet is stamped with its arrival
time, so the recording :meth:`Ear.recording` returns is on the wall clock the rest of the
ground truth uses (RTP over loopback and one bridge mix: tens of ms behind the PBX).

While the call goes on, :attr:`Ear.ringback` fires as soon as China's ringback tone (450 Hz,
Asterisk indications ``cn``) has sounded for :data:`RINGBACK_MIN_SECONDS`: a simulated caller
who gives up after N seconds of waiting counts from there. Any failure to set the ear up
leaves a deaf ear (no recording, no ringback) and an error in ``errors``; never an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
import wave
from dataclasses import dataclass

import numpy as np

from ivr_agent.pbx.ari import AriClient, AriError
from ivr_agent.sim.audio_match import Audio, FloatArray, tone_intervals, tone_onset
from ivr_agent.sim.legs import Hub, Leg

RATE = 8000
#: Tone this long makes it ringback: the cn cadence sounds 1 s at a time, but an operator
#: may answer 0.2 s into the first burst. Music does not pass for it: a held note near 450 Hz
#: is told apart by its frequency over the interval (``audio_match.tone_intervals``).
RINGBACK_MIN_SECONDS = 0.15
#: How often the live ringback check looks at the newest audio, and how much of it.
WATCH_EVERY_SECONDS = 0.1
WATCH_WINDOW_SECONDS = 1.0
#: Seconds to wait for the snoop and external-media channels to enter the app.
SETUP_TIMEOUT_SECONDS = 5.0
EAR_APP_ARG = "ear"


def _ulaw_table() -> FloatArray:
    """G.711 µ-law byte → linear sample in -1..1 (full scale of 16-bit PCM = 1)."""
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    linear = np.where(sign != 0, -magnitude, magnitude)
    return linear.astype(np.float64) / 32768.0


ULAW = _ulaw_table()


@dataclass(frozen=True)
class RtpPacket:
    """What the ear keeps of one RTP packet: its timestamp (in samples) and its audio."""

    timestamp: int
    payload: bytes


def parse_rtp(packet: bytes) -> RtpPacket | None:
    """Timestamp and payload (after CSRCs and any header extension); None if malformed."""
    if len(packet) < 12 or packet[0] >> 6 != 2:
        return None
    start = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10:  # header extension: 4 bytes, then its length in 32-bit words
        if len(packet) < start + 4:
            return None
        start += 4 + 4 * int.from_bytes(packet[start + 2 : start + 4], "big")
    end = len(packet)
    if packet[0] & 0x20 and end > start:  # padding: the last byte says how much
        end -= packet[-1]
    if end <= start:
        return None
    return RtpPacket(int.from_bytes(packet[4:8], "big"), packet[start:end])


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, ear: Ear) -> None:
        self.ear = ear

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        packet = parse_rtp(data)
        if packet is not None:
            self.ear.heard(time.time(), packet)


class Ear:
    """Listens to one phones-side leg from :meth:`start` to :meth:`stop`."""

    def __init__(self, ari: AriClient, hub: Hub, app: str, leg: Leg) -> None:
        self.ari = ari
        self.hub = hub
        self.app = app
        self.leg = leg
        self.snoop_id = f"{leg.id}-ear"
        self.media_id = f"{leg.id}-ear-rtp"
        self.bridge_id = f"{leg.id}-ear"
        #: Fires when ringback was heard; :attr:`ringback_at` says since when.
        self.ringback = asyncio.Event()
        self.ringback_at: float | None = None
        self.errors: list[str] = []
        #: (sample offset from the first packet's RTP timestamp, µ-law payload)
        self._packets: list[tuple[int, bytes]] = []
        self._first_timestamp: int | None = None
        #: Wall-clock time of sample offset 0: the least delayed packet says it best (a
        #: packet cannot arrive before its last sample was sent; event-loop lag only delays).
        self._anchor = float("inf")
        self._transport: asyncio.DatagramTransport | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Begin hearing (the leg must be up and in the app)."""
        loop = asyncio.get_running_loop()
        try:
            self._transport, _ = await loop.create_datagram_endpoint(
                lambda: _Receiver(self), local_addr=("127.0.0.1", 0)
            )
            port = self._transport.get_extra_info("sockname")[1]
            # Registered first, so the hub does not take them for unknown incoming legs.
            snoop, media = self.hub.leg(self.snoop_id), self.hub.leg(self.media_id)
            await self.ari.create_bridge(self.bridge_id)
            await self.ari.snoop(
                self.leg.id,
                app=self.app,
                snoop_id=self.snoop_id,
                spy="in",
                whisper="none",
                app_args=EAR_APP_ARG,
            )
            await self.ari.external_media(
                app=self.app, channel_id=self.media_id, external_host=f"127.0.0.1:{port}"
            )
            async with asyncio.timeout(SETUP_TIMEOUT_SECONDS):
                await snoop.started.wait()
                await media.started.wait()
            await self.ari.add_to_bridge(self.bridge_id, self.snoop_id)
            await self.ari.add_to_bridge(self.bridge_id, self.media_id)
        except (AriError, OSError, TimeoutError) as exc:
            self.errors.append(f"the caller's ear could not be set up: {exc}")
            return
        self._watcher = asyncio.create_task(self._watch_for_ringback())

    async def stop(self) -> None:
        """Stop hearing; the recording so far stays available."""
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        for channel in (self.snoop_id, self.media_id):
            with contextlib.suppress(AriError):
                await self.ari.hangup(channel)
        with contextlib.suppress(AriError):
            await self.ari.destroy_bridge(self.bridge_id)
        if self._transport is not None:
            self._transport.close()

    def heard(self, arrived: float, packet: RtpPacket) -> None:
        """One RTP packet arrived at ``arrived`` (epoch seconds)."""
        if self._first_timestamp is None:
            self._first_timestamp = packet.timestamp
        # Offset in samples from the first packet, across the 32-bit wrap either way.
        offset = (packet.timestamp - self._first_timestamp + 2**31) % 2**32 - 2**31
        self._packets.append((offset, packet.payload))
        self._anchor = min(self._anchor, arrived - (offset + len(packet.payload)) / RATE)

    def recording(self) -> tuple[float | None, Audio]:
        """(epoch seconds of the first sample or None, what was heard at 8 kHz).

        Samples are placed by their RTP timestamps (Asterisk stamps them as it sends them,
        in real time), on the wall clock of the least delayed packet; a gap is silence.
        """
        return self._assemble(self._packets)

    def _assemble(self, packets: list[tuple[int, bytes]]) -> tuple[float | None, Audio]:
        if not packets:
            return None, Audio(np.zeros(0), RATE)
        first = min(offset for offset, _ in packets)
        end = max(offset + len(payload) for offset, payload in packets)
        samples = np.zeros(end - first)
        for offset, payload in packets:
            samples[offset - first : offset - first + len(payload)] = ULAW[
                np.frombuffer(payload, dtype=np.uint8)
            ]
        return self._anchor + first / RATE, Audio(samples, RATE)

    async def _watch_for_ringback(self) -> None:
        checked = 0
        newest = round(WATCH_WINDOW_SECONDS / 0.02)  # 20 ms packets
        while not self.ringback.is_set():
            await asyncio.sleep(WATCH_EVERY_SECONDS)
            if len(self._packets) == checked:
                continue
            checked = len(self._packets)
            # The newest second of audio is enough: the tone must sound for only 0.15 s.
            t0, audio = self._assemble(self._packets[-newest:])
            found = tone_intervals(audio, min_seconds=RINGBACK_MIN_SECONDS)
            if found and t0 is not None:
                self.ringback_at = t0 + found[0][0]
                self.ringback.set()


def ringback_onset(t0: float | None, heard: Audio, before: float | None = None) -> float | None:
    """Epoch seconds when ringback first sounded in a recording starting at ``t0`` (before
    ``before`` if given), or None."""
    onset = None if t0 is None else tone_onset(heard, min_seconds=RINGBACK_MIN_SECONDS)
    if t0 is None or onset is None:
        return None
    at = t0 + onset
    return at if before is None or at < before else None


def wav_bytes(audio: Audio) -> bytes:
    """``audio`` as a 16-bit PCM mono WAV file."""
    pcm = np.clip(np.round(audio.samples * 32768.0), -32768, 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(audio.rate)
        wav.writeframes(pcm.tobytes())
    return out.getvalue()
