"""One simulated inbound call: the caller, the operator legs offered for it, holds, hang-up.

The caller is originated on the phones instance toward the PBX (``PJSIP/{number}@pbx``) and
keeps its line carrying audio (:class:`~.line.LineAudio`). Every operator leg the PBX offers
for this call (matched by the caller's number, which the PBX passes on as caller id) is rung
at once, like a real desk phone; the chosen one is answered after the requested seconds,
then held, unheld and hung up as the scenario says. All times in the result come from
Asterisk's event timestamps, except holds (Asterisk's reply to the hold request) and what the
caller heard (:mod:`.ear`: the audio the caller's line received, on the wall clock).

S1's wait is measured from the caller's side, as the caller lives it: it starts when the
caller's phone starts hearing ringback (a queue route: the PBX answered, played its greeting,
then queued the call with ringback) or was told the far end is ringing (a ``Dial()`` route),
and ends when an operator's phone answers — however long the call sat in the queue before
any operator was offered it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

from ivr_agent.pbx.ari import AriError
from ivr_agent.sim.ear import Ear, ringback_onset
from ivr_agent.sim.legs import Leg, iso
from ivr_agent.sim.line import HEARING_SILENCE_MS, LineAudio, first_of, seconds_between, until
from ivr_agent.sim.scenario import HANDOVER_EXTENSION, InboundCall

if TYPE_CHECKING:
    from ivr_agent.sim.runner import Simulation

#: How long a caller waits for the queue to offer the call to any operator (or to start
#: waiting at all). Under load a ring-all queue offers one waiting call at a time (ringing
#: operators count as busy), so callers behind a long-ringing call wait minutes.
OFFER_WAIT_SECONDS = 600.0
#: One ring cycle of the cn cadence (1 s on, 4 s off), for the reported ring count.
RING_CYCLE_SECONDS = 5.0
#: How long the PBX may keep the caller after the scenario's end: when the operator hangs up
#: first, the caller hears the satisfaction question and may answer it.
END_WAIT_SECONDS = 40.0
#: Pause between hearing the satisfaction question end and pressing the key.
KEY_DELAY_SECONDS = 0.3
#: The operators' mute key (features.conf ``ivr-agent-mute``), each digit's tone, and how long
#: after the request its last digit reaches the PBX (tones and gaps; measured in the sandbox).
MUTE_KEY = "*6"
MUTE_DIGIT_MS = 100
MUTE_KEY_SECONDS = 0.4
#: After the invitation to leave a suggestion ends: past the recording's beep.
SUGGESTION_DELAY_SECONDS = 1.0


#: A stretch heard across the answer counts as heard after it only when it went on this long
#: after the answer (ringback simply stopping at the answer ends within tens of ms).
SPANNING_MIN_SECONDS = 0.5


class InboundRun:
    """Plays one :class:`~.scenario.InboundCall`; :meth:`run` returns its ground truth."""

    def __init__(self, sim: Simulation, call: InboundCall) -> None:
        self.sim = sim
        self.call = call
        self.offers: asyncio.Queue[tuple[Leg, str]] = asyncio.Queue()
        self.first_offer: tuple[Leg, str] | None = None
        self.offered = asyncio.Event()
        self.answered_at: float | None = None
        self.operators_offered: list[str] = []
        self.heard: list[dict[str, Any]] = []
        #: Start of audio the caller is hearing now (talk detection started, not yet finished).
        self.hearing_since: float | None = None
        self.heard_before_answer: list[dict[str, Any]] = []
        self.heard_after_operator: list[dict[str, Any]] = []
        self.operator_leg: Leg | None = None
        self.survey: dict[str, Any] | None = None
        self.holds: list[dict[str, Any]] = []
        self.caller_line: LineAudio | None = None
        self.ear: Ear | None = None
        self.operator_line: LineAudio | None = None
        self.operator_ended_at: float | None = None
        #: When the operator's phone sent the caller on to the satisfaction question.
        self.handed_over_at: float | None = None
        self._answer_speech_done = False
        self.result: dict[str, Any] = {
            "kind": "inbound",
            "scenario": sim.scenario.name,
            "id": call.id,
            "caller_number": call.caller,
            "dialed": call.dial,
            "requested": _requested(call),
            "errors": [],
        }

    def offer(self, leg: Leg, operator_id: str) -> None:
        """An operator leg for this call reached the phones: ring it, maybe answer it later."""
        self.operators_offered.append(operator_id)
        if self.first_offer is None:
            self.first_offer = (leg, operator_id)
            self.offered.set()
        self.offers.put_nowait((leg, operator_id))
        self.sim.spawn(self.sim.safe(self.sim.ari.ring(leg.id)))

    async def run(self) -> dict[str, Any]:
        """Place the call and play it out; return its ground truth."""
        sim, call = self.sim, self.call
        await asyncio.sleep(max(0.0, sim.t0 + call.start - time.time()))
        caller = sim.hub.leg(sim.channel_id(call.id))
        self.ear = Ear(sim.ari, sim.hub, sim.app, caller)
        self.result["caller_channel"] = caller.id
        self.result["originated_at"] = iso(time.time())
        sim.progress(f"{call.id}: {call.caller} dials {call.dial}")
        await sim.ari.originate(
            f"PJSIP/{call.dial}@pbx",
            channel_id=caller.id,
            app=sim.app,
            app_args="caller",
            caller_id=call.caller,
            timeout=60,
        )
        tasks = [asyncio.create_task(self._caller_audio(caller))]
        try:
            await self._play(caller)
            # Let the hang-up propagate so that every leg's end has its event time (the PBX
            # may first ask the satisfaction question).
            await until(time.time() + END_WAIT_SECONDS, caller.ended)
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if self.ear is not None:
                await self.ear.stop()
        return self._finish(caller)

    # --- the caller's side ---------------------------------------------------------------

    async def _caller_audio(self, caller: Leg) -> None:
        """From the PBX's answer: the caller's line sends speech and silence, and listens."""
        sim = self.sim
        await caller.started.wait()
        if self.ear is not None:
            await self.ear.start()
        line = self.caller_line = LineAudio(sim.ari, sim.hub, caller)
        connected = caller.started_at or time.time()
        for speech in self.call.speech:
            if speech.after_connect is not None:
                line.say_at(connected + speech.after_connect, speech.say)
        # On a direct line the PBX connects the caller only when the operator answers.
        self._schedule_answer_speech()
        # What the caller hears (greeting, prompts, music) is timed by talk detection on the
        # caller's own line: the caller reacts to prompts, and the ground truth lists them.
        with contextlib.suppress(AriError):
            await sim.ari.set_variable(caller.id, "TALK_DETECT(set)", str(HEARING_SILENCE_MS))
        listener = asyncio.create_task(self._listen(caller, line))
        try:
            await line.run()
        finally:
            listener.cancel()

    def _schedule_answer_speech(self) -> None:
        """Once both the answer time and the caller's line are known: queue its phrases."""
        if self.caller_line is None or self.answered_at is None or self._answer_speech_done:
            return
        self._answer_speech_done = True
        for speech in self.call.speech:
            if speech.after_answer is not None:
                self.caller_line.say_at(self.answered_at + speech.after_answer, speech.say)

    async def _listen(self, caller: Leg, line: LineAudio) -> None:
        """Count the stretches of audio the caller hears after the answer; react to prompts."""
        reacting = [s for s in self.call.speech if s.after_prompt is not None]
        heard_since: float | None = None
        while True:
            kind, at = await caller.talking.get()
            if kind == "ChannelTalkingStarted":
                heard_since = self.hearing_since = at
                continue
            self.hearing_since = None
            if heard_since is None:
                continue
            ended = at - HEARING_SILENCE_MS / 1000  # "finished" comes after that much quiet
            stretch = {
                "started_at": iso(heard_since),
                "ended_at": iso(ended),
                "seconds": seconds_between(ended, heard_since),
            }
            if self.answered_at is None or heard_since < self.answered_at:
                if self.answered_at is None or ended - self.answered_at < SPANNING_MIN_SECONDS:
                    # The greeting, then ringback (or music) while the call waits.
                    self.heard_before_answer.append(stretch)
                    continue
                # One unbroken stretch across the answer: ringback still sounding when the
                # operator answered and a prompt began at once (a quick answer), so talk
                # detection saw no gap. Split it at the answer: what came after was heard
                # after the answer.
                self.heard_before_answer.append(
                    {
                        "started_at": iso(heard_since),
                        "ended_at": iso(self.answered_at),
                        "seconds": seconds_between(self.answered_at, heard_since),
                    }
                )
                heard_since = self.answered_at
                stretch = {
                    "started_at": iso(heard_since),
                    "ended_at": iso(ended),
                    "seconds": seconds_between(ended, heard_since),
                }
            operator_gone = self.handed_over_at or (
                self.operator_leg.ended_at if self.operator_leg else None
            )
            if operator_gone is not None and heard_since >= operator_gone:
                # After the operator's hang-up (or hand-over): the satisfaction question.
                self.heard_after_operator.append(stretch)
                self._answer_survey(caller, line, stretch)
                continue
            self.heard.append(stretch)
            for speech in reacting:
                if speech.after_prompt == len(self.heard):
                    line.say_at(at + speech.delay, speech.say)

    def _answer_survey(self, caller: Leg, line: LineAudio, stretch: dict[str, Any]) -> None:
        """The first prompt heard after the operator's hang-up ended: press the scenario's key."""
        digit = self.call.survey_digit
        if self.survey is not None and self.call.suggestion and "suggested_at" not in self.survey:
            # The next prompt invited a suggestion (after key 2): say it.
            self.survey["suggested_at"] = iso(time.time())
            line.say_at(time.time() + SUGGESTION_DELAY_SECONDS, self.call.suggestion)
            return
        if digit is None or self.survey is not None:
            return
        survey = self.survey = {"heard": stretch, "digit": digit, "pressed_at": None}

        async def press() -> None:
            await asyncio.sleep(KEY_DELAY_SECONDS)
            # DTMF would wait behind the line's silence file: the line stops it first.
            await self.sim.safe(line.command(self.sim.ari.send_dtmf(caller.id, digit)))
            survey["pressed_at"] = iso(time.time())

        self.sim.spawn(press())

    async def _press_mute(self, leg: Leg, line: LineAudio) -> float:
        """The operator presses the mute key; when the PBX has the last digit (its tones
        take ``MUTE_KEY_SECONDS``): the moment the mute changes."""
        await line.command(self.sim.ari.send_dtmf(leg.id, MUTE_KEY, MUTE_DIGIT_MS))
        return time.time() + MUTE_KEY_SECONDS

    # --- the call's course ------------------------------------------------------------------

    async def _play(self, caller: Leg) -> None:
        sim, call = self.sim, self.call
        if call.operator is None:
            if call.queue_callback_after is not None:
                await self._ask_for_callback(caller)
            else:
                await self._give_up(caller)
            return
        # A queue call is answered by the PBX at once; a direct line only when the operator does.
        await until(time.time() + OFFER_WAIT_SECONDS, self.offered, caller.ended)
        if self.first_offer is None:
            self.result["errors"].append("no operator was ever offered the call")
            await sim.safe(sim.ari.hangup(caller.id))
            return
        leg, operator_id = await self._chosen_leg(caller)
        if leg is None:
            return
        self.operator_leg = leg
        assert call.answer_after is not None
        ring_until = (leg.started_at or time.time()) + call.answer_after
        if not await until(ring_until, caller.ended, leg.ended):
            self.result["errors"].append("the call ended before the operator answered")
            return
        await sim.ari.answer(leg.id)
        await until(time.time() + 5, leg.up)
        self.answered_at = leg.up_at or time.time()
        self._schedule_answer_speech()
        line = self.operator_line = LineAudio(sim.ari, sim.hub, leg)
        for speech in call.operator_speech:
            line.say_at(self.answered_at + (speech.after_answer or 0.0), speech.say)
        audio = asyncio.create_task(line.run())
        try:
            await self._connected(caller, leg, operator_id, line)
        finally:
            audio.cancel()
        self.operator_ended_at = leg.ended_at

    async def _ringback_heard(self, caller: Leg) -> float | None:
        """When the caller began hearing ringback (or its phone was told the far end rings);
        None, with the error noted and the caller hung up, if that never came."""
        sim, ear = self.sim, self.ear
        waiting = [caller.ringing] + ([ear.ringback] if ear is not None else [])
        if not await first_of(waiting, caller.ended, timeout=OFFER_WAIT_SECONDS):
            self.result["errors"].append("the caller never heard ringback")
            await sim.safe(sim.ari.hangup(caller.id))
            return None
        return min(t for t in (caller.ringing_at, ear.ringback_at if ear else None) if t)

    async def _give_up(self, caller: Leg) -> None:
        """Nobody is to answer: hang up ``abandon_after`` seconds into the wait, counted from
        when the caller began hearing ringback (or its phone was told the far end rings)."""
        sim, call = self.sim, self.call
        assert call.abandon_after is not None
        waiting_since = await self._ringback_heard(caller)
        if waiting_since is None:
            return
        if await until(waiting_since + call.abandon_after, caller.ended):
            sim.progress(f"{call.id}: caller gives up after {call.abandon_after:.1f} s")
            self.result["hung_up_by"] = "caller"
            await sim.safe(sim.ari.hangup(caller.id))

    async def _ask_for_callback(self, caller: Leg) -> None:
        """S8: ``queue_callback_after`` seconds into the wait (counted like an abandon's), the
        caller presses 1 at the queue's offer; the PBX confirms and hangs up on them."""
        sim, call = self.sim, self.call
        assert call.queue_callback_after is not None
        waiting_since = await self._ringback_heard(caller)
        if waiting_since is None:
            return
        self.result["wait_started_at"] = iso(waiting_since)
        if not await until(waiting_since + call.queue_callback_after, caller.ended):
            return
        sim.progress(f"{call.id}: caller presses 1 for a callback in their place")
        line = self.caller_line
        press = sim.ari.send_dtmf(caller.id, "1")
        # DTMF would wait behind the line's silence file: the line stops it first.
        await sim.safe(line.command(press) if line is not None else press)
        self.result["queue_callback_pressed_at"] = iso(time.time())
        if await until(time.time() + END_WAIT_SECONDS, caller.ended):
            self.result["errors"].append("the PBX did not end the call after the key")
            await sim.safe(sim.ari.hangup(caller.id))
            return
        self.result["hung_up_by"] = "pbx"

    async def _chosen_leg(self, caller: Leg) -> tuple[Leg | None, str]:
        """Wait for the leg of the operator who is to answer (any operator: the first)."""
        wanted = self.call.operator_extension
        while True:
            getter = asyncio.create_task(self.offers.get())
            ended = asyncio.create_task(caller.ended.wait())
            done, _ = await asyncio.wait(
                {getter, ended}, timeout=OFFER_WAIT_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            getter.cancel()
            ended.cancel()
            if getter not in done:
                reason = "the caller hung up" if caller.ended.is_set() else "it never was"
                self.result["errors"].append(
                    f"operator {self.call.operator} was not offered the call ({reason})"
                )
                return None, ""
            leg, operator_id = getter.result()
            if wanted is None or leg.exten == wanted:
                return leg, operator_id

    async def _connected(self, caller: Leg, leg: Leg, operator_id: str, line: LineAudio) -> None:
        """From the operator's answer: holds, then the requested side hangs up."""
        sim, call = self.sim, self.call
        assert call.talk is not None
        assert self.answered_at is not None
        answered_at = self.answered_at
        self.result.update(operator_id=operator_id, operator_channel=leg.id)
        self.result["ring_started_at"] = iso(leg.started_at)
        sim.progress(f"{call.id}: operator {operator_id} answers")
        for hold in call.holds:
            if not await until(answered_at + hold.start, caller.ended, leg.ended):
                break
            if hold.by == "mute":
                started = await self._press_mute(leg, line)
            else:
                await line.command(sim.ari.hold(leg.id))
                started = time.time()
            sim.progress(f"{call.id}: operator {operator_id} {hold.by}s for {hold.seconds:.1f} s")
            await until(answered_at + hold.start + hold.seconds, caller.ended, leg.ended)
            ended: float | None = None
            if not leg.ended.is_set():
                if hold.by == "mute":
                    with contextlib.suppress(AriError):  # the operator's leg is gone
                        ended = await self._press_mute(leg, line)
                else:
                    await sim.safe(line.command(sim.ari.unhold(leg.id)))
            self.holds.append(
                {
                    "started_at": started,
                    "ended_at": ended or time.time(),
                    "requested_seconds": hold.seconds,
                }
            )
        if not await until(answered_at + call.talk, caller.ended, leg.ended):
            self.result["hung_up_by"] = "pbx"
            sim.progress(f"{call.id}: the PBX ended the call")
        elif call.hangup == "handover":
            await self._hand_over(leg, operator_id, line)
        else:
            side = caller if call.hangup == "caller" else leg
            self.result["hung_up_by"] = call.hangup
            sim.progress(f"{call.id}: {call.hangup} hangs up")
            await sim.safe(sim.ari.hangup(side.id))
            await until(time.time() + 5, side.ended)

    async def _hand_over(self, leg: Leg, operator_id: str, line: LineAudio) -> None:
        """The operator's phone transfers the caller to the satisfaction question, as a
        desk phone's transfer key does: a SIP REFER to :data:`HANDOVER_EXTENSION` (ARI
        ``redirect``, answered once the PBX's NOTIFY reports the transfer's result), then
        the phone hangs up its own leg. (The PBX removes the operator's channel at the
        transfer but leaves ending the SIP dialog to the phone.) The truth's ``hung_up_by``
        stays with whoever ends the caller's line afterwards: nobody hung up on the caller."""
        sim = self.sim
        sim.progress(f"{self.call.id}: operator {operator_id} hands the caller over")
        self.handed_over_at = time.time()
        target = f"PJSIP/sip:{HANDOVER_EXTENSION}@127.0.0.1"
        try:
            await line.command(sim.ari.redirect(leg.id, target))
        except AriError as exc:
            self.result["errors"].append(f"the transfer to {HANDOVER_EXTENSION} failed: {exc}")
        self.result["handover"] = {"to": HANDOVER_EXTENSION, "at": iso(self.handed_over_at)}
        await sim.safe(sim.ari.hangup(leg.id))
        await until(time.time() + 5, leg.ended)

    def _finish(self, caller: Leg) -> dict[str, Any]:
        r = self.result
        since, ended = self.hearing_since, caller.ended_at
        answered, operator_gone = self.answered_at, self.operator_ended_at
        if (
            since is not None
            and ended is not None
            and answered is not None
            and since >= answered
            and (operator_gone is None or since < operator_gone)
        ):
            # Audio still heard when the line went down (e.g. the PBX hung up right after a
            # prompt): talk detection never said "finished", the hang-up ends it.
            self.heard.append(
                {
                    "started_at": iso(since),
                    "ended_at": iso(ended),
                    "seconds": seconds_between(ended, since),
                    "cut_by_hangup": True,
                }
            )
        offered_at = self.first_offer[0].started_at if self.first_offer else None
        answered_at = self.answered_at
        heard_from, heard = (None, None) if self.ear is None else self.ear.recording()
        ringback_at = ringback_onset(heard_from, heard, before=answered_at) if heard else None
        # The wait starts at the caller-side signal that came first (S1).
        waits = [t for t in (caller.ringing_at, ringback_at) if t is not None]
        wait_started_at = min(waits) if waits else None
        first_end = caller.ended_at
        if self.operator_ended_at is not None and (
            first_end is None or self.operator_ended_at < first_end
        ):
            first_end = self.operator_ended_at
        abandoned = answered_at is None and self.call.operator is None
        chosen = self.sim.hub.legs.get(r.get("operator_channel", ""))
        rings = None
        if answered_at is not None and wait_started_at is not None:
            rings = int((answered_at - wait_started_at) // RING_CYCLE_SECONDS) + 1
        r.update(
            connected_at=iso(caller.started_at),
            caller_ringing_at=iso(caller.ringing_at),
            ringback_heard_at=iso(ringback_at),
            wait_started_at=iso(wait_started_at),
            offered_at=iso(offered_at),
            operators_offered=sorted(set(self.operators_offered)),
            answered_at=iso(answered_at),
            ring_seconds=seconds_between(answered_at, wait_started_at),
            operator_ring_seconds=seconds_between(
                answered_at, chosen.started_at if chosen else None
            ),
            rings=rings,
            abandoned=abandoned,
            abandoned_after=(
                seconds_between(caller.ended_at, wait_started_at) if abandoned else None
            ),
            holds=[
                {
                    "started_at": iso(h["started_at"]),
                    "ended_at": iso(h["ended_at"]),
                    "seconds": seconds_between(h["ended_at"], h["started_at"]),
                    "requested_seconds": h["requested_seconds"],
                }
                for h in self.holds
            ],
            speech=self.caller_line.spoken if self.caller_line else [],
            heard_before_answer=self.heard_before_answer,
            heard_after_answer=self.heard,
            heard_after_operator=self.heard_after_operator,
            survey=self.survey,
            operator_speech=self.operator_line.spoken if self.operator_line else [],
            talk_seconds=seconds_between(first_end, answered_at),
            ended_at=iso(first_end),
            duration_seconds=seconds_between(caller.ended_at, caller.started_at),
        )
        r.setdefault("hung_up_by", "pbx" if caller.ended_at else None)
        r.setdefault("handover", None)  # hangup = "handover": where to and when
        if self.ear is not None:
            r["errors"].extend(self.ear.errors)
        if heard is not None and heard_from is not None:
            r["heard_recording"] = self.sim.keep_recording(self.call.id, heard_from, heard)
        r["completed"] = caller.ended.is_set() and not r["errors"]
        outcome = "abandoned" if abandoned else "answered" if answered_at else "not answered"
        self.sim.progress(f"{self.call.id}: done ({outcome})")
        return r


def _requested(call: InboundCall) -> dict[str, Any]:
    return {
        "operator_id": call.operator,
        "ring_seconds": call.answer_after,
        "abandon_after": call.abandon_after,
        "talk_seconds": call.talk,
        "hangup": call.hangup,
        "holds": [{"start": h.start, "seconds": h.seconds} for h in call.holds],
        "speech": [
            {
                "say": s.say,
                "after_connect": s.after_connect,
                "after_answer": s.after_answer,
                "after_prompt": s.after_prompt,
            }
            for s in call.speech
        ],
        "operator_speech": [
            {"say": s.say, "after_answer": s.after_answer} for s in call.operator_speech
        ],
        "survey_digit": call.survey_digit,
    }
