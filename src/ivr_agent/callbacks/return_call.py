"""One answered return call (S8, 呼损回拨): record, greet, hand the customer to an operator.

Theory of operation — an abandoned caller's callback is service, not a survey:

1. As every callback (S5), the customer's channel joins our mixing bridge and the bridge
   recording starts **before anything is said** (:class:`CallbackCall`'s recording; a
   recording that cannot start ends the call politely, ``failed``, rescheduled).
2. The return-call greeting ``return_call_greeting`` ("您好,这里是{company}客服,您刚才的来电
   未能接通,现在为您转接客服代表") is played on the bridge, so the recording holds it.
3. The recording is stopped and the channel leaves Stasis by ARI ``continue`` into the
   admin's own operator route, ``IVR_AGENT_RETURN_CALL_CONTEXT`` /
   ``…_EXTENSION`` / ``…_PRIORITY`` (e.g. a context running their ``Queue()``). From there
   the call is measured by the tracker like an inbound caller (queue wait, the operator who
   answers, holds, silence) and recorded by the inbound recorder from its queue join
   (``core/measures.py``): answer → greeting is this module's recording, queue → hang-up
   the inbound recorder's, so the whole call is on record. The resulting call's
   ``calls.linkedid`` is this attempt's channel id (the originated channel is the call's
   first channel): that is the link between the callback and the measured call.
4. The attempt ends ``connected`` (the callback ``completed``) with the greeting's verified
   recording. A customer who hangs up during the greeting ends ``hung_up`` (a failure,
   retried under S5's rules); one who gives up in the queue is measured on the resulting
   call and not redialled (a return call is no inbound call: its abandon makes no callback).
"""

from __future__ import annotations

import contextlib

from ivr_agent.callbacks.call import (
    CallbackCall,
    CallReport,
    RecordingLost,
    RecordingNotStarted,
)
from ivr_agent.callbacks.journal import JournalEntry
from ivr_agent.callbacks.script import Prompt
from ivr_agent.pbx.ari import AriError
from ivr_agent.pbx.stasis import ChannelGone
from ivr_agent.platform.logging import get_logger

log = get_logger(__name__)

#: The greeting the customer hears before the hand-over (prompts/catalogue.toml).
GREETING = "return_call_greeting"
#: … and the one of an in-queue callback request's return call (S8: their place kept).
QUEUE_GREETING = "queue_callback_greeting"


class ReturnCall(CallbackCall):
    """Runs one answered return call on the attempt's channel; :meth:`run` returns its report."""

    async def run(self) -> CallReport:
        """Record, greet, hand over to the operator route, keep the recording."""
        entry, answered_at = self.answered_entry()
        try:
            if entry.recording_started_at is None:
                started = await self._start_recording()
                entry = entry.with_(
                    recording_name=self.recording_name, recording_started_at=started
                )
                self.journal.write(entry)
            else:
                # Resumed after an agent restart: the greeting is played again from the start.
                await self._ensure_customer_in_bridge()
                if entry.playback_id:
                    await self.client.stop_playback(entry.playback_id)
        except (RecordingNotStarted, ChannelGone) as exc:
            return await self._recording_failed(exc, answered_at)
        if await self._route_missing():
            return await self._route_failed(entry, answered_at)
        try:
            await self._play((Prompt(self.greeting, {"company": self.settings.company}),))
        except ChannelGone:
            return await self._wrap_up(entry, answered_at, "hung_up", "hung up during the greeting")
        except RecordingLost as exc:
            return await self._recording_failed(exc, answered_at)
        return await self._hand_over(entry, answered_at)

    @property
    def greeting(self) -> str:
        """The prompt the customer hears before the hand-over."""
        return QUEUE_GREETING if self.target.queue else GREETING

    @property
    def destination(self) -> tuple[str, str, int]:
        """Where the customer is handed over: ``IVR_AGENT_RETURN_CALL_*``, or for an
        in-queue callback request the queue's own extension of
        ``IVR_AGENT_QUEUE_CALLBACK_CONTEXT`` (it rejoins the queue it left)."""
        s = self.settings
        if self.target.queue:
            return s.queue_callback_context, self.target.queue, 1
        return s.return_call_context, s.return_call_extension, s.return_call_priority

    @property
    def route(self) -> str:
        """The operator route, ``context,extension,priority``."""
        context, extension, priority = self.destination
        return f"{context},{extension},{priority}"

    async def _route_missing(self) -> bool:
        """True when the PBX says the operator route does not exist (checked before the
        greeting promises an operator). Unknown (no ``func_dialplan``, no reply): not
        missing — the hand-over is tried."""
        try:
            value = await self.client.get_variable(
                self.target.channel_id, f"DIALPLAN_EXISTS({self.route})"
            )
        except AriError:
            return False
        return value.strip() == "0"

    async def _route_failed(self, entry: JournalEntry, answered_at: float) -> CallReport:
        """No operator route on the PBX: apologise (recorded), hang up, fail the attempt —
        retried under S5's rules, so a route fixed meanwhile still serves the customer."""
        log.error(
            "return_call_route_missing",
            attempt_id=self.target.attempt_id,
            route=self.route,
            fix="IVR_AGENT_RETURN_CALL_CONTEXT/_EXTENSION/_PRIORITY (an in-queue request: "
            "IVR_AGENT_QUEUE_CALLBACK_CONTEXT with the queue's name as extension) must name a "
            "dialplan extension of the PBX (see `ivr-agent doctor`)",
        )
        with contextlib.suppress(ChannelGone, RecordingLost):
            await self._play((Prompt("callback_recording_failed"),))
        detail = f"return-call route {self.route} does not exist on the PBX"
        return await self._wrap_up(entry, answered_at, "failed", detail)

    async def _hand_over(self, entry: JournalEntry, answered_at: float) -> CallReport:
        """Stop our recording, continue the channel into the operator route, keep the file."""
        finished_at = await self._stop_recording()
        context, extension, priority = self.destination
        try:
            await self._show_customer()
            if self.target.queue:
                # Its place is kept: ahead of the callers who joined after it (Queue() reads
                # QUEUE_PRIO when the channel joins).
                await self.client.set_variable(
                    self.target.channel_id,
                    "QUEUE_PRIO",
                    str(self.settings.queue_callback_priority),
                )
            await self.client.continue_in_dialplan(
                self.target.channel_id, context=context, extension=extension, priority=priority
            )
        except AriError as exc:
            gone = self.events.gone or exc.status == 404
            outcome = "hung_up" if gone else "failed"
            detail = None if gone else f"hand-over to {context},{extension} refused: {exc}"
            log.warning(
                "return_call_hand_over_failed", attempt_id=self.target.attempt_id, error=str(exc)
            )
            return await self._wrap_up(entry, answered_at, outcome, detail, finished_at)
        log.info(
            "return_call_handed_over",
            attempt_id=self.target.attempt_id,
            context=context,
            extension=extension,
            linkedid=self.target.channel_id,
        )
        # Known now: a crash from here on still finishes the attempt as handed over.
        entry = entry.with_(outcome="connected")
        self.journal.write(entry)
        return await self._wrap_up(
            entry, answered_at, "connected", f"handed to {context},{extension}", finished_at
        )

    async def _show_customer(self) -> None:
        """Present the customer's number (and name) as the caller id the operator's phone
        shows: the operator sees whom they are answering, as on an inbound call (an
        originated channel's caller id is otherwise the PBX's own)."""
        number = self.target.customer_number
        if number:
            await self.client.set_variable(self.target.channel_id, "CALLERID(num)", number)
        if self.target.customer_name:
            await self.client.set_variable(
                self.target.channel_id, "CALLERID(name)", self.target.customer_name
            )

    async def _wrap_up(
        self,
        entry: JournalEntry,
        answered_at: float,
        outcome: str,
        detail: str | None,
        finished_at: float | None = None,
    ) -> CallReport:
        """Hang up unless handed over, then :meth:`close` (handed over without a verified
        recording: ``failed`` all the same, S5 keeps no outcome without it)."""
        if outcome != "connected":
            await self._hang_up()
        linked = {"linkedid": self.target.channel_id} if outcome == "connected" else None
        return await self.close(
            entry, answered_at, outcome, detail, finished_at=finished_at, extra=linked
        )
