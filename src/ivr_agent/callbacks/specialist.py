"""One specialist call-back (S8: 转接至专员, "他会在3分钟内与您联系"): specialist first, then
the customer, bridged and recorded.

Theory of operation:

1. The dialer originates the **specialist's** phone (``IVR_AGENT_SPECIALIST_DIAL`` with the
   callback's operator id) into our Stasis app; when they answer, this call runs.
2. The customer is dialled (``IVR_AGENT_CALLBACK_DIAL``) under our own channel id
   (``ivr-agent-cbc-<attempt id>``) into the same app. Not answered (or busy, or the
   specialist hangs up meanwhile): the specialist is hung up and the attempt ends
   ``no_answer`` / ``busy`` / ``hung_up``, retried under S5's rules.
3. The customer answered: the mixing bridge takes the specialist and the bridge recording
   starts (:class:`~ivr_agent.callbacks.call.CallbackCall`'s, confirmed before anything
   goes on), then the customer joins it. From then on the two talk until one hangs up (or
   ``IVR_AGENT_CALLBACK_MAX_CALL_SECONDS``); the other is hung up, the recording stopped,
   fetched, verified and kept. The attempt ends ``connected`` with ``answered_at`` = the
   customer's answer: the moment the customer was reached, which S8 judges against the
   request's time (``core.breaches.late_specialist_seconds``).
4. Not reached (either phone): the attempt fails and is tried again
   ``IVR_AGENT_SPECIALIST_RETRY_SECONDS`` later while the due time allows
   (``core/specialist_retries.py``).

After an agent restart the specialist's channel, still up in our app, is adopted
(``callbacks/reconcile.py``): if the journal says the two were bridged (``reached_at``), the
bridge and its recording are checked and the talk goes on to its normal end; if the customer
was still being dialled, that leg is hung up and the attempt fails — to be retried within the
due time, the specialist rung again. A specialist channel gone with the restart ends the
attempt from its journal and recording (``finish_without_channel``), retried likewise.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Literal

from ivr_agent.callbacks.call import (
    CallbackCall,
    CallReport,
    RecordingLost,
    RecordingNotStarted,
    _utc,
)
from ivr_agent.callbacks.dialing import cause_of, dial_string, unanswered_outcome
from ivr_agent.callbacks.journal import JournalEntry
from ivr_agent.core.ids import is_uuid
from ivr_agent.pbx.ari import AriError, event_time
from ivr_agent.pbx.stasis import ChannelGone
from ivr_agent.platform.logging import get_logger

log = get_logger(__name__)

#: Extra seconds past the ring time before an unanswered customer is given up on.
RING_GRACE_SECONDS = 5.0
#: How often the call's end is looked for while the two talk.
TALK_POLL_SECONDS = 1.0


#: The prefix of our channel ids of specialist call-backs' customer legs.
CUSTOMER_CHANNEL_PREFIX = "ivr-agent-cbc-"


def customer_channel_id(attempt_id: str) -> str:
    """Our ARI channel id of the customer's leg of a specialist call-back."""
    return f"{CUSTOMER_CHANNEL_PREFIX}{attempt_id}"


def attempt_of_customer_channel(channel_id: str) -> str | None:
    """The attempt id whose customer leg is ``channel_id`` (:func:`customer_channel_id`),
    or None for any other channel (the customer's call is linked to its callback by it)."""
    if not channel_id.startswith(CUSTOMER_CHANNEL_PREFIX):
        return None
    attempt_id = channel_id.removeprefix(CUSTOMER_CHANNEL_PREFIX)
    return attempt_id if is_uuid(attempt_id) else None


ResumeStep = Literal["dial", "talk_on", "start_again"]


def resume_step(earlier: JournalEntry | None, *, resumed: bool) -> ResumeStep:
    """Where a specialist call-back goes on from, by its journal before this run:

    - ``talk_on``: the two were bridged and recorded (``reached_at``), the agent restarted
      under them: they talk on, to the call's normal end;
    - ``start_again``: adopted after a restart while the customer was being dialled (the
      specialist had answered in an earlier run): that leg, outside our bridge, cannot be
      followed from here — it is hung up and the attempt fails, to be retried within the due
      time (``IVR_AGENT_SPECIALIST_RETRY_SECONDS``), the specialist rung again;
    - ``dial``: a fresh answer of the specialist (also one seen first after a restart): dial
      the customer.
    """
    if earlier is not None and earlier.reached_at is not None:
        return "talk_on"
    if resumed and earlier is not None and earlier.answered_at is not None:
        return "start_again"
    return "dial"


class SpecialistCall(CallbackCall):
    """Runs one specialist call-back whose specialist answered (``target.channel_id``): the
    "ring them first, then the customer" call, which an operator-first return call
    (``callbacks/operator_first.py``) runs too."""

    #: The log event once the customer joined, and the attempt's detail once they talked.
    CONNECTED_EVENT = "specialist_connected"
    CONNECTED_DETAIL = "specialist and customer talked"

    #: Set by the dialer: marks a channel of ours as awaited (its StasisStart is no orphan).
    expect: Callable[[str], None] = staticmethod(lambda _channel: None)

    async def run(self) -> CallReport:
        """Dial the customer, bridge and record both, keep the recording; resumed after an
        agent restart (the specialist's channel adopted), go on from where the call was."""
        earlier = self.journal.read(self.target.attempt_id)
        entry, specialist_answered = self.answered_entry()
        customer = customer_channel_id(self.target.attempt_id)
        self.expect(customer)
        step = resume_step(earlier, resumed=self.resumed)
        if step == "talk_on" and earlier is not None and earlier.reached_at is not None:
            self.events.add(customer)
            return await self._talk_on(entry, customer, earlier.reached_at)
        if step == "start_again":
            await self._hang_up_customer(customer)
            await self._destroy_bridge()
            return await self._unreached("failed", "agent restarted before the customer joined")
        self.events.add(customer)
        reached = await self._dial_customer(customer)
        if isinstance(reached, CallReport):
            return reached
        try:
            started = await self._start_recording()
            await self.client.add_to_bridge(self.bridge_id, customer)
        except (RecordingNotStarted, ChannelGone, AriError) as exc:
            await self._hang_up_customer(customer)
            return await self._recording_failed(exc, reached)
        entry = entry.with_(
            recording_name=self.recording_name, recording_started_at=started, reached_at=reached
        )
        self.journal.write(entry)
        log.info(
            self.CONNECTED_EVENT,
            attempt_id=self.target.attempt_id,
            first_answered_at=specialist_answered,
            customer_answered_at=reached,
        )
        await self.connected()
        await self._talk()
        await self._hang_up()
        await self._hang_up_customer(customer)
        return await self.close(entry, reached, "connected", self.CONNECTED_DETAIL)

    async def connected(self) -> None:
        """The customer just joined the recorded bridge: nothing more for a specialist (an
        operator-first return call greets them here)."""

    async def _talk_on(self, entry: JournalEntry, customer: str, reached: float) -> CallReport:
        """Resumed after an agent restart while the two talked: our bridge and its recording
        are checked, the talk goes on until one hangs up, then the call ends as usual."""
        try:
            await self._ensure_customer_in_bridge()
            bridge = await self.client.bridge(self.bridge_id)
        except (RecordingLost, AriError) as exc:
            await self._hang_up_customer(customer)
            lost = exc if isinstance(exc, RecordingLost) else RecordingLost(str(exc))
            return await self._recording_failed(lost, reached)
        log.info("specialist_resumed", attempt_id=self.target.attempt_id)
        if customer in bridge.get("channels", []):
            # The restarted agent's app must hear of the customer's hang-up too.
            with contextlib.suppress(AriError):
                await self.client.subscribe(self.settings.ari_app, f"channel:{customer}")
            await self._talk()
        await self._hang_up()
        await self._hang_up_customer(customer)
        detail = f"{self.CONNECTED_DETAIL} (resumed after an agent restart)"
        return await self.close(entry, reached, "connected", detail)

    async def _dial_customer(self, customer: str) -> float | CallReport:
        """Ring the customer; their answer time, or the report of a call that ends here."""
        number = self.target.customer_number or ""
        wait = self.settings.callback_ring_seconds + RING_GRACE_SECONDS
        try:
            await self.client.originate(
                dial_string(self.settings.callback_dial, number),
                channel_id=customer,
                app=self.settings.ari_app,
                app_args=f"callback,{self.target.attempt_id}",
                timeout=self.settings.callback_ring_seconds,
            )
        except (AriError, ValueError) as exc:
            return await self._unreached("failed", f"customer originate refused: {exc}")
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = await self.events.next({"StasisStart", "ChannelDestroyed"}, left)
            except TimeoutError:
                break
            channel = (event.get("channel") or {}).get("id")
            if event["type"] == "StasisStart" and channel == customer:
                return event_time(event, self.now())
            if event["type"] == "ChannelDestroyed":
                if channel == customer:
                    outcome, why = unanswered_outcome(None, cause_of(event))
                    return await self._unreached(outcome, f"customer: {why}")
                if channel == self.target.channel_id:
                    await self._hang_up_customer(customer)
                    return await self._unreached("hung_up", "the specialist hung up first")
        await self._hang_up_customer(customer)
        return await self._unreached("no_answer", f"customer did not answer within {wait:.0f} s")

    async def _unreached(self, outcome: str, detail: str) -> CallReport:
        """The customer was not reached: the specialist is hung up; no recording was made."""
        await self._hang_up()
        now = self.now()
        log.info("specialist_customer_unreached", attempt_id=self.target.attempt_id, why=detail)
        return CallReport(
            outcome=outcome,
            reason=detail,
            scores={},
            answered_at=_utc(self.answered_at or now),
            ended_at=_utc(now),
            recording=None,
        )

    async def _talk(self) -> None:
        """Until one of the two hangs up (or the longest call allowed)."""
        deadline = time.monotonic() + self.settings.callback_max_call_seconds
        while time.monotonic() < deadline and not self.events.gone:
            with contextlib.suppress(TimeoutError):
                await self.events.next({"ChannelDestroyed", "StasisEnd"}, TALK_POLL_SECONDS)

    async def _hang_up_customer(self, customer: str) -> None:
        with contextlib.suppress(AriError):
            await self.client.hangup(customer)
