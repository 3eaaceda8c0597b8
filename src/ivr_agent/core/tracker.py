"""Group PBX events into calls and hand back outcomes and IVR commands.

Theory of operation
-------------------
The tracker is a pure function of the events it is fed (like cacofonisk's handler and
h11's connection object, it owns no socket, task or clock). Live AMI, a capture file and a
unit test feed it the same way::

    result = tracker.feed(event)          # FeedResult(finished, commands)

* Calls are keyed by ``Linkedid``: every channel of a call (the caller's, ringing and
  answering operator legs, Local halves, consult legs) carries the caller's Uniqueid there.
* Each call is a :class:`~ivr_agent.core.call.Call` state machine. Unexpected or
  out-of-order events become anomalies on that call's timeline; nothing raises out of
  :meth:`Tracker.feed` for a well-typed event.
* A call is finished when every channel seen in it has hung up. Its outcome
  (:func:`~ivr_agent.core.standards.judge`) and timeline are returned once, and the call is
  dropped: memory is bounded by the calls in flight. The last ``finished_memory`` linkedids
  are remembered so a late or duplicated event cannot open a phantom second call.
* Duplicates (the same event received twice, e.g. around a reconnect or a capture fed
  twice) are recognised by :meth:`PbxEvent.dedupe_key` and ignored.
* Time comes only from the events. :meth:`tick` takes ``now`` from the caller and only
  produces *commands* (hold reminder repeats) and gives up calls that have been silent for
  ``stale_call_seconds``; the measured facts depend on events alone, so replaying a capture
  gives byte-identical outcomes whatever the tick schedule of the live run was.
* When the event stream had a gap (AMI reconnect), :meth:`mark_gap` marks every call in
  flight ``complete: false`` with the reason, instead of guessing what was missed.
  :meth:`reconcile` does the same with the channels the PBX still has (AMI ``Status``
  after the reconnect): a call none of whose channels is live any more ended during the gap
  (e.g. Asterisk restarted) and no Hangup will ever come for it, so it is finished at once
  as ``complete: false``; the calls still alive are marked and tracked on.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from .call import Call
from .commands import Command, StartRecording
from .config import StandardsConfig
from .event_types import Hangup, Newchannel, PbxEvent, to_datetime, to_us
from .facts import Anomaly
from .outcome import CallOutcome, call_id_for
from .standards import judge, timeline_of
from .timeline import TimelineEvent
from .transitions import State

_US = 1_000_000
_SWEEP_EVERY_US = 60 * _US


@dataclass(frozen=True)
class FinishedCall:
    """A finished call's outcome and its timeline, as the store saves them together."""

    outcome: CallOutcome
    events: tuple[PbxEvent, ...] = field(default=(), repr=False)
    anomalies: tuple[Anomaly, ...] = field(default=(), repr=False)
    #: The recording the call asked for, if any (the recorder looks for one it never kept).
    recording: StartRecording | None = None

    @cached_property
    def timeline(self) -> tuple[TimelineEvent, ...]:
        """The call's events and anomalies in time order (built on first use: the measuring
        path does not pay for it; the store, which needs it, does)."""
        return timeline_of(self.events, self.anomalies)


@dataclass(frozen=True, slots=True)
class FeedResult:
    """What one fed event (or tick) produced: finished calls and commands for the IVR."""

    finished: tuple[FinishedCall, ...] = ()
    commands: tuple[Command, ...] = ()

    @property
    def outcomes(self) -> tuple[CallOutcome, ...]:
        """The outcomes of :attr:`finished`, in order."""
        return tuple(f.outcome for f in self.finished)

    def __bool__(self) -> bool:
        return bool(self.finished or self.commands)


EMPTY = FeedResult()


@dataclass(frozen=True, slots=True)
class CallSnapshot:
    """A call in flight, for gauges and the live dashboard."""

    call_id: str
    linkedid: str
    state: str
    caller_number: str | None
    operator_id: str | None
    offered_at: datetime | None
    wait_started_at: datetime | None
    answered_at: datetime | None
    on_hold: bool
    complete: bool


@dataclass
class TrackerStats:
    """Counters for /metrics: what the tracker saw and set aside."""

    events: int = 0
    duplicates: int = 0
    late: int = 0
    calls_finished: int = 0
    calls_stale: int = 0
    #: New calls that came with the Linkedid of a call already finished.
    linkedids_reused: int = 0
    #: Calls whose channels were gone when the PBX was listed after an AMI gap.
    calls_vanished: int = 0
    anomalies: int = 0


class Tracker:
    """Linkedid → :class:`Call`; ``feed(event)`` → :class:`FeedResult`. Pure, not thread-safe."""

    def __init__(self, config: StandardsConfig, pbx_id: str) -> None:
        self.config = config
        self.pbx_id = pbx_id
        self.stats = TrackerStats()
        self._calls: dict[str, Call] = {}
        #: Finished linkedid → when that call ended (µs): later events of it are dropped.
        self._finished: OrderedDict[str, int] = OrderedDict()
        self._held: set[str] = set()  # linkedids with a hold in progress (tick's work list)
        self._next_sweep_us: int | None = None

    # ------------------------------------------------------------------ feeding --

    def feed(self, event: PbxEvent) -> FeedResult:
        """Apply one event; return the calls it finished and the commands it caused."""
        self.stats.events += 1
        linkedid = event.linkedid
        call = self._calls.get(linkedid)
        if call is None:
            call_key = linkedid
            ended_us = self._finished.get(linkedid)
            if ended_us is not None:
                if not _starts_a_call(event, ended_us):
                    self.stats.late += 1
                    return EMPTY
                # The PBX reused a finished call's Linkedid (its Uniqueid counter restarts
                # with the process): a new call, with an id of its own.
                del self._finished[linkedid]
                self.stats.linkedids_reused += 1
                call_key = f"{linkedid}@{event.at_us}"
            call = Call(linkedid, call_id_for(self.pbx_id, call_key), self.config)
            self._calls[linkedid] = call
        key = event.dedupe_key()
        seen = call.seen_keys
        if key in seen:
            self.stats.duplicates += 1
            return EMPTY
        seen.add(key)
        before = call.state
        call.feed(event)
        if call.state is not before:
            if call.state is State.ON_HOLD:
                self._held.add(linkedid)
            elif before is State.ON_HOLD:
                self._held.discard(linkedid)
        if type(event) is Hangup and call.finished:
            commands = call.take_commands()
            return FeedResult((self._finish(call, event.at_us),), tuple(commands))
        if not call.commands:
            return EMPTY
        return FeedResult((), tuple(call.take_commands()))

    def feed_all(self, events: Iterable[PbxEvent]) -> FeedResult:
        """Feed several events; their results concatenated in order."""
        finished: list[FinishedCall] = []
        commands: list[Command] = []
        for event in events:
            result = self.feed(event)
            finished.extend(result.finished)
            commands.extend(result.commands)
        return FeedResult(tuple(finished), tuple(commands))

    # ------------------------------------------------------------------- timers --

    def tick(self, now: datetime | int) -> FeedResult:
        """Advance timers to ``now`` (an aware datetime, or epoch microseconds) in PBX time.

        Returns follow-up commands (the next hold reminder once the pending one fell due)
        and, at most once a minute of event time, gives up calls with no event for
        ``stale_call_seconds`` (outcome ``complete: false``). Never reads a clock.
        """
        now_us = now if isinstance(now, int) else to_us(now)
        commands: list[Command] = []
        for linkedid in sorted(self._held):
            call = self._calls.get(linkedid)
            if call is not None:
                call.tick(now_us)
                commands.extend(call.take_commands())
        finished: list[FinishedCall] = []
        if self._next_sweep_us is None or now_us >= self._next_sweep_us:
            self._next_sweep_us = now_us + _SWEEP_EVERY_US
            stale_us = round(self.config.stale_call_seconds * _US)
            for call in [c for c in self._calls.values() if now_us - c.last_us > stale_us]:
                call.mark_incomplete(
                    f"no event for over {self.config.stale_call_seconds:g} s: given up"
                )
                self.stats.calls_stale += 1
                finished.append(self._finish(call, call.last_us))
        if not commands and not finished:
            return EMPTY
        return FeedResult(tuple(finished), tuple(commands))

    # ------------------------------------------------------------- completeness --

    def mark_gap(self, at: datetime, reason: str = "AMI connection lost") -> int:
        """Events may have been missed at ``at``: every call in flight becomes
        ``complete: false`` with ``reason``. Returns how many calls were marked."""
        text = f"{reason} at {to_datetime(to_us(at)).isoformat(timespec='seconds')}"
        for call in self._calls.values():
            call.mark_incomplete(text)
        return len(self._calls)

    def reconcile(
        self,
        live_linkedids: Collection[str],
        at: datetime,
        reason: str = "AMI connection lost",
        live_channels: Mapping[str, Collection[str]] | None = None,
    ) -> FeedResult:
        """Resynchronise with the PBX after a gap in the event stream at ``at``.

        ``live_linkedids``: the Linkedids of the channels the PBX lists now. A call in flight
        with none of them ended while the events were missed: it is finished now, ``complete:
        false``, at its last seen event (its real end is unknown, and not guessed). A call
        still live is marked ``complete: false`` like :meth:`mark_gap` and tracked on; with
        ``live_channels`` (Linkedid → the Uniqueids listed), its channels that hung up in the
        gap count as down (:meth:`Call.resync_channels`), so it finishes at the Hangup of its
        last live channel instead of waiting for ones that will never come.
        Returns the finished calls, oldest first.
        """
        when = to_datetime(to_us(at)).isoformat(timespec="seconds")
        live = (
            live_linkedids if isinstance(live_linkedids, (set, frozenset)) else set(live_linkedids)
        )
        finished: list[FinishedCall] = []
        calls = sorted(self._calls.values(), key=lambda c: (c.first_us, c.linkedid))
        for call in calls:
            if call.linkedid in live:
                call.mark_incomplete(f"{reason} at {when}")
                if live_channels is not None:
                    call.resync_channels(live_channels.get(call.linkedid, ()))
                continue
            call.mark_incomplete(
                f"{reason} at {when}: its channels were gone when the PBX was listed again"
            )
            self.stats.calls_vanished += 1
            finished.append(self._finish(call, call.last_us))
        return FeedResult(tuple(finished), ()) if finished else EMPTY

    def drain(self, reason: str = "tracking stopped before the call ended") -> FeedResult:
        """Give up every call in flight now (shutdown, end of a capture) as incomplete."""
        finished = []
        for call in list(self._calls.values()):
            call.mark_incomplete(reason)
            finished.append(self._finish(call, call.last_us))
        return FeedResult(tuple(finished), ())

    # ----------------------------------------------------------------- reading --

    def queue_joined_at(self, linkedid: str) -> datetime | None:
        """When the call ``linkedid`` (in flight) joined its queue, by event time; None if
        unknown (another call, or its join was not seen)."""
        call = self._calls.get(linkedid)
        if call is None or call.queue_join_us is None:
            return None
        return to_datetime(call.queue_join_us)

    def recordings_due(self) -> tuple[StartRecording, ...]:
        """The recordings the calls in flight asked for, oldest call first: what an agent
        taking the calls over (a restart, a standby) checks it has running."""
        calls = sorted(self._calls.values(), key=lambda c: (c.first_us, c.linkedid))
        return tuple(c.recording for c in calls if c.recording is not None)

    def in_progress(self) -> tuple[CallSnapshot, ...]:
        """Snapshot of the calls in flight, oldest first."""
        return tuple(
            CallSnapshot(
                call_id=c.call_id,
                linkedid=c.linkedid,
                state=c.state.value,
                caller_number=c.caller_number,
                operator_id=c.operator_id,
                offered_at=to_datetime(c.offered_us) if c.offered_us is not None else None,
                wait_started_at=(
                    to_datetime(c.wait_started_us) if c.wait_started_us is not None else None
                ),
                answered_at=to_datetime(c.answered_us) if c.answered_us is not None else None,
                on_hold=c.open_hold() is not None,
                complete=not c.incomplete_reasons,
            )
            for c in sorted(self._calls.values(), key=lambda c: (c.first_us, c.linkedid))
        )

    def __len__(self) -> int:
        return len(self._calls)

    def __contains__(self, linkedid: object) -> bool:
        """Whether the call ``linkedid`` is in flight (being tracked)."""
        return linkedid in self._calls

    # ----------------------------------------------------------------- internal --

    def _finish(self, call: Call, ended_us: int) -> FinishedCall:
        call.ended_us = max(ended_us, call.last_us)
        call.advance(call.ended_us)
        outcome = judge(call, self.pbx_id)
        finished = FinishedCall(
            outcome, tuple(call.events), tuple(call.anomalies), recording=call.recording
        )
        del self._calls[call.linkedid]
        self._held.discard(call.linkedid)
        self._finished[call.linkedid] = call.ended_us
        while len(self._finished) > self.config.finished_memory:
            self._finished.popitem(last=False)
        self.stats.calls_finished += 1
        self.stats.anomalies += len(call.anomalies)
        return finished


def _starts_a_call(event: PbxEvent, finished_at_us: int) -> bool:
    """``event`` opens a new call under the Linkedid of one that finished at
    ``finished_at_us``: the creation of the call's first channel, after that end."""
    return (
        type(event) is Newchannel
        and event.uniqueid == event.linkedid
        and event.at_us > finished_at_us
    )
