"""Play a scenario on the sandbox phones instance and report what really happened.

Theory of operation: one ARI events websocket (app ``ivr-sim``, the app the phones dialplan
sends every incoming leg to) feeds a :class:`~.legs.Hub`. Each inbound call
(:mod:`.inbound`) and each callback customer (:mod:`.customer`) runs as its own task; the
hub hands them the legs the PBX sends: operator legs (extension 80NN) go to the call whose
caller's number they carry, customer legs to the customer of the dialled number. Each
result is the ground truth of one call, timed from Asterisk's own event timestamps.
Only one run at a time may use the phones instance (a second websocket for the app would
take it over): a lock file beside the sandbox credentials enforces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import re
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ivr_agent.pbx.ari import AriClient, AriError, AriTarget
from ivr_agent.pbx.ari_events import AriEvents
from ivr_agent.settings import Settings
from ivr_agent.sim.audio_match import Audio
from ivr_agent.sim.capture import AmiCapture, CaptureError
from ivr_agent.sim.customer import CustomerRun
from ivr_agent.sim.ear import wav_bytes
from ivr_agent.sim.inbound import InboundRun
from ivr_agent.sim.legs import Hub, Leg, iso
from ivr_agent.sim.scenario import Scenario

APP = "ivr-sim"
Progress = Callable[[str], None]
_OPERATOR_EXTEN = re.compile(r"^80(\d\d)$")


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
        phones = AriTarget.from_url(values["IVR_AGENT_SIM_ARI_URL"])
        # Machine-wide, not per checkout: the phones instance is one per machine.
        port = phones.base_url.rsplit(":", 1)[-1]
        return cls(
            phones=phones,
            pbx=AriTarget.from_url(pbx) if pbx else None,
            ami_url=values.get("IVR_AGENT_AMI_URL"),
            lock_file=Path(tempfile.gettempdir()) / f"ivr-agent-simulate-{port}.lock",
        )

    @classmethod
    def from_sandbox(cls, settings: Settings) -> RunnerConfig:
        """The credentials of this data dir's sandbox (its lane ``sandbox_lane``)."""
        from ivr_agent.sim.sandbox import Sandbox

        return cls.from_env_file(Sandbox.from_settings(settings).credentials_file)


class Simulation:
    """One run of a scenario against the phones instance."""

    def __init__(
        self,
        ari: AriClient,
        pbx: AriClient | None,
        scenario: Scenario,
        progress: Progress,
        recordings_dir: Path | None = None,
    ) -> None:
        self.ari = ari
        self.recordings_dir = recordings_dir
        self.pbx = pbx
        self.scenario = scenario
        self.progress = progress
        self.app = APP
        self.run_id = secrets.token_hex(3)
        self.hub = Hub(self._on_incoming)
        self.t0 = 0.0
        self._inbound: dict[str, InboundRun] = {}  # caller number → its call
        self._customers: dict[str, CustomerRun] = {}  # dialled number → its customer
        self._specialists: dict[str, CustomerRun] = {}  # specialist extension → customer
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Awaitable[Any]) -> None:
        """Run ``coro`` in the background for the rest of the run."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def safe(coro: Awaitable[Any]) -> None:
        """Await an ARI call whose failure only means the channel is already gone."""
        with contextlib.suppress(AriError):
            await coro

    def channel_id(self, name: str) -> str:
        """A channel id of ours: unique per run, recognisable in the PBX's logs."""
        return f"sim-{self.run_id}-{name}"

    def keep_recording(self, call_id: str, started: float, heard: Audio) -> dict[str, Any]:
        """Where what caller ``call_id`` heard is kept: a WAV in the run's recordings
        directory (``file`` None without one), and the epoch its first sample is at."""
        path: Path | None = None
        if self.recordings_dir is not None:
            self.recordings_dir.mkdir(parents=True, exist_ok=True)
            path = self.recordings_dir / f"{call_id}.wav"
            path.write_bytes(wav_bytes(heard))
        return {
            "file": str(path) if path else None,
            "started_at": iso(started),
            "seconds": round(heard.duration, 3),
        }

    def _on_incoming(self, leg: Leg) -> None:
        operator = _OPERATOR_EXTEN.match(leg.exten)
        if operator:
            call = self._inbound.get(leg.caller_number)
            returning = self._customers.get(leg.caller_number or "")
            if returning is not None and (call is None or returning.on_the_line):
                # A return call (S8) the queue offers to an operator: it carries the number
                # of the customer called back (who may have been an abandoning caller).
                returning.offer(leg, operator.group(1).zfill(3))
            elif call is not None:
                call.offer(leg, operator.group(1).zfill(3))
            elif (specialist := self._specialists.get(leg.exten)) is not None:
                # A specialist call-back (S8): the specialist's phone rings before the
                # customer's.
                specialist.specialist_rings(leg)
            else:
                # Not ours (another caller): a desk phone rings all the same.
                self.spawn(self.safe(self.ari.ring(leg.id)))
            return
        customer = self._customers.get(leg.exten)
        if customer is not None:
            customer.ring(leg)
            return
        self.spawn(self.safe(self.ari.hangup(leg.id, "unallocated")))

    async def run(self) -> list[dict[str, Any]]:
        """Run every call and callback; return their ground truth in scenario order."""
        self.t0 = time.time() + 0.5
        calls = [InboundRun(self, call) for call in self.scenario.calls]
        self._inbound = {call.call.caller: call for call in calls}
        customers = [CustomerRun(self, cb) for cb in self.scenario.callbacks]
        self._customers = {customer.cb.number: customer for customer in customers}
        self._specialists = {
            ext: customer
            for customer in customers
            if (ext := customer.cb.specialist_extension) is not None
        }
        runs: list[InboundRun | CustomerRun] = [*calls, *customers]
        try:
            results = await asyncio.gather(*(r.run() for r in runs), return_exceptions=True)
        except asyncio.CancelledError:
            # Interrupted (Ctrl-C in `ivr-agent demo`): no caller may stay queued on the PBX,
            # where it would sit ahead of the next run's callers until the queue times out.
            await asyncio.shield(self._cleanup())
            raise
        out: list[dict[str, Any]] = []
        for item, result in zip(runs, results, strict=True):
            if isinstance(result, BaseException):
                item.result["errors"].append(f"{type(result).__name__}: {result}")
                item.result["completed"] = False
                out.append(item.result)
            else:
                out.append(result)
        await self._cleanup()
        return out

    async def _cleanup(self) -> None:
        for leg in self.hub.legs.values():
            if not leg.ended.is_set():
                await self.safe(self.ari.hangup(leg.id))
        for task in list(self._tasks):
            task.cancel()


async def run(
    scenario: Scenario,
    config: RunnerConfig,
    progress: Progress,
    *,
    capture: TextIO | None = None,
    recordings: Path | None = None,
) -> list[dict[str, Any]]:
    """Run ``scenario`` against the phones instance; return one ground-truth dict per call.

    With ``capture``, the PBX's AMI events during the run are written to it as JSON lines.
    With ``recordings``, what each inbound caller heard is written there as
    ``<call id>.wav`` (its truth's ``heard_recording`` names the file and when it starts).
    """
    with _exclusive(config.lock_file):
        return await _run_captured(scenario, config, progress, capture, recordings)


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
    scenario: Scenario,
    config: RunnerConfig,
    progress: Progress,
    capture: TextIO | None,
    recordings: Path | None,
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
        return await _run(scenario, config, progress, recordings)
    finally:
        if recorder is not None:
            # The last hang-up events follow the last channel's end by a few ms.
            await asyncio.sleep(1.0)
            await recorder.stop()


async def _run(
    scenario: Scenario, config: RunnerConfig, progress: Progress, recordings: Path | None
) -> list[dict[str, Any]]:
    async with AriClient(config.phones) as ari:
        try:
            await ari.info()
        except AriError as exc:
            raise SimulatorError(f"phones ARI not reachable ({exc}): is the sandbox up?") from None
        pbx = AriClient(config.pbx) if config.pbx is not None else None
        sim = Simulation(ari, pbx, scenario, progress, recordings)
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
