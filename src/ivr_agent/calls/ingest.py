"""The ingest path: raw AMI events → typed events → tracker → outbox (and IVR commands).

This is the edge where the pure core meets I/O. It turns each raw AMI dict into a typed
event (a malformed frame is counted and logged, never raised into the connection), feeds
the tracker, spools every finished call to the outbox, and hands commands to whoever acts
on them. The same :class:`Ingest` serves a live connection and ``ivr-agent replay``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ivr_agent.calls.inflight import InflightJournal
from ivr_agent.core.commands import Command
from ivr_agent.core.events import MalformedEvent, parse_ami
from ivr_agent.core.tracker import FeedResult, FinishedCall, Tracker
from ivr_agent.pbx.capture import CaptureWriter
from ivr_agent.platform.logging import get_logger

log = get_logger(__name__)

FinishedSink = Callable[[FinishedCall], None]
CommandSink = Callable[[Any], None]


class CommandRoutes:
    """Where the tracker's commands go: each kind of command to the part that carries it out
    (prompts to the executor, :class:`StartRecording` to the inbound recorder).

    Made before any part starts and handed to :class:`Ingest`; a part registers its kinds
    when it is running (:meth:`route`) and takes them back when it stops. A command no part
    carries out right now (measure-only: no ARI) is counted and dropped. A part that raises
    is logged; the AMI reader never sees the error.
    """

    def __init__(self) -> None:
        self._sinks: dict[type[Command], CommandSink] = {}
        self.dropped = 0

    def route(self, kinds: Iterable[type[Command]], sink: CommandSink) -> Callable[[], None]:
        """Send commands of ``kinds`` to ``sink`` from now on; returns what undoes it."""
        kinds = tuple(kinds)
        for kind in kinds:
            self._sinks[kind] = sink

        def unroute() -> None:
            for kind in kinds:
                if self._sinks.get(kind) is sink:
                    del self._sinks[kind]

        return unroute

    def __call__(self, command: Command) -> None:
        """Hand ``command`` to the part that carries out its kind."""
        sink = self._sinks.get(type(command))
        if sink is None:
            self.dropped += 1
            return
        try:
            sink(command)
        except Exception:
            log.exception("command_failed", command=type(command).__name__)


@dataclass
class IngestStats:
    """Counters of the ingest path (exported as metrics)."""

    malformed_events: int = 0
    ignored_events: int = 0
    finished_calls: int = 0
    gaps: int = 0
    #: Calls finished as incomplete by a resync because their channels were gone.
    resync_finished: int = 0
    #: Prompt or survey reports the agent and its hook did not produce (forged, or resent).
    forged_reports: int = 0
    #: Calls in flight when the previous run stopped, rebuilt from the in-flight journal.
    calls_restored: int = 0


def live_channels(channels: Iterable[Mapping[str, str]]) -> dict[str, frozenset[str]]:
    """The channels (Uniqueids) a channel listing (``Status`` events) shows alive, by call
    (Linkedid).

    A channel without a Linkedid counts under its own Uniqueid (a call's first channel's
    Uniqueid is the call's Linkedid).
    """
    live: dict[str, set[str]] = {}
    for channel in channels:
        uniqueid = channel.get("Uniqueid") or ""
        linkedid = channel.get("Linkedid") or uniqueid
        if linkedid:
            found = live.setdefault(linkedid, set())
            if uniqueid:
                found.add(uniqueid)
    return {linkedid: frozenset(ids) for linkedid, ids in live.items()}


def live_linkedids(channels: Iterable[Mapping[str, str]]) -> frozenset[str]:
    """The calls (Linkedids) that a channel listing (``Status`` events) shows alive."""
    return frozenset(live_channels(channels))


class Ingest:
    """Feeds one tracker from one PBX's AMI stream."""

    def __init__(
        self,
        tracker: Tracker,
        on_finished: FinishedSink,
        *,
        commands: Callable[[Command], None] | None = None,
        capture: CaptureWriter | None = None,
        trust: Callable[[Mapping[str, str]], bool] | None = None,
        journal: InflightJournal | None = None,
    ) -> None:
        """``trust``: False for an AMI event to drop before anything sees it (a report
        another AMI client forged, see ``pbx.session.ReportSeal.genuine``). ``journal``:
        where the events of the calls in flight are kept for a restarted agent."""
        self.tracker = tracker
        self.trust = trust
        self.on_finished = on_finished
        self.commands = commands
        self.capture = capture
        self.journal = journal
        self.stats = IngestStats()
        #: Calls rebuilt by :meth:`restore` and not yet reconciled with the PBX.
        self._restored_unchecked = False

    def on_ami_event(self, raw: dict[str, str], received_at: float) -> None:
        """Handle one raw AMI event (the AMI connection's sink)."""
        # Before the capture: a capture holds only what the tracker was given, so its replay
        # agrees with the live run.
        if self.trust is not None and not self.trust(raw):
            self.stats.forged_reports += 1
            log.warning(
                "AMI report not from the agent or its hook dropped",
                user_event=raw.get("UserEvent"),
                linkedid=raw.get("Linkedid"),
            )
            return
        if self.capture is not None:
            self.capture.write(raw, received_at)
        try:
            event = parse_ami(raw)
        except MalformedEvent as exc:
            self.stats.malformed_events += 1
            log.warning("malformed AMI event skipped", problem=str(exc))
            return
        if event is None:
            self.stats.ignored_events += 1
            return
        result = self.tracker.feed(event)
        # Kept only while its call is in flight: a late event of a finished call, or the
        # Hangup that finished it, would rebuild a phantom call after a restart.
        if self.journal is not None and event.linkedid in self.tracker:
            self.journal.record(event.linkedid, raw)
        self._deliver(result)

    def restore(self, events: Iterable[dict[str, str]]) -> int:
        """Rebuild the calls that were in flight when the previous run stopped, from the
        events its in-flight journal kept (already trusted then; not journalled again).

        Their commands are dropped (their moment has passed). The next :meth:`on_resync`
        reconciles them with the PBX as an agent restart. Returns the calls rebuilt.
        """
        for raw in events:
            try:
                event = parse_ami(raw)
            except MalformedEvent as exc:
                log.warning("journalled AMI event unreadable; skipped", problem=str(exc))
                continue
            if event is not None:
                self._deliver(self.tracker.feed(event), commands=False)
        restored = len(self.tracker)
        self.stats.calls_restored += restored
        self._restored_unchecked = restored > 0
        if restored:
            log.warning(
                "calls in flight when the agent last stopped rebuilt from its journal",
                calls=restored,
            )
        return restored

    def on_resync(self, channels: list[dict[str, str]], at: float) -> None:
        """After a reconnect (or the first connection after :meth:`restore`): resynchronise
        with the channels the PBX lists now.

        ``channels`` are the raw events of the resync listing (AMI ``Status``). Calls in
        flight whose channels are all gone (Asterisk restarted, or they hung up during the
        gap) are finished now as ``complete: false`` and go to the outbox like any other;
        calls still live are marked ``complete: false`` (events may have been missed) and
        tracked on. Nothing is guessed.
        """
        by_call = live_channels(channels)
        in_flight = len(self.tracker)
        if self._restored_unchecked:
            # The first listing after a restart: events were missed while no agent ran.
            self._restored_unchecked = False
            reason = "agent restarted; events missed while it was down"
        else:
            reason = "AMI connection lost"
        result = self.tracker.reconcile(
            by_call.keys(), datetime.fromtimestamp(at, UTC), reason, live_channels=by_call
        )
        self.stats.gaps += 1
        self.stats.resync_finished += len(result.finished)
        log.warning(
            f"{reason}; resynchronised with the PBX",
            calls_in_flight=in_flight,
            calls_finished_incomplete=len(result.finished),
            calls_marked_incomplete=in_flight - len(result.finished),
            live_channels=len(channels),
        )
        self._deliver(result)

    def tick(self, now: float) -> None:
        """Advance the tracker's timers to ``now`` (epoch seconds, from the caller's clock)."""
        self._deliver(self.tracker.tick(datetime.fromtimestamp(now, UTC)))
        if self.journal is not None:
            self.journal.maintain()

    def _deliver(self, result: FeedResult, *, commands: bool = True) -> None:
        for finished in result.finished:
            self.stats.finished_calls += 1
            if self.journal is not None:
                self.journal.forget(finished.outcome.linkedid)
            self.on_finished(finished)
        if commands and self.commands is not None:
            for command in result.commands:
                self.commands(command)
