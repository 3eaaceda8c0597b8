"""Snoop-whisper: playing a prompt into a call whose channel stays in plain dialplan.

``POST /channels/{caller}/snoop`` (``spy=none``, ``whisper=out``: the caller alone hears it;
for prompts both parties hear, ``whisper=both`` on the operator's channel, see
:meth:`SnoopWhisper._peer`) creates a ``Snoop/…`` channel under our
own id; it enters our Stasis app with the argument ``whisper``, we play the prompt on it
under our own playback id, wait for ``PlaybackFinished`` and hang the snoop channel up.
The caller's channel never leaves its ``Queue()``/``Dial()``. Every ARI step has a timeout;
any failure (ARI down, the caller gone, a media file the PBX cannot play) ends in
``finished=False`` — never an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import TYPE_CHECKING

from ivr_agent.pbx.ari import AriError, event_time
from ivr_agent.pbx.stasis import (
    ANY_SNOOP_PREFIX,
    WHISPER_ARG,
    ChannelEvents,
    ChannelGone,
    snoop_id,
)
from ivr_agent.platform.logging import get_logger
from ivr_agent.prompts.catalogue import PromptUnavailable
from ivr_agent.prompts.executor import OnStarted, PlayResult, PromptJob

if TYPE_CHECKING:
    from ivr_agent.pbx.session import Ivr

log = get_logger(__name__)

#: Seconds to wait for the snoop channel's StasisStart and for PlaybackStarted.
STEP_TIMEOUT_SECONDS = 3.0
#: Seconds a prompt with variables may take to render on demand.
RENDER_TIMEOUT_SECONDS = 10.0
#: Seconds a snoop is given to end with the call it spies on, which ends it a few
#: milliseconds after the hang-up. After a playback ended ``failed``: ended, the caller hung
#: up; not, the PBX could not play the media. After the caller's hang-up cancelled a prompt
#: on the operator's channel: not ended, it is stopped (an operator who stays up, transferred
#: on or kept in dialplan, hears at most this much more of it).
HANGUP_GRACE_SECONDS = 0.5
PLAYBACK_PREFIX = "ivr-agent-play-"
#: Seconds a prompt for both parties waits for the caller's bridge to have the operator in
#: it (AMI ``BridgeEnter`` follows the answer by a few milliseconds); after that it asks ARI.
PEER_WAIT_SECONDS = 0.25


class SnoopWhisper:
    """The production :class:`~ivr_agent.prompts.executor.Player`."""

    def __init__(self, ivr: Ivr) -> None:
        self.ivr = ivr
        #: The snoop events of each prompt playing, by playback id (for :meth:`stop`).
        self._playing: dict[str, ChannelEvents] = {}

    async def play(self, job: PromptJob, on_started: OnStarted) -> PlayResult:
        """Whisper ``job``'s prompt into its caller's channel."""
        command = job.command
        where = {"call_id": command.call_id, "prompt": command.prompt}
        if not command.channel_id:
            log.warning("prompt_without_channel", **where)
            return PlayResult(None, False)
        catalogue = self.ivr.catalogue
        variables = dict(command.variables)
        try:
            async with asyncio.timeout(RENDER_TIMEOUT_SECONDS):
                media = await catalogue.ensure_media(command.prompt, variables)
            audience = catalogue.audience(command.prompt)
        except (ValueError, OSError, TimeoutError, PromptUnavailable) as exc:
            log.warning("prompt_media_unavailable", error=str(exc), **where)
            return PlayResult(None, False)
        target, whisper = command.channel_id, "out"
        began = time.monotonic()
        if audience == "both":
            peer = await self._peer(command.channel_id)
            if peer is not None:
                target, whisper = peer, "both"
                job.to = "both"
        unique = uuid.uuid4().hex[:20]
        snoop = snoop_id(unique)
        playback = PLAYBACK_PREFIX + unique
        job.playback_id = playback
        client = self.ivr.client
        started_at: float | None = None
        with self.ivr.router.subscribe(snoop, playback) as events:
            self._playing[playback] = events
            try:
                # Where a late prompt's time went (logged with prompt_started): finding the
                # operator, the snoop up to its StasisStart, the play up to PlaybackStarted.
                phases = {"peer_ms": _ms_since(began)}
                mark = time.monotonic()
                await client.snoop(
                    target,
                    app=self.ivr.settings.ari_app,
                    snoop_id=snoop,
                    spy="none",
                    whisper=whisper,
                    app_args=WHISPER_ARG,
                )
                await events.next({"StasisStart"}, STEP_TIMEOUT_SECONDS)
                phases["snoop_ms"], mark = _ms_since(mark), time.monotonic()
                if job.cancelled:
                    return PlayResult(None, False)
                await client.play(snoop, [media], playback)
                started = await events.next({"PlaybackStarted"}, STEP_TIMEOUT_SECONDS)
                phases["play_ms"] = _ms_since(mark)
                started_at = event_time(started, time.time())
                log.info(
                    "prompt_started",
                    snooped="operator" if target != command.channel_id else "caller",
                    whisper=whisper,
                    **phases,
                    **where,
                )
                await on_started(started_at)
                finished = await events.next(
                    {"PlaybackFinished"}, self.ivr.settings.prompt_max_seconds
                )
                state = (finished.get("playback") or {}).get("state")
                if state == "failed":
                    if await events.ended(HANGUP_GRACE_SECONDS):
                        # Not the PBX failing to play it: the snoop ended with its call,
                        # which hung up during the prompt.
                        self.ivr.playback_stats.interrupted += 1
                        log.info("prompt_interrupted_by_hangup", **where)
                    else:
                        self.ivr.playback_stats.failed += 1
                        log.warning("prompt_playback_failed", media=media, **where)
                return PlayResult(started_at, state != "failed" and not job.cancelled)
            except ChannelGone:
                log.info("prompt_channel_gone", **where)
            except AriError as exc:
                log.warning("prompt_ari_error", error=str(exc), status=exc.status, **where)
            except TimeoutError:
                log.warning("prompt_timed_out", **where)
            finally:
                del self._playing[playback]
                # A snoop that ended with the call needs no hang-up (the request would
                # only find it gone: one wasted ARI round trip per interrupted prompt).
                if not events.has_ended:
                    with contextlib.suppress(AriError):
                        await client.hangup(snoop)
        return PlayResult(started_at, False)

    async def _peer(self, channel_id: str) -> str | None:
        """The one other party bridged with ``channel_id`` (the operator), if there is one:
        from the AMI stream (``pbx/bridge_members.py``), else from ARI's list of bridges.

        A prompt for both parties is whispered into the *operator's* channel with
        ``whisper=both``: the operator hears it, and it reaches the caller through the bridge.
        Whispering ``both`` on the caller's channel instead would inject it into what the
        caller *says*, where the caller's ``TALK_DETECT`` takes it for the caller speaking
        (and the silence watchdog would stop). Several others (a consult, a conference) or
        none: None, and the prompt goes to the caller alone.
        """
        if self.ivr.bridges is not None:
            members = await self.ivr.bridges.others(channel_id, PEER_WAIT_SECONDS)
            if members is not None:
                return _the_one_other(members)
        try:
            bridges = await self.ivr.client.bridges()
        except AriError as exc:
            log.info("bridges_unavailable", error=str(exc))
            return None
        for bridge in bridges if isinstance(bridges, list) else ():
            members = [str(c) for c in bridge.get("channels") or ()]
            if channel_id in members:
                return _the_one_other([c for c in members if c != channel_id])
        return None

    async def stop(self, job: PromptJob, *, call_ended: bool = False) -> None:
        """Stop a prompt being played (no error if it already ended).

        ``call_ended``: the caller hung up. The snoop on the operator's channel then
        normally ends with the call: the stop request is sent only if it has not within
        :data:`HANGUP_GRACE_SECONDS` (one ARI round trip per cut-off prompt saved)."""
        if job.playback_id is None:
            return
        if call_ended:
            events = self._playing.get(job.playback_id)
            if events is None or await events.ended(HANGUP_GRACE_SECONDS):
                return  # over already, or its snoop ended with the call
        await self.ivr.client.stop_playback(job.playback_id)

    async def hangup(self, channel_id: str) -> None:
        """Hang up the caller (the last silence prompt has been played)."""
        try:
            await self.ivr.client.hangup(channel_id)
        except AriError as exc:
            log.info("caller_hangup_failed", channel_id=channel_id, error=str(exc))


def _the_one_other(members: list[str]) -> str | None:
    others = [c for c in members if not c.startswith(ANY_SNOOP_PREFIX)]
    return others[0] if len(others) == 1 else None


def _ms_since(mark: float) -> int:
    return round((time.monotonic() - mark) * 1000)
