"""The satisfaction question after the operator hangs up first, or hands the caller over (S4).

The admin's ``Queue(…,c…)``/``Dial(…,g…)`` goes on in the dialplan when the operator hangs
up; the hook ``ivr-agent-after-queue`` then hands the caller to ``Stasis(ivr-agent,survey,
LINKEDID)``. An operator may also hand the caller over to the question by a blind transfer
to the hook ``ivr-agent-survey-handover``, which runs the same lines. The agent plays
``satisfaction`` ("如果您对我们的服务满意,请按1键;如有建议,请按2键,…"), takes the first key
pressed during it or within ``IVR_AGENT_SATISFACTION_TIMEOUT_SECONDS`` after it, stores it in
the channel variable ``IVR_AGENT_SATISFACTION`` and continues; on ``2`` the caller may first
leave a spoken suggestion (``prompts/suggestion.py``). The hook reports the answer as
``UserEvent(IvrAgentSurvey, Digit)`` — one place for the agent's path and the dialplan's own
``Read()`` fallback — and the tracker puts it in the outcome (``extra["satisfaction"]``, see
``core/standards.py``).

If the agent process dies while asking, the next agent's reclaim continues the caller it
finds left in ``Stasis(…,survey,…)`` (the route is ``from_dialplan``). The hook emptied
``IVR_AGENT_SATISFACTION`` before ``Stasis()``, so it reports no digit: ``no_answer`` when the
dead agent had reported the question played, no ``satisfaction`` key when it had not.
"""

from __future__ import annotations

import math
import uuid
from typing import TYPE_CHECKING

from ivr_agent.pbx.ari import AriError
from ivr_agent.pbx.stasis import ChannelEvents, StasisCall
from ivr_agent.platform.logging import get_logger
from ivr_agent.prompts import suggestion
from ivr_agent.prompts.stasis_prompt import DTMF, linkedid_arg, play_prompt, run_then_continue

if TYPE_CHECKING:
    from ivr_agent.pbx.session import Ivr

log = get_logger(__name__)

ROUTE = "survey"
PROMPT = "satisfaction"
#: The channel variable the hook reads the answer from.
ANSWER_VARIABLE = "IVR_AGENT_SATISFACTION"
#: Seconds beyond the prompt and the answer window before the caller is sent on regardless.
SLACK_SECONDS = 10.0
#: What the caller's line carries while the agent waits for the key (stock Asterisk sound).
SILENCE_MEDIA = "sound:silence/10"
SILENCE_FILE_SECONDS = 10.0
SILENCE_PREFIX = "ivr-agent-survey-silence-"


async def ask(ivr: Ivr, call: StasisCall) -> None:
    """Ask the satisfaction question, store the key pressed, continue in the dialplan."""
    channel_id = call.channel_id
    linkedid = linkedid_arg(call.args, 1, channel_id)
    settings = ivr.settings

    async def body() -> None:
        if PROMPT in settings.prompts_disabled:
            return
        with ivr.router.subscribe(channel_id) as events:
            played = await play_prompt(ivr, events, channel_id, linkedid, PROMPT, {}, keys=True)
            digit = played.digit
            if played.heard and digit is None:
                digit = await wait_for_key(ivr, events, channel_id, linkedid)
            if digit is not None:
                await ivr.client.set_variable(channel_id, ANSWER_VARIABLE, digit)
            if digit == suggestion.SUGGESTION_KEY and suggestion.wanted(ivr):
                await suggestion.take_suggestion(ivr, events, channel_id, linkedid)

    budget = (
        settings.prompt_max_seconds
        + settings.satisfaction_timeout_seconds
        + SLACK_SECONDS
        + suggestion.extra_seconds(ivr)
    )
    await run_then_continue(ivr, channel_id, budget, body)


async def wait_for_key(
    ivr: Ivr, events: ChannelEvents, channel_id: str, linkedid: str
) -> str | None:
    """The first key pressed within the answer window, or None.

    Silence is played meanwhile: a channel idle in Stasis sends no audio at all, and a line
    that receives nothing cannot tell that the question has ended (a caller's phone, or
    talk detection) — the dialplan's ``Read()`` fallback sends silence the same way.
    """
    window = ivr.settings.satisfaction_timeout_seconds
    playback = SILENCE_PREFIX + uuid.uuid4().hex[:20]
    files = [SILENCE_MEDIA] * math.ceil(window / SILENCE_FILE_SECONDS)
    try:
        await ivr.client.play(channel_id, files, playback)
    except AriError as exc:
        log.info("satisfaction_silence_failed", error=str(exc), channel_id=channel_id)
    try:
        event = await events.next({DTMF}, window)
        return str(event.get("digit") or "") or None
    except TimeoutError:
        log.info("satisfaction_no_answer", linkedid=linkedid)
        return None
    finally:
        await ivr.client.stop_playback(playback)


def install(ivr: Ivr) -> None:
    """Register the ``survey`` Stasis route."""

    async def handler(call: StasisCall) -> None:
        await ask(ivr, call)

    ivr.router.route(ROUTE, handler, from_dialplan=True)
