"""A caller's spoken suggestion after pressing 2 at the satisfaction question (S9,
意见和建议的记录).

After the key, the caller hears ``suggestion_record`` ("请在提示音后留下您的宝贵建议…"), a
beep, and what they say is recorded on their own channel (ARI ``POST /channels/{id}/record``)
until they press ``#``, stay silent for ``IVR_AGENT_SUGGESTION_SILENCE_SECONDS``, reach
``IVR_AGENT_SUGGESTION_MAX_SECONDS`` or hang up; then ``suggestion_thanks`` if they are still
there. The finished recording is handed to the inbound recorder
(:attr:`~ivr_agent.pbx.session.Ivr.keep_suggestion`), which fetches, verifies and stores it
like the call's own recording, as a recording of kind ``suggestion`` of the same call, so
QA plays it on the call's page. The whole-call recording (a snoop on the same channel) keeps
running meanwhile: the suggestion is in both.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING

from ivr_agent.pbx.ari import AriError, event_time
from ivr_agent.pbx.stasis import ChannelEvents, ChannelGone
from ivr_agent.platform.logging import get_logger
from ivr_agent.prompts.stasis_prompt import play_prompt

if TYPE_CHECKING:
    from ivr_agent.pbx.session import Ivr

log = get_logger(__name__)

#: The satisfaction answer that leads to a spoken suggestion.
SUGGESTION_KEY = "2"
PROMPT = "suggestion_record"
THANKS = "suggestion_thanks"
#: The PBX's name of the recording: one per call (a second run overwrites nothing else).
RECORDING_PREFIX = "ivr-agent-sg-"
#: Seconds to wait for RecordingStarted.
START_TIMEOUT_SECONDS = 5.0
#: Beyond the longest suggestion, before the recording is stopped regardless.
SLACK_SECONDS = 5.0


def extra_seconds(ivr: Ivr) -> float:
    """How much longer a survey may take when the caller leaves a suggestion."""
    settings = ivr.settings
    if not wanted(ivr):
        return 0.0
    return 2 * settings.prompt_max_seconds + settings.suggestion_max_seconds + SLACK_SECONDS


def wanted(ivr: Ivr) -> bool:
    """Whether suggestions are taken (a length is set and the prompt not disabled)."""
    settings = ivr.settings
    return settings.suggestion_max_seconds > 0 and PROMPT not in settings.prompts_disabled


async def take_suggestion(ivr: Ivr, events: ChannelEvents, channel_id: str, linkedid: str) -> None:
    """Invite, record and thank; hand the recording over to be kept. Raises
    :class:`ChannelGone` only before anything was recorded (the caller left during the
    invitation); a caller hanging up while speaking is how most suggestions end."""
    settings = ivr.settings
    played = await play_prompt(ivr, events, channel_id, linkedid, PROMPT, {})
    if not played.heard:
        return  # never invited: nothing to record
    name = RECORDING_PREFIX + linkedid
    events.add(name)
    started: float | None = None
    finished: float | None = None
    try:
        await ivr.client.record_channel(
            channel_id,
            name,
            audio_format="wav",
            max_duration_seconds=round(settings.suggestion_max_seconds),
            max_silence_seconds=round(settings.suggestion_silence_seconds),
            beep=True,
            terminate_on="#",
            if_exists="overwrite",
        )
        event = await events.next({"RecordingStarted", "RecordingFailed"}, START_TIMEOUT_SECONDS)
        if event["type"] == "RecordingFailed":
            raise AriError("POST", "record", None, "RecordingFailed")
        started = event_time(event, time.time())
        log.info("suggestion_recording_started", linkedid=linkedid)
        try:
            event = await events.next(
                {"RecordingFinished", "RecordingFailed"},
                settings.suggestion_max_seconds + SLACK_SECONDS,
            )
            finished = event_time(event, time.time())
        except ChannelGone:
            finished = time.time()  # they hung up when done: the PBX finishes the file
        else:
            await play_prompt(ivr, events, channel_id, linkedid, THANKS, {})
    except (AriError, TimeoutError) as exc:
        log.warning("suggestion_not_recorded", error=str(exc), linkedid=linkedid)
        if started is not None:
            with contextlib.suppress(AriError):
                await ivr.client.stop_recording(name)
            finished = time.time()
    finally:
        if started is not None and ivr.keep_suggestion is not None:
            # No expected length: a recording ended by silence has that silence trimmed
            # off by the PBX, so the file is shorter than its start-to-finish time.
            ivr.keep_suggestion(linkedid, name, started, None)
            log.info("suggestion_recorded", linkedid=linkedid, seconds=_span(started, finished))


def _span(started: float, finished: float | None) -> float | None:
    return None if finished is None else round(finished - started, 3)
