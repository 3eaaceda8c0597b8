"""Load mode at the PBX's ceiling: calls placed at a set rate onto the sandbox's load desks.

Theory of operation: each call is one ARI ``originate`` on the phones instance toward the
PBX's direct load route (:mod:`.load_desks`), into the phones dialplan ``load-caller`` with
``LOAD_TALK`` (when the caller hangs up, counted from the desk's answer); the desk rings,
answers and talks in plain dialplan. Nothing per call goes through ARI after the originate
except a held call: its desk enters the Stasis app :data:`~.load_desks.HOLD_APP`, where this
module holds the caller, unholds them and lets the desk go on in dialplan. So the Python side
costs one HTTP request per call, and the PBX (with the agent beside it) is what saturates.

A :class:`LoadStep` is a rate held for some seconds with a mix of :class:`~.load_desks.
LoadKind`; :func:`plan_step` draws its calls (seeded), :class:`LoadGenerator` places them on
time and records, per call, when the originate was sent and whether the phones instance
accepted it (:class:`PlacedCall`). Which of them the agent stored is for the caller to check.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ivr_agent.pbx.ari import AriClient, AriError, JsonObject
from ivr_agent.pbx.ari_events import AriEvents
from ivr_agent.sim.load_desks import (
    HOLD_APP,
    LoadKind,
    caller_number,
    desk_of,
    route_number,
)

#: Phones-side dialplan context the callers run in once connected.
CALLER_CONTEXT = "load-caller"
#: The same for callers on the greeted route: hello after the greeting, audio all along.
GREETED_CALLER_CONTEXT = "load-caller-greeted"
#: The kinds a mix may name (the names ``ivr-agent simulate --mix`` uses too).
KIND_NAMES = {
    "answered": LoadKind.ANSWERED,
    "hold": LoadKind.HOLD,
    "abandoned": LoadKind.ABANDONED,
    "silent": LoadKind.SILENT,
}
#: The desk's ring before it answers (phones dialplan ``load-desk``: ``Wait(0.3)``).
DESK_RING_SECONDS = 0.3
#: Most originates waiting for the phones instance's reply at once: beyond this the
#: generator falls behind its schedule (reported as lag) rather than piling up requests.
MAX_IN_FLIGHT = 64

Progress = Callable[[str], None]


class LoadError(ValueError):
    """A load step is invalid; the message names the field."""


@dataclass(frozen=True)
class CallShape:
    """How long each kind of load call lasts (seconds)."""

    #: Answered callers hang up this long after the desk answered.
    talk: float = 2.0
    #: A held caller is held this long after the answer, for ``hold_seconds`` (over 10 s:
    #: the agent's hold reminder and apology are due).
    hold_start: float = 2.0
    hold_seconds: float = 12.0
    #: A silent caller's own timer: past the agent's two silence prompts and its hang-up.
    silent_limit: float = 45.0
    #: An abandoning caller gives up after this many seconds of ringing (whole seconds:
    #: the originate's timeout).
    abandon_after: int = 3
    #: Expected length of a silent call, ended by the agent (prompt after 5 s of silence,
    #: the last one 5 s after it, then its hang-up): only for choosing a rate.
    silent_expected: float = 22.0
    #: Callers pass the greeting hook first (400 800 6NNN). The hook answers them, so their
    #: timers run from the greeting, and an abandoning caller cannot be one (the originate's
    #: timeout ends at that answer).
    greeted: bool = False
    #: A greeted caller says hello this many whole seconds after the hook's answer: after
    #: the company greeting (about 4 s) and the desk's ring (a sound file ``silence/N``
    #: plays first, N = 1-10).
    hello_after: int = 5

    def __post_init__(self) -> None:
        for name in ("talk", "hold_start", "hold_seconds", "silent_limit", "silent_expected"):
            if not getattr(self, name) > 0:
                raise LoadError(f"{name} must be more than 0 seconds")
        if self.abandon_after < 1:
            raise LoadError("abandon_after must be at least 1 second")
        if not 1 <= self.hello_after <= 10:
            raise LoadError("hello_after must be 1-10 seconds")

    def caller_variables(self, kind: LoadKind) -> dict[str, str]:
        """The phones-side channel variables of a caller of ``kind``."""
        variables = {"LOAD_TALK": f"{self.caller_seconds(kind):g}"}
        if self.greeted:
            variables["LOAD_HELLO"] = str(self.hello_after)
        return variables

    def caller_seconds(self, kind: LoadKind) -> float:
        """``LOAD_TALK`` of a caller of ``kind``: from the answer to its own hang-up."""
        if kind is LoadKind.HOLD:
            return max(self.talk, self.hold_start + self.hold_seconds + 3.0)
        if kind is LoadKind.SILENT:
            return self.silent_limit
        return self.talk

    def expected_seconds(self, kind: LoadKind) -> float:
        """Expected seconds a call of ``kind`` is up, from the originate to its end."""
        if kind is LoadKind.ABANDONED:
            return float(self.abandon_after)
        if kind is LoadKind.SILENT:
            return DESK_RING_SECONDS + self.silent_expected
        return DESK_RING_SECONDS + self.caller_seconds(kind)


def parse_mix(text: str) -> dict[LoadKind, float]:
    """``answered=70,hold=10,silent=10,abandoned=10`` → weights by kind."""
    weights: dict[LoadKind, float] = {}
    for item in text.split(","):
        name, sep, weight = item.strip().partition("=")
        if not sep or name not in KIND_NAMES:
            raise LoadError(f"mix: {item!r}; use kind=weight with kinds {sorted(KIND_NAMES)}")
        try:
            value = float(weight)
        except ValueError:
            raise LoadError(f"mix: the weight of {name} must be a number") from None
        if value < 0:
            raise LoadError(f"mix: the weight of {name} must not be negative")
        weights[KIND_NAMES[name]] = value
    if sum(weights.values()) <= 0:
        raise LoadError("mix: the weights must add up to more than 0")
    return weights


def mean_seconds(mix: dict[LoadKind, float], shape: CallShape) -> float:
    """Expected seconds a call of ``mix`` is up: concurrency = rate × this."""
    total = sum(mix.values())
    return sum(w * shape.expected_seconds(k) for k, w in mix.items()) / total


@dataclass(frozen=True)
class LoadStep:
    """``rate`` new calls per second for ``seconds``, kinds drawn from ``mix``."""

    name: str
    rate: float
    seconds: float
    mix: dict[LoadKind, float]
    shape: CallShape = field(default_factory=CallShape)

    def __post_init__(self) -> None:
        if not 0 < self.rate <= 1000:
            raise LoadError(f"step {self.name}: rate must be 0-1000 calls/s, not {self.rate}")
        if not 0 < self.seconds <= 3600:
            raise LoadError(f"step {self.name}: seconds must be 0-3600, not {self.seconds}")
        if self.rate * self.seconds > 999_999:
            raise LoadError(f"step {self.name}: more than 999,999 calls")


@dataclass(frozen=True)
class PlannedCall:
    """One call of a step: when (seconds after the step starts), who, what, which desk."""

    at: float
    number: str
    kind: LoadKind
    desk: int


def plan_step(
    step: LoadStep, run: int, first_sequence: int, seed: int, desks: int | None = None
) -> list[PlannedCall]:
    """The calls of ``step``, evenly spaced, kinds drawn from its mix with ``seed``; caller
    numbers and desks continue from ``first_sequence`` (unique within the run); round robin
    over the first ``desks`` desks (default: all)."""
    rng = random.Random(seed)  # noqa: S311 - a load shape, not security
    kinds, weights = list(step.mix), list(step.mix.values())
    count = max(1, round(step.rate * step.seconds))
    planned = []
    for n in range(count):
        sequence = first_sequence + n
        kind = rng.choices(kinds, weights)[0]
        planned.append(
            PlannedCall(
                at=n / step.rate,
                number=caller_number(kind, run, sequence),
                kind=kind,
                desk=desk_of(sequence, desks),
            )
        )
    return planned


@dataclass
class PlacedCall:
    """What became of one planned call on the phones side."""

    number: str
    kind: LoadKind
    desk: int
    step: str
    #: When the originate was sent, and how late that was against the plan (epoch, seconds).
    sent_at: float = 0.0
    lag: float = 0.0
    #: The phones instance accepted the originate (the call went out toward the PBX).
    placed: bool = False
    error: str | None = None


class LoadGenerator:
    """Places planned calls on the phones instance and plays the held desks' holds."""

    def __init__(self, ari: AriClient, run: int, progress: Progress) -> None:
        self.ari = ari
        self.run = run
        self.progress = progress
        self.holds_done = 0
        self.hold_errors = 0
        self._events = AriEvents(ari, [HOLD_APP])
        self._pump: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._shape = CallShape()

    async def start(self) -> None:
        """Connect the held desks' Stasis app (before any call is placed)."""
        await asyncio.wait_for(self._events.start(), 10)
        self._pump = asyncio.create_task(self._on_events())

    async def close(self) -> None:
        """Stop playing holds; hang up nothing (the calls end on their own timers)."""
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._events.close()

    async def run_step(self, step: LoadStep, calls: list[PlannedCall]) -> list[PlacedCall]:
        """Place ``calls`` on their schedule; return what became of each."""
        self._shape = step.shape
        gate = asyncio.Semaphore(MAX_IN_FLIGHT)
        t0 = time.time()
        placed: list[PlacedCall] = []
        sending: list[asyncio.Task[None]] = []
        for call in calls:
            await asyncio.sleep(max(0.0, t0 + call.at - time.time()))
            record = PlacedCall(call.number, call.kind, call.desk, step.name)
            placed.append(record)
            await gate.acquire()
            record.sent_at = time.time()
            record.lag = max(0.0, record.sent_at - (t0 + call.at))
            sending.append(asyncio.create_task(self._originate(call, step.shape, record, gate)))
        await asyncio.gather(*sending)
        return placed

    async def _originate(
        self, call: PlannedCall, shape: CallShape, record: PlacedCall, gate: asyncio.Semaphore
    ) -> None:
        abandoning = call.kind is LoadKind.ABANDONED
        try:
            await self.ari.originate(
                f"PJSIP/{route_number(call.desk, greeted=shape.greeted)}@pbx",
                channel_id=f"load-{self.run:03d}-{call.number}",
                context=GREETED_CALLER_CONTEXT if shape.greeted else CALLER_CONTEXT,
                extension=call.kind.value,
                priority=1,
                caller_id=call.number,
                timeout=shape.abandon_after if abandoning else 60,
                variables=shape.caller_variables(call.kind),
            )
            record.placed = True
        except AriError as exc:
            record.error = str(exc)
        finally:
            gate.release()

    async def _on_events(self) -> None:
        async for event in self._events:
            if event.get("type") == "StasisStart" and event.get("args") == ["hold"]:
                task = asyncio.create_task(self._hold(event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _hold(self, event: JsonObject) -> None:
        """The desk holds its caller, unholds them, then talks on in dialplan."""
        desk = str((event.get("channel") or {}).get("id", ""))
        shape = self._shape
        try:
            await asyncio.sleep(shape.hold_start)
            await self.ari.hold(desk)
            await asyncio.sleep(shape.hold_seconds)
            await self.ari.unhold(desk)
            await self.ari.continue_in_dialplan(desk)
            self.holds_done += 1
        except AriError:
            self.hold_errors += 1  # the caller hung up meanwhile
