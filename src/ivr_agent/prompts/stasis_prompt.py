"""Playing one catalogue prompt to a channel that is in our Stasis app (greeting, survey).

Unlike snoop-whisper (``whisper.py``), the channel itself is in Stasis here — the dialplan
hook handed it over — so the prompt is played on it directly. The prompt is reported to the
tracker like every other (``Ivr.report_prompt``: ``started`` at ``PlaybackStarted``,
``finished`` at the end, ``Played: no`` when it could not be played), and every step has a
timeout. :func:`continue_in_dialplan` hands the channel back and never raises: a caller is
never left in Stasis.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ivr_agent.pbx.ari import AriError, event_time
from ivr_agent.pbx.stasis import ChannelEvents, ChannelGone
from ivr_agent.platform.logging import get_logger
from ivr_agent.prompts.catalogue import PromptUnavailable

if TYPE_CHECKING:
    from ivr_agent.pbx.session import Ivr

log = get_logger(__name__)

#: Seconds to wait for ``PlaybackStarted`` after the play request.
START_TIMEOUT_SECONDS = 3.0
#: Seconds a prompt may take to render on demand (greetings are pre-rendered: a file check).
RENDER_TIMEOUT_SECONDS = 10.0
PLAYBACK_PREFIX = "ivr-agent-stasis-"
DTMF = "ChannelDtmfReceived"


@dataclass(frozen=True)
class Played:
    """What happened to one prompt: when it started (PBX clock), whether the caller heard it
    to the end (or cut it short with a key: ``digit``)."""

    started_at: float | None
    heard: bool
    digit: str | None = None


def linkedid_arg(args: tuple[str, ...], index: int, channel_id: str) -> str:
    """The call's Linkedid passed by the hook as Stasis argument ``index``; the channel's own
    id when absent (the hook's caller channel is the call's first one)."""
    value = args[index].strip() if len(args) > index else ""
    return value or channel_id


async def play_prompt(
    ivr: Ivr,
    events: ChannelEvents,
    channel_id: str,
    linkedid: str,
    prompt: str,
    variables: Mapping[str, str],
    *,
    keys: bool = False,
) -> Played:
    """Play ``prompt`` on ``channel_id`` (in Stasis, subscribed by ``events``) and report it.

    ``keys``: a keypad key pressed while it plays stops it and is returned as ``digit``.
    Raises :class:`ChannelGone` when the caller hangs up (the prompt is reported unfinished
    first); any other trouble (ARI, media) ends in ``heard=False``, never an exception.
    """
    where = {"prompt": prompt, "channel_id": channel_id}
    try:
        async with asyncio.timeout(RENDER_TIMEOUT_SECONDS):
            media = await ivr.catalogue.ensure_media(prompt, variables)
    except (ValueError, OSError, TimeoutError, PromptUnavailable) as exc:
        log.warning("stasis_prompt_media_unavailable", error=str(exc), **where)
        await ivr.report_prompt(linkedid, prompt, "finished", False)
        return Played(None, False)
    playback = PLAYBACK_PREFIX + uuid.uuid4().hex[:20]
    events.add(playback)
    started_at: float | None = None
    heard = False
    digit: str | None = None
    try:
        await ivr.client.play(channel_id, [media], playback)
        first = await _next_of(
            events, playback, {"PlaybackStarted", "PlaybackFinished"}, START_TIMEOUT_SECONDS
        )
        if (first.get("playback") or {}).get("state") == "failed":
            ivr.playback_stats.failed += 1
        if first.get("type") == "PlaybackStarted":
            started_at = event_time(first, time.time())
            await ivr.report_prompt(linkedid, prompt, "started", True)
            wanted = {"PlaybackFinished", DTMF} if keys else {"PlaybackFinished"}
            while True:
                event = await _next_of(events, playback, wanted, ivr.settings.prompt_max_seconds)
                if event.get("type") == DTMF:
                    digit = str(event.get("digit") or "") or None
                    if digit is not None:
                        # The caller answered before the question ended: enough was heard.
                        await ivr.client.stop_playback(playback)
                        heard = True
                        break
                    continue
                heard = (event.get("playback") or {}).get("state") != "failed"
                if not heard:
                    ivr.playback_stats.failed += 1
                break
        if not heard:
            log.warning("stasis_prompt_not_played", media=media, **where)
    except ChannelGone:
        await ivr.report_prompt(linkedid, prompt, "finished", False)
        raise
    except AriError as exc:
        log.warning("stasis_prompt_ari_error", error=str(exc), status=exc.status, **where)
    except TimeoutError:
        log.warning("stasis_prompt_timed_out", **where)
        await ivr.client.stop_playback(playback)
    await ivr.report_prompt(linkedid, prompt, "finished", heard)
    return Played(started_at, heard, digit)


async def _next_of(
    events: ChannelEvents, playback: str, types: set[str], timeout: float
) -> dict[str, Any]:
    """The next of ``types`` that is not another playback's: the channel's earlier playback
    (e.g. the silence stopped when a key came) still reports its end afterwards."""
    deadline = time.monotonic() + timeout
    while True:
        event = await events.next(types, max(deadline - time.monotonic(), 0.0))
        other = (event.get("playback") or {}).get("id")
        if other is None or other == playback:
            return event


async def continue_in_dialplan(ivr: Ivr, channel_id: str) -> None:
    """Hand the channel back to the dialplan (the hook's next step); never raises."""
    try:
        await ivr.client.continue_in_dialplan(channel_id)
    except AriError as exc:
        # 404: the caller hung up meanwhile; anything else is logged, the PBX keeps the call.
        log.info("stasis_continue_failed", channel_id=channel_id, error=str(exc))


async def run_then_continue(
    ivr: Ivr, channel_id: str, budget: float, body: Callable[[], Awaitable[None]]
) -> bool:
    """Run ``body`` for a channel the hook handed us, then hand it back to the dialplan.

    Whatever happens — ``body`` fails, overruns ``budget`` seconds, or the agent shuts down —
    the caller goes on in the dialplan (to the queue, or to hang-up after the survey); only a
    caller who hung up is not continued. True when the caller was continued.
    """
    gone = False
    try:
        async with asyncio.timeout(budget):
            await body()
    except ChannelGone:
        gone = True
    except TimeoutError:
        log.warning("stasis_handler_overran", channel_id=channel_id, budget=budget)
    except Exception:  # never strand a caller in Stasis, whatever went wrong
        log.exception("stasis_handler_failed", channel_id=channel_id)
    finally:
        if not gone:
            await continue_in_dialplan(ivr, channel_id)
    return not gone
