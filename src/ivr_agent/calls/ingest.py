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

from ivr_agent.core.commands import Command
from ivr_agent.core.events import MalformedEvent, PbxEvent, parse_ami
from ivr_agent.core.tracker import FeedResult, FinishedCall, Tracker
from ivr_agent.pbx.capture import CaptureWriter
from ivr_agent.platform.logging import get_logger

log = get_logger(__name__)

FinishedSink = Callable[[FinishedCall], None]
CommandSink = Callable[[Command], None]


@dataclass
class IngestStats:
    """Counters of the ingest path (exported as metrics)."""

    malformed_events: int = 0
    ignored_events: int = 0
    finished_calls: int = 0
    gaps: int = 0
    #: Calls finished as incomplete by a resync because their channels were gone.
    resync_finished: int = 0


def live_linkedids(channels: Iterable[Mapping[str, str]]) -> frozenset[str]:
    """The calls (Linkedids) that a channel listing (``Status`` events) shows alive.

    A channel without a Linkedid counts under its own Uniqueid (a call's first channel's
    Uniqueid is the call's Linkedid).
    """
    live: set[str] = set()
    for channel in channels:
        linkedid = channel.get("Linkedid") or channel.get("Uniqueid")
        if linkedid:
            live.add(linkedid)
    return frozenset(live)


class Ingest:
    """Feeds one tracker from one PBX's AMI stream."""

    def __init__(
        self,
        tracker: Tracker,
        on_finished: FinishedSink,
        *,
        on_command: CommandSink | None = None,
        capture: CaptureWriter | None = None,
    ) -> None:
        self.tracker = tracker
        self.on_finished = on_finished
        self.on_command = on_command
        self.capture = capture
        self.stats = IngestStats()
        #: Called with every typed event after the tracker has it (e.g. the inbound
        #: recorder); an observer that raises is logged, never lets the error through.
        self.observers: list[Callable[[PbxEvent], None]] = []

    def on_ami_event(self, raw: dict[str, str], received_at: float) -> None:
        """Handle one raw AMI event (the AMI connection's sink)."""
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
        self._deliver(self.tracker.feed(event))
        for observer in self.observers:
            try:
                observer(event)
            except Exception:
                log.exception("ingest observer failed", ami_event=event.kind)

    def on_resync(self, channels: list[dict[str, str]], at: float) -> None:
        """After a reconnect: resynchronise with the channels the PBX lists now.

        ``channels`` are the raw events of the resync listing (AMI ``Status``). Calls in
        flight whose channels are all gone (Asterisk restarted, or they hung up during the
        gap) are finished now as ``complete: false`` and go to the outbox like any other;
        calls still live are marked ``complete: false`` (events may have been missed) and
        tracked on. Nothing is guessed.
        """
        live = live_linkedids(channels)
        in_flight = len(self.tracker)
        result = self.tracker.reconcile(live, datetime.fromtimestamp(at, UTC))
        self.stats.gaps += 1
        self.stats.resync_finished += len(result.finished)
        log.warning(
            "AMI stream had a gap; resynchronised with the PBX",
            calls_in_flight=in_flight,
            calls_finished_incomplete=len(result.finished),
            calls_marked_incomplete=in_flight - len(result.finished),
            live_channels=len(channels),
        )
        self._deliver(result)

    def tick(self, now: float) -> None:
        """Advance the tracker's timers to ``now`` (epoch seconds, from the caller's clock)."""
        self._deliver(self.tracker.tick(datetime.fromtimestamp(now, UTC)))

    def _deliver(self, result: FeedResult) -> None:
        for finished in result.finished:
            self.stats.finished_calls += 1
            self.on_finished(finished)
        if self.on_command is not None:
            for command in result.commands:
                self.on_command(command)
