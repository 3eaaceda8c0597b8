"""Play a scenario on the sandbox phones instance and report what really happened.

Theory of operation: one ARI events websocket (app ``ivr-sim``) feeds a :class:`~.legs.Hub`.
Each inbound call runs as its own task: it originates the caller toward the PBX
(``PJSIP/{number}@pbx``), keeps the caller's line carrying audio (speech files, then
``silence/10`` — talk detection needs frames, never a silent wait), rings every operator leg
the PBX offers for it (legs are matched to calls by the caller's number, which the PBX passes
on as caller id), answers the chosen one after the requested seconds, holds and unholds it
(a real SIP re-INVITE, ``moh_passthrough``), and hangs up the requested side. Callback
customers wait for the PBX to ring their number and answer, ignore, refuse or decline it,
pressing a key each time a prompt ends (talk detection on their own line).

Each result is the ground truth of one call, timed from Asterisk's own event timestamps
(holds: from the moment Asterisk accepted the hold request).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ivr_agent.pbx.ari import AriClient, AriError, AriEvents, AriTarget
from ivr_agent.settings import Settings
from ivr_agent.sim.capture import AmiCapture, CaptureError
from ivr_agent.sim.legs import Hub, Leg, Playback, iso
from ivr_agent.sim.scenario import HOTLINE, CallbackCustomer, InboundCall, Scenario

APP = "ivr-sim"
Progress = Callable[[str], None]
_OPERATOR_EXTEN = re.compile(r"^80(\d\d)$")
#: Silence threshold (ms) of the customer's own talk detection: a prompt counts as finished
#: after this much quiet. Well below the survey's pauses, above the gaps inside a sentence.
CUSTOMER_SILENCE_MS = 800
#: How long a caller waits for the queue to offer the call to any operator. Under load a
#: ring-all queue offers one waiting call at a time (ringing operators count as busy), so
#: callers behind a long-ringing call wait minutes.
OFFER_WAIT_SECONDS = 600.0


class SimulatorError(RuntimeError):
    """The simulator cannot run (no sandbox credentials, ARI unreachable)."""


@dataclass(frozen=True)
class RunnerConfig:
    """Where the phones (and, for sandbox-placed callbacks, the PBX) ARI live."""

    phones: AriTarget
    pbx: AriTarget | None = None
    #: The PBX's AMI (``ami://user:secret@host:port``), for ``--capture``; never logged.
    ami_url: str | None = field(default=None, repr=False)
    #: Held while a run goes on: every run uses the one Stasis app of the phones dialplan,
    #: and a second websocket for an app takes it over from the first.
    lock_file: Path | None = None

    @classmethod
    def from_env_file(cls, path: Path) -> RunnerConfig:
        """Read ``agent.env`` as written by ``ivr-agent sandbox up``."""
        try:
            lines = path.read_text().splitlines()
        except OSError:
            raise SimulatorError(
                f"no sandbox credentials at {path}: run `ivr-agent sandbox up` first"
            ) from None
        values = dict(line.split("=", 1) for line in lines if "=" in line)
        if "IVR_AGENT_SIM_ARI_URL" not in values:
            raise SimulatorError(f"{path} has no IVR_AGENT_SIM_ARI_URL")
        pbx = values.get("IVR_AGENT_ARI_URL")
        return cls(
            phones=AriTarget.from_url(values["IVR_AGENT_SIM_ARI_URL"]),
            pbx=AriTarget.from_url(pbx) if pbx else None,
            ami_url=values.get("IVR_AGENT_AMI_URL"),
            lock_file=path.parent / ".simulate.lock",
        )

    @classmethod
    def from_sandbox(cls, settings: Settings) -> RunnerConfig:
        """The credentials of this data dir's sandbox."""
        return cls.from_env_file(settings.data_dir.absolute() / "sandbox" / "agent.env")


async def _until(deadline: float, *stops: asyncio.Event) -> bool:
    """Sleep until the wall-clock ``deadline``; False if one of ``stops`` fired first."""
    if any(s.is_set() for s in stops):
        return False
    delay = deadline - time.time()
    if delay <= 0:
        return True
    waiters = [asyncio.create_task(s.wait()) for s in stops]
    try:
        done, _ = await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return not done


def _seconds(end: float | None, start: float | None) -> float | None:
    return None if end is None or start is None else round(end - start, 3)


class Simulation:
    """One run of a scenario against the phones instance."""

    def __init__(
        self, ari: AriClient, pbx: AriClient | None, scenario: Scenario, progress: Progress
    ) -> None:
        self.ari = ari
        self.pbx = pbx
        self.scenario = scenario
        self.progress = progress
        self.run_id = secrets.token_hex(3)
        self.hub = Hub(self._on_incoming)
        self.t0 = 0.0
        self._inbound: dict[str, InboundRun] = {}  # caller number → active call
        self._customers: dict[str, asyncio.Future[Leg]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_incoming(self, leg: Leg) -> None:
        operator = _OPERATOR_EXTEN.match(leg.exten)
        if operator:
            call = self._inbound.get(leg.caller_number)
            if call is not None:
                call.offer(leg, operator.group(1).zfill(3))
            else:
                self.progress(f"  operator leg {leg.exten} for unknown caller {leg.caller_number}")
                self._spawn(self._ignore(leg))
            return
        waiting = self._customers.get(leg.exten)
        if waiting is not None and not waiting.done():
            waiting.set_result(leg)
            return
        self._spawn(self._safe(self.ari.hangup(leg.id, "unallocated")))

    async def _ignore(self, leg: Leg) -> None:
        await self._safe(self.ari.ring(leg.id))

    @staticmethod
    async def _safe(coro: Any) -> None:
        with contextlib.suppress(AriError):
            await coro

    def channel_id(self, name: str) -> str:
        """A channel id of ours: unique per run, recognisable in the PBX's logs."""
        return f"sim-{self.run_id}-{name}"

    async def run(self) -> list[dict[str, Any]]:
        """Run every call and callback; return their ground truth in scenario order."""
        self.t0 = time.time() + 0.5
        calls = [InboundRun(self, call) for call in self.scenario.calls]
        for call in calls:
            self._inbound[call.call.caller] = call
        customers = [CustomerRun(self, cb) for cb in self.scenario.callbacks]
        for customer in customers:
            self._customers[customer.cb.number] = asyncio.get_running_loop().create_future()
        results = await asyncio.gather(
            *(c.run() for c in calls), *(c.run() for c in customers), return_exceptions=True
        )
        out: list[dict[str, Any]] = []
        runs: list[InboundRun | CustomerRun] = [*calls, *customers]
        for item, result in zip(runs, results, strict=True):
            if isinstance(result, BaseException):
                item.result.setdefault("errors", []).append(f"{type(result).__name__}: {result}")
                item.result["completed"] = False
                out.append(item.result)
            else:
                out.append(result)
        await self._cleanup()
        return out

    async def _cleanup(self) -> None:
        for leg in self.hub.legs.values():
            if not leg.ended.is_set():
                await self._safe(self.ari.hangup(leg.id))
        for task in list(self._tasks):
            task.cancel()


class InboundRun:
    """One inbound call: the caller, its operator offers, holds and hang-up."""

    def __init__(self, sim: Simulation, call: InboundCall) -> None:
        self.sim = sim
        self.call = call
        self.offers: asyncio.Queue[tuple[Leg, str]] = asyncio.Queue()
        self.first_offer: tuple[Leg, str] | None = None
        self.offered = asyncio.Event()
        self.answered = asyncio.Event()
        self.answered_at: float | None = None
        self.operators_offered: list[str] = []
        self.speech: list[dict[str, Any]] = []
        self.heard: list[dict[str, Any]] = []
        self.operator_speech: list[dict[str, Any]] = []
        # ARI runs a channel's commands one after another and a playback counts as one until
        # it ends: hold/unhold must stop the operator's silence playback first, under this lock.
        self.op_lock = asyncio.Lock()
        self.op_playback: Playback | None = None
        self.holds: list[dict[str, Any]] = []
        self.pending: list[tuple[float, str]] = []
        self.wake = asyncio.Event()
        self.result: dict[str, Any] = {
            "kind": "inbound",
            "scenario": sim.scenario.name,
            "id": call.id,
            "caller_number": call.caller,
            "dialed": call.dial,
            "requested": {
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
            },
            "errors": [],
        }

    def offer(self, leg: Leg, operator_id: str) -> None:
        """An operator leg for this call reached the phones: ring it, maybe answer it later."""
        self.operators_offered.append(operator_id)
        if self.first_offer is None:
            self.first_offer = (leg, operator_id)
            self.offered.set()
        self.offers.put_nowait((leg, operator_id))
        self.sim._spawn(self.sim._safe(self.sim.ari.ring(leg.id)))

    async def run(self) -> dict[str, Any]:
        """Place the call and play it out; return its ground truth."""
        sim, call = self.sim, self.call
        await asyncio.sleep(max(0.0, sim.t0 + call.start - time.time()))
        caller = sim.hub.leg(sim.channel_id(call.id))
        self.result["caller_channel"] = caller.id
        self.result["originated_at"] = iso(time.time())
        sim.progress(f"{call.id}: {call.caller} dials {call.dial}")
        await sim.ari.originate(
            f"PJSIP/{call.dial}@pbx",
            channel_id=caller.id,
            app=APP,
            app_args="caller",
            caller_id=call.caller,
            timeout=60,
        )
        media = asyncio.create_task(self._media(caller))
        try:
            await self._play(caller)
            # Let the hang-up propagate so that every leg's end has its event time.
            await _until(time.time() + 10, caller.ended)
        finally:
            media.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await media
        return self._finish(caller)

    async def _play(self, caller: Leg) -> None:
        sim, call = self.sim, self.call
        # A queue call is answered by the PBX at once; a direct line only when the operator does.
        await _until(time.time() + OFFER_WAIT_SECONDS, self.offered, caller.ended)
        if self.first_offer is None:
            self.result["errors"].append("no operator was ever offered the call")
            await sim._safe(sim.ari.hangup(caller.id))
            return
        offered_at = self.first_offer[0].started_at or time.time()
        if call.operator is None:
            assert call.abandon_after is not None
            if await _until(offered_at + call.abandon_after, caller.ended):
                sim.progress(f"{call.id}: caller gives up after {call.abandon_after:.1f} s")
                self.result["hung_up_by"] = "caller"
                await sim._safe(sim.ari.hangup(caller.id))
            return
        leg, operator_id = await self._chosen_leg(caller)
        if leg is None:
            return
        assert call.answer_after is not None
        if not await _until(
            (leg.started_at or time.time()) + call.answer_after, caller.ended, leg.ended
        ):
            self.result["errors"].append("the call ended before the operator answered")
            return
        await sim.ari.answer(leg.id)
        await _until(time.time() + 5, leg.up)
        self.answered_at = leg.up_at
        self.answered.set()
        self.wake.set()
        # A real desk phone sends RTP all the time: so does this one (silence files), which
        # keeps frames reaching the caller and the caller's talk detection working.
        operator_audio = asyncio.create_task(self._operator_audio(leg))
        try:
            await self._connected(caller, leg, operator_id)
        finally:
            operator_audio.cancel()
        self.result["operator_ended_at"] = leg.ended_at

    async def _connected(self, caller: Leg, leg: Leg, operator_id: str) -> None:
        """From the operator's answer: holds, then the requested side hangs up."""
        sim, call = self.sim, self.call
        assert call.talk is not None
        self.result.update(operator_id=operator_id, operator_channel=leg.id)
        self.result["ring_started_at"] = iso(leg.started_at)
        sim.progress(f"{call.id}: operator {operator_id} answers")
        answered_at = leg.up_at or time.time()
        for hold in call.holds:
            if not await _until(answered_at + hold.start, caller.ended, leg.ended):
                break
            await self._operator_command(leg, sim.ari.hold(leg.id))
            started = time.time()
            sim.progress(f"{call.id}: operator {operator_id} holds for {hold.seconds:.1f} s")
            await _until(answered_at + hold.start + hold.seconds, caller.ended, leg.ended)
            if not leg.ended.is_set():
                await sim._safe(self._operator_command(leg, sim.ari.unhold(leg.id)))
            self.holds.append(
                {"started_at": started, "ended_at": time.time(), "requested_seconds": hold.seconds}
            )
        if await _until(answered_at + call.talk, caller.ended, leg.ended):
            side = caller if call.hangup == "caller" else leg
            self.result["hung_up_by"] = call.hangup
            sim.progress(f"{call.id}: {call.hangup} hangs up")
            await sim._safe(sim.ari.hangup(side.id))
            await _until(time.time() + 5, side.ended)
        else:
            self.result["hung_up_by"] = "pbx"
            sim.progress(f"{call.id}: the PBX ended the call")

    async def _operator_command(self, leg: Leg, command: Awaitable[None]) -> None:
        """Run a channel command on the operator's line without waiting for its playback."""
        async with self.op_lock:
            playback = self.op_playback
            if playback is not None and not playback.finished.is_set():
                await self.sim.ari.stop_playback(playback.id)
                await _until(time.time() + 2, playback.finished, leg.ended)
            await command

    async def _operator_audio(self, leg: Leg) -> None:
        """The operator's line: scheduled phrases, silence files in between, until it ends."""
        answered_at = leg.up_at or time.time()
        phrases = sorted(
            (answered_at + (s.after_answer or 0.0), s.say) for s in self.call.operator_speech
        )
        n = 0
        while not leg.ended.is_set():
            n += 1
            if phrases and phrases[0][0] <= time.time() + 0.02:
                _, say = phrases.pop(0)
                playback = self.sim.hub.playback(f"{leg.id}-say{n}", say)
                media = f"sound:{say}"
            else:
                playback = self.sim.hub.playback(f"{leg.id}-quiet{n}", "silence/10")
                media = "sound:silence/10"
            async with self.op_lock:
                if leg.ended.is_set():
                    return
                self.op_playback = playback
                try:
                    await self.sim.ari.play(leg.id, [media], playback.id)
                except AriError:
                    return
            deadline = (
                phrases[0][0] if phrases and media.endswith("silence/10") else time.time() + 120
            )
            if await _until(deadline, playback.finished, leg.ended):
                await self.sim.ari.stop_playback(playback.id)
                await _until(time.time() + 2, playback.finished, leg.ended)
            if media != "sound:silence/10":
                self.operator_speech.append(
                    {
                        "say": playback.media,
                        "started_at": iso(playback.started_at),
                        "ended_at": iso(playback.finished_at),
                        "seconds": _seconds(playback.finished_at, playback.started_at),
                    }
                )

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
                self.result["errors"].append(f"operator {self.call.operator} was never offered")
                return None, ""
            leg, operator_id = getter.result()
            if wanted is None or leg.exten == wanted:
                return leg, operator_id

    async def _media(self, caller: Leg) -> None:
        """Keep the caller's line carrying audio: speech when scheduled, silence otherwise."""
        sim = self.sim
        await caller.started.wait()
        connected = caller.started_at or time.time()
        self.pending = sorted(
            (connected + s.after_connect, s.say)
            for s in self.call.speech
            if s.after_connect is not None
        )
        answer_relative = [s for s in self.call.speech if s.after_answer is not None]
        # What the caller hears (greeting, prompts, music) is timed by talk detection on the
        # caller's own line: the caller reacts to prompts, and the ground truth lists them.
        with contextlib.suppress(AriError):
            await sim.ari.set_variable(caller.id, "TALK_DETECT(set)", str(CUSTOMER_SILENCE_MS))
        listener = asyncio.create_task(self._listen(caller))
        n = 0
        try:
            while not caller.ended.is_set():
                self.wake.clear()
                if answer_relative and self.answered_at is not None:
                    self.pending += [
                        (self.answered_at + (s.after_answer or 0.0), s.say) for s in answer_relative
                    ]
                    self.pending.sort()
                    answer_relative = []
                n += 1
                if self.pending and self.pending[0][0] <= time.time() + 0.02:
                    _, say = self.pending.pop(0)
                    if not await self._say(caller, say, f"{caller.id}-say{n}"):
                        return
                    continue
                playback = sim.hub.playback(f"{caller.id}-quiet{n}", "silence/10")
                try:
                    await sim.ari.play(caller.id, ["sound:silence/10"], playback.id)
                except AriError:
                    return
                deadline = self.pending[0][0] if self.pending else time.time() + 3600
                if await _until(deadline, playback.finished, caller.ended, self.wake):
                    await sim.ari.stop_playback(playback.id)
                    await _until(time.time() + 2, playback.finished)
                elif not playback.finished.is_set():
                    await sim.ari.stop_playback(playback.id)
                    await _until(time.time() + 2, playback.finished, caller.ended)
        finally:
            listener.cancel()

    async def _say(self, caller: Leg, say: str, playback_id: str) -> bool:
        """Play one phrase on the caller's line and record it; False if the line is gone."""
        playback = self.sim.hub.playback(playback_id, say)
        try:
            await self.sim.ari.play(caller.id, [f"sound:{say}"], playback.id)
        except AriError:
            return False
        await _until(time.time() + 120, playback.finished, caller.ended)
        self.speech.append(
            {
                "say": say,
                "started_at": iso(playback.started_at),
                "ended_at": iso(playback.finished_at),
                "seconds": _seconds(playback.finished_at, playback.started_at),
            }
        )
        return True

    async def _listen(self, caller: Leg) -> None:
        """Count the stretches of audio the caller hears after the answer; react to prompts."""
        reacting = [s for s in self.call.speech if s.after_prompt is not None]
        heard_since: float | None = None
        while True:
            kind, at = await caller.talking.get()
            if kind == "ChannelTalkingStarted":
                heard_since = at
                continue
            if heard_since is None or self.answered_at is None or heard_since < self.answered_at:
                continue
            # "Finished" comes once the line has been quiet for CUSTOMER_SILENCE_MS.
            ended = at - CUSTOMER_SILENCE_MS / 1000
            self.heard.append(
                {
                    "started_at": iso(heard_since),
                    "ended_at": iso(ended),
                    "seconds": _seconds(ended, heard_since),
                }
            )
            for speech in reacting:
                if speech.after_prompt == len(self.heard):
                    self.pending.append((at + speech.delay, speech.say))
                    self.pending.sort()
                    self.wake.set()

    def _finish(self, caller: Leg) -> dict[str, Any]:
        r = self.result
        offered_at = self.first_offer[0].started_at if self.first_offer else None
        answered_at = self.answered_at
        first_end = caller.ended_at
        operator_ended = r.pop("operator_ended_at", None)
        if operator_ended is not None and (first_end is None or operator_ended < first_end):
            first_end = operator_ended
        abandoned = answered_at is None and self.call.operator is None
        chosen_started = None
        if answered_at is not None:
            chosen = self.sim.hub.legs.get(r.get("operator_channel", ""))
            chosen_started = chosen.started_at if chosen else None
        r.update(
            connected_at=iso(caller.started_at),
            caller_ringing_at=iso(caller.ringing_at),
            offered_at=iso(offered_at),
            operators_offered=sorted(set(self.operators_offered)),
            answered_at=iso(answered_at),
            ring_seconds=_seconds(answered_at, chosen_started),
            wait_seconds=_seconds(answered_at, offered_at),
            rings=(int((answered_at - offered_at) // 5.0) + 1)
            if answered_at is not None and offered_at is not None
            else None,
            abandoned=abandoned,
            abandoned_after=_seconds(caller.ended_at, offered_at) if abandoned else None,
            holds=[
                {
                    "started_at": iso(h["started_at"]),
                    "ended_at": iso(h["ended_at"]),
                    "seconds": _seconds(h["ended_at"], h["started_at"]),
                    "requested_seconds": h["requested_seconds"],
                }
                for h in self.holds
            ],
            speech=self.speech,
            heard_after_answer=self.heard,
            operator_speech=self.operator_speech,
            talk_seconds=_seconds(first_end, answered_at),
            ended_at=iso(first_end),
            duration_seconds=_seconds(caller.ended_at, caller.started_at),
        )
        r.setdefault("hung_up_by", "pbx" if caller.ended_at else None)
        r["completed"] = caller.ended.is_set() and not r["errors"]
        outcome = "abandoned" if abandoned else "answered" if answered_at else "not answered"
        self.sim.progress(f"{self.call.id}: done ({outcome})")
        return r


class CustomerRun:
    """One callback customer: waits for the PBX to ring their number, then reacts."""

    def __init__(self, sim: Simulation, cb: CallbackCustomer) -> None:
        self.sim = sim
        self.cb = cb
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

    async def run(self) -> dict[str, Any]:
        """Wait for the call (placing it through the sandbox PBX if asked), then react."""
        sim, cb = self.sim, self.cb
        waiting = sim._customers[cb.number]
        await asyncio.sleep(max(0.0, sim.t0 + cb.start - time.time()))
        if cb.originate:
            if sim.pbx is None:
                raise SimulatorError("originate = true needs the PBX ARI (IVR_AGENT_ARI_URL)")
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
            leg = await asyncio.wait_for(asyncio.shield(waiting), cb.wait)
        except TimeoutError:
            self.result["errors"].append(f"no call to {cb.number} within {cb.wait:.0f} s")
            self.result["completed"] = False
            return self.result
        self.result["channel"] = leg.id
        self.result["ring_started_at"] = iso(leg.started_at)
        await self._react(leg)
        await _until(time.time() + 10, leg.ended)
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
            await _until(time.time() + 600, leg.ended)
            r.update(outcome="no_answer", rang_seconds=_seconds(leg.ended_at, leg.started_at))
            return
        if not await _until((leg.started_at or time.time()) + cb.answer_after, leg.ended):
            r["outcome"] = "caller_gave_up"
            return
        await sim.ari.set_variable(leg.id, "TALK_DETECT(set)", str(CUSTOMER_SILENCE_MS))
        await sim.ari.answer(leg.id)
        await _until(time.time() + 5, leg.up)
        r.update(outcome="answered", answered_at=iso(leg.up_at))
        r["ring_seconds"] = _seconds(leg.up_at, leg.started_at)
        sim.progress(f"{cb.id}: customer answers")
        prompts: list[dict[str, Any]] = []
        pressed: list[dict[str, Any]] = []
        digits = list(cb.digits)
        hangup_at = (leg.up_at or time.time()) + cb.hangup_after if cb.hangup_after else None
        heard_from: float | None = None
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
                await sim._safe(sim.ari.hangup(leg.id))
                break
            if getter not in done:
                break
            kind, at = getter.result()
            if kind == "ChannelTalkingStarted":
                heard_from = at
                continue
            # A prompt ended (the line went quiet): the customer presses the next key.
            prompts.append({"started_at": iso(heard_from), "quiet_at": iso(at)})
            if digits:
                digit = digits.pop(0)
                await asyncio.sleep(0.3)
                await sim._safe(sim.ari.send_dtmf(leg.id, digit))
                pressed.append({"digit": digit, "at": iso(time.time())})
        r.setdefault("hung_up_by", "pbx")
        r.update(prompts_heard=prompts, digits_pressed=pressed)
        r["talk_seconds"] = _seconds(leg.ended_at, leg.up_at)


async def run(
    scenario: Scenario,
    config: RunnerConfig,
    progress: Progress,
    *,
    capture: TextIO | None = None,
) -> list[dict[str, Any]]:
    """Run ``scenario`` against the phones instance; return one ground-truth dict per call.

    With ``capture``, the PBX's AMI events during the run are written to it as JSON lines.
    """
    with _exclusive(config.lock_file):
        return await _run_captured(scenario, config, progress, capture)


@contextlib.contextmanager
def _exclusive(path: Path | None) -> Iterator[None]:
    if path is None:
        yield
        return
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SimulatorError(
                "another simulator run is using the phones instance; wait for it to finish"
            ) from None
        yield


async def _run_captured(
    scenario: Scenario, config: RunnerConfig, progress: Progress, capture: TextIO | None
) -> list[dict[str, Any]]:
    recorder: AmiCapture | None = None
    if capture is not None:
        if config.ami_url is None:
            raise SimulatorError("--capture needs the PBX AMI URL (IVR_AGENT_AMI_URL)")
        recorder = AmiCapture(config.ami_url, out=capture)
        try:
            await recorder.start()
        except CaptureError as exc:
            raise SimulatorError(str(exc)) from None
    try:
        return await _run(scenario, config, progress)
    finally:
        if recorder is not None:
            # The last hang-up events follow the last channel's end by a few ms.
            await asyncio.sleep(1.0)
            await recorder.stop()


async def _run(
    scenario: Scenario, config: RunnerConfig, progress: Progress
) -> list[dict[str, Any]]:
    async with AriClient(config.phones) as ari:
        try:
            await ari.info()
        except AriError as exc:
            raise SimulatorError(f"phones ARI not reachable ({exc}): is the sandbox up?") from None
        pbx = AriClient(config.pbx) if config.pbx is not None else None
        sim = Simulation(ari, pbx, scenario, progress)
        events = AriEvents(ari, [APP])
        pump: asyncio.Task[None] | None = None

        async def feed() -> None:
            async for event in events:
                sim.hub.dispatch(event)

        try:
            await asyncio.wait_for(events.start(), 10)
            pump = asyncio.create_task(feed())
            progress(
                f"scenario {scenario.name}: {len(scenario.calls)} call(s), "
                f"{len(scenario.callbacks)} callback(s), run {sim.run_id}"
            )
            return await sim.run()
        finally:
            await events.close()
            if pump is not None:
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pump
            if pbx is not None:
                await pbx.close()
