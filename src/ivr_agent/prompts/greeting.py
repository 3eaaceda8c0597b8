"""The company greeting (S4): ``Stasis(ivr-agent,greet,KIND,LINKEDID)`` from the dialplan hook.

The hook ``ivr-agent-inbound`` answers the caller and hands the channel to the agent. The
agent plays ``greeting_external`` ("您好,这里是{company}客服热线") to callers from outside and
``greeting_internal`` ("您好,{department}") to colleagues, reports it like every prompt so the
call's outcome lists it, and continues the channel in the dialplan, which goes on to the
admin's ``Queue()``/``Dial()``. If anything fails the caller is continued all the same; if
the agent process dies mid-greeting, the next agent's reclaim (the route is ``from_dialplan``,
see ``pbx/stasis.py``) continues the caller it finds left in ``Stasis(…,greet,…)``.

Who is internal: the hook's first argument when the admin's route says so
(``Gosub(ivr-agent-inbound,s,1(internal))`` or ``…(external)``); otherwise a caller number
matching ``IVR_AGENT_INTERNAL_CALLER_PATTERN`` as a whole (default: 3–6 digits, the length of
extension numbers; carriers deliver longer ones).

With IVR_AGENT_INBOUND_RECORDER=mixmonitor the greeting also names the caller's recording:
it sets ``IVR_AGENT_MIXMONITOR`` on the channel, and the hook, back from ``Stasis()``, runs
``MixMonitor`` into that name in the PBX's recording spool, where the inbound recorder
fetches it after the call (it is told when the caller left: the recording's start).
"""

from __future__ import annotations

import contextlib
import re
import time
from typing import TYPE_CHECKING, Literal

from ivr_agent.pbx.ari import AriError, event_time
from ivr_agent.pbx.stasis import ChannelGone, StasisCall
from ivr_agent.platform.logging import get_logger
from ivr_agent.prompts.stasis_prompt import linkedid_arg, play_prompt, run_then_continue

if TYPE_CHECKING:
    from ivr_agent.pbx.session import Ivr

log = get_logger(__name__)

ROUTE = "greet"
CallerKind = Literal["internal", "external"]
#: Prompt played to each kind of caller (catalogue names).
GREETINGS: dict[CallerKind, str] = {
    "external": "greeting_external",
    "internal": "greeting_internal",
}
#: Seconds the greeting may hold the caller beyond the longest prompt before the caller is
#: sent on to the queue regardless.
SLACK_SECONDS = 10.0
#: The channel variable the ``ivr-agent-inbound`` hook records the caller into with
#: ``MixMonitor`` when set (a name in the PBX's recording spool, without ``.wav``).
MIXMONITOR_VARIABLE = "IVR_AGENT_MIXMONITOR"
#: How long to wait for the caller's StasisEnd after the greeting (the recording's start).
STASIS_END_WAIT_SECONDS = 1.0


def caller_kind(hint: str, caller_number: str | None, internal: re.Pattern[str]) -> CallerKind:
    """``internal`` or ``external``: the hook's hint wins, else the caller number's shape."""
    hint = hint.strip().lower()
    if hint in ("internal", "external"):
        return "internal" if hint == "internal" else "external"
    if hint:
        log.warning("greeting_unknown_caller_kind", hint=hint[:40])
    if caller_number and internal.fullmatch(caller_number):
        return "internal"
    return "external"


def _caller_number(call: StasisCall) -> str | None:
    caller = call.channel.get("caller")
    number = caller.get("number") if isinstance(caller, dict) else None
    return number if isinstance(number, str) and number else None


async def greet(ivr: Ivr, call: StasisCall, internal: re.Pattern[str]) -> None:
    """Answer if need be, play the greeting for this caller, continue in the dialplan."""
    channel_id = call.channel_id
    linkedid = linkedid_arg(call.args, 2, channel_id)
    hint = call.args[1] if len(call.args) > 1 else ""
    prompt = GREETINGS[caller_kind(hint, _caller_number(call), internal)]
    recorder = ivr.dialplan_recorder
    recording = recorder.name_for(linkedid) if recorder is not None else None
    armed = False

    with ivr.router.subscribe(channel_id) as events:

        async def body() -> None:
            nonlocal armed
            if call.channel.get("state") != "Up":
                await ivr.client.answer(channel_id)
            if recording is not None:
                try:
                    await ivr.client.set_variable(channel_id, MIXMONITOR_VARIABLE, recording)
                except AriError as exc:
                    if exc.status is not None:
                        raise  # refused: not set, the answer falls back to a snoop
                    # No reply in time: an overloaded PBX may still set it, and its hook
                    # then records into the file. Noted all the same, so the file is kept
                    # or deleted after the call instead of left in the PBX's spool.
                    log.warning("mixmonitor_name_unconfirmed", channel_id=channel_id)
                armed = True
            if prompt in ivr.settings.prompts_disabled:
                return
            await play_prompt(ivr, events, channel_id, linkedid, prompt, {})

        budget = ivr.settings.prompt_max_seconds + SLACK_SECONDS
        continued = await run_then_continue(ivr, channel_id, budget, body)
        if recorder is None or recording is None or not armed or not continued:
            return
        # MixMonitor is the hook's next step after Stasis(): the recording starts as the
        # caller leaves the app (the PBX's clock, as the call's other times).
        at = time.time()
        with contextlib.suppress(TimeoutError, ChannelGone):
            at = event_time(await events.next({"StasisEnd"}, STASIS_END_WAIT_SECONDS), at)
        recorder.started(linkedid, recording, at)


def install(ivr: Ivr) -> None:
    """Register the ``greet`` Stasis route."""
    internal = re.compile(ivr.settings.internal_caller_pattern)

    async def handler(call: StasisCall) -> None:
        await greet(ivr, call, internal)

    ivr.router.route(ROUTE, handler, from_dialplan=True)
