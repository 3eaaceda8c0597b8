"""One simulated callback customer: waits for the PBX to ring their number, then reacts.

The customer answers after the requested seconds, ignores the call, is busy, or rejects it.
Once answered the line sends audio (:class:`~.line.LineAudio`) and listens with talk
detection on its own channel: each time what it hears goes quiet (a prompt ended), the
customer presses the next key of the scenario; a customer with no keys left stays on the
line (a return call, S8: the greeting, then the queue, until an operator answers — the
operator leg carrying their number is answered after ``operator_answer_after``). With
``originate = true`` the sandbox PBX
places the call itself, into its demo survey (``callback-survey-demo``), so a callback runs
end to end without the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

from ivr_agent.sim.legs import Leg, iso
from ivr_agent.sim.line import HEARING_SILENCE_MS, LineAudio, seconds_between, until
from ivr_agent.sim.scenario import HOTLINE, CallbackCustomer

if TYPE_CHECKING:
    from ivr_agent.sim.runner import Simulation

#: Pause between hearing a prompt end and pressing the key, like a person would.
KEY_DELAY_SECONDS = 0.3


class CustomerRun:
    """Plays one :class:`~.scenario.CallbackCustomer`; :meth:`run` returns its ground truth."""

    def __init__(self, sim: Simulation, cb: CallbackCustomer) -> None:
        self.sim = sim
        self.cb = cb
        self.arrived: asyncio.Future[Leg] = asyncio.get_running_loop().create_future()
        #: The customer's leg once they answered.
        self.answered_leg: Leg | None = None
        self.result: dict[str, Any] = {
            "kind": "callback",
            "scenario": sim.scenario.name,
            "id": cb.id,
            "customer_number": cb.number,
            "requested": {
                "behaviour": cb.behaviour,
                "answer_after": cb.answer_after,
                "digits": list(cb.digits),
                "hangup_after": cb.hangup_after,
            },
            "errors": [],
        }

    @property
    def on_the_line(self) -> bool:
        """The customer answered the call back and has not hung up yet."""
        leg = self.answered_leg
        return leg is not None and not leg.ended.is_set()

    def offer(self, leg: Leg, operator_id: str) -> None:
        """The queue rings an operator for this customer's return call (S8): ring the desk
        phone, and answer it after ``operator_answer_after`` (if set) unless it stops."""
        self.sim.spawn(self.sim.safe(self._operator_takes(leg, operator_id)))

    async def _operator_takes(self, leg: Leg, operator_id: str) -> None:
        sim, r = self.sim, self.result
        r.setdefault("operators_offered", []).append(operator_id)
        await sim.ari.ring(leg.id)
        after = self.cb.operator_answer_after
        if after is None:
            return
        if not await until((leg.started_at or time.time()) + after, leg.ended):
            return  # the queue stopped ringing this phone (another answered, or the end)
        if "operator_id" in r:
            return  # a ring-all queue rang several phones: one operator takes the call
        r["operator_id"] = operator_id
        await sim.ari.answer(leg.id)
        await until(time.time() + 5, leg.up)
        r["operator_answered_at"] = iso(leg.up_at)
        sim.progress(f"{self.cb.id}: operator {operator_id} answers the return call")

    def specialist_rings(self, leg: Leg) -> None:
        """S8: the PBX rings this customer's specialist first: ring, answer after
        ``specialist_answer_after`` (once), and note when, on Asterisk's clock."""
        self.sim.spawn(self.sim.safe(self._specialist_takes(leg)))

    async def _specialist_takes(self, leg: Leg) -> None:
        sim, r = self.sim, self.result
        if "specialist_ring_started_at" in r:
            return
        r["specialist_ring_started_at"] = iso(leg.started_at)
        await sim.ari.ring(leg.id)
        if not await until(
            (leg.started_at or time.time()) + self.cb.specialist_answer_after, leg.ended
        ):
            return
        await sim.ari.answer(leg.id)
        await until(time.time() + 5, leg.up)
        r["specialist_answered_at"] = iso(leg.up_at)
        sim.progress(f"{self.cb.id}: specialist {self.cb.specialist} answers")
        await until(time.time() + 600, leg.ended)
        r["specialist_ended_at"] = iso(leg.ended_at)

    def ring(self, leg: Leg) -> None:
        """The PBX's call to this customer's number reached the phones."""
        if not self.arrived.done():
            self.arrived.set_result(leg)

    async def run(self) -> dict[str, Any]:
        """Wait for the call (placing it through the sandbox PBX if asked), then react."""
        sim, cb = self.sim, self.cb
        await asyncio.sleep(max(0.0, sim.t0 + cb.start - time.time()))
        if cb.originate:
            if sim.pbx is None:
                self.result["errors"].append("originate = true needs the PBX ARI URL")
                self.result["completed"] = False
                return self.result
            sim.progress(f"{cb.id}: the sandbox PBX calls {cb.number} (demo survey)")
            await sim.pbx.originate(
                f"PJSIP/{cb.number}@trunk",
                channel_id=sim.channel_id(f"{cb.id}-pbx"),
                context="callback-survey-demo",
                extension="s",
                priority=1,
                caller_id=HOTLINE,
                timeout=30,
            )
        else:
            sim.progress(f"{cb.id}: waiting up to {cb.wait:.0f} s for a call to {cb.number}")
        try:
            leg = await asyncio.wait_for(asyncio.shield(self.arrived), cb.wait)
        except TimeoutError:
            self.result["errors"].append(f"no call to {cb.number} within {cb.wait:.0f} s")
            self.result["completed"] = False
            return self.result
        self.result["channel"] = leg.id
        self.result["ring_started_at"] = iso(leg.started_at)
        await self._react(leg)
        await until(time.time() + 10, leg.ended)
        self.result["ended_at"] = iso(leg.ended_at)
        self.result["completed"] = leg.ended.is_set() and not self.result["errors"]
        sim.progress(f"{cb.id}: done ({self.result.get('outcome')})")
        return self.result

    async def _react(self, leg: Leg) -> None:
        sim, cb, r = self.sim, self.cb, self.result
        if cb.behaviour in ("busy", "reject"):
            await sim.ari.hangup(leg.id, "busy" if cb.behaviour == "busy" else "rejected")
            r["outcome"] = cb.behaviour
            return
        await sim.ari.ring(leg.id)
        if cb.behaviour == "no_answer":
            await until(time.time() + 600, leg.ended)
            r.update(
                outcome="no_answer", rang_seconds=seconds_between(leg.ended_at, leg.started_at)
            )
            return
        if not await until((leg.started_at or time.time()) + cb.answer_after, leg.ended):
            r["outcome"] = "caller_gave_up"
            return
        await sim.ari.set_variable(leg.id, "TALK_DETECT(set)", str(HEARING_SILENCE_MS))
        await sim.ari.answer(leg.id)
        await until(time.time() + 5, leg.up)
        r.update(outcome="answered", answered_at=iso(leg.up_at))
        self.answered_leg = leg
        r["ring_seconds"] = seconds_between(leg.up_at, leg.started_at)
        sim.progress(f"{cb.id}: customer answers")
        line = LineAudio(sim.ari, sim.hub, leg)
        audio = asyncio.create_task(line.run())
        try:
            await self._converse(leg, line)
        finally:
            audio.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await audio
        r.setdefault("hung_up_by", "pbx")
        r["talk_seconds"] = seconds_between(leg.ended_at, leg.up_at)

    async def _converse(self, leg: Leg, line: LineAudio) -> None:
        """Press the next key each time a prompt ends; hang up at ``hangup_after`` if set."""
        sim, cb, r = self.sim, self.cb, self.result
        prompts: list[dict[str, Any]] = []
        pressed: list[dict[str, Any]] = []
        r.update(prompts_heard=prompts, digits_pressed=pressed)
        digits = list(cb.digits)
        hangup_at = (leg.up_at or time.time()) + cb.hangup_after if cb.hangup_after else None
        heard_since: float | None = None
        while not leg.ended.is_set():
            getter = asyncio.create_task(leg.talking.get())
            ended = asyncio.create_task(leg.ended.wait())
            timeout = max(0.0, hangup_at - time.time()) if hangup_at else None
            done, _ = await asyncio.wait(
                {getter, ended}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            getter.cancel()
            ended.cancel()
            if not done:
                sim.progress(f"{cb.id}: customer hangs up")
                r["hung_up_by"] = "customer"
                await sim.safe(sim.ari.hangup(leg.id))
                return
            if getter not in done:
                return
            kind, at = getter.result()
            if kind == "ChannelTalkingStarted":
                heard_since = at
                continue
            ended_at = at - HEARING_SILENCE_MS / 1000  # "finished" comes after that much quiet
            prompts.append({"started_at": iso(heard_since), "ended_at": iso(ended_at)})
            if digits:
                digit = digits.pop(0)
                await asyncio.sleep(KEY_DELAY_SECONDS)
                # DTMF would wait behind the line's silence file: the line stops it first.
                await sim.safe(line.command(sim.ari.send_dtmf(leg.id, digit)))
                pressed.append({"digit": digit, "at": iso(time.time())})
