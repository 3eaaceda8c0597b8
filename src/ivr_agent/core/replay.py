"""Feed recorded AMI events (dicts, e.g. from a capture file) through a fresh tracker.

Pure: the caller reads the file; this module only turns raw field dicts into typed events,
feeds them in order and yields each finished call. Because every time comes from the
events' ``Timestamp``, replaying a capture gives the outcomes the live run produced, byte
for byte (``to_json_line()``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .config import StandardsConfig
from .events import MalformedEvent, parse_ami
from .tracker import FinishedCall, Tracker

_TICK_EVERY_US = 60 * 1_000_000


@dataclass
class ReplayStats:
    """What a replay read and set aside."""

    rows: int = 0
    consumed: int = 0
    ignored: int = 0  # events the tracker does not consume (Newexten, VarSet, responses …)
    malformed: int = 0
    #: The first few malformed rows' messages (row number: problem), for the report.
    malformed_examples: list[str] = field(default_factory=list)


class Replay:
    """One replay: ``for finished in Replay(config, pbx_id).run(rows): …``."""

    def __init__(self, config: StandardsConfig, pbx_id: str) -> None:
        self.tracker = Tracker(config, pbx_id)
        self.stats = ReplayStats()

    def run(
        self, rows: Iterable[Mapping[str, Any]], *, drain: bool = False
    ) -> Iterator[FinishedCall]:
        """Yield each call as it finishes. Rows that are not consumed events are counted and
        skipped; malformed ones too (never raised). ``drain``: at the end, also yield the
        calls still in flight, marked incomplete."""
        next_tick: int | None = None
        for number, row in enumerate(rows, start=1):
            self.stats.rows += 1
            try:
                event = parse_ami(row)
            except MalformedEvent as exc:
                self.stats.malformed += 1
                if len(self.stats.malformed_examples) < 10:
                    self.stats.malformed_examples.append(f"row {number}: {exc}")
                continue
            if event is None:
                self.stats.ignored += 1
                continue
            self.stats.consumed += 1
            # The live run ticks on its own schedule; ticks only matter for giving up
            # stale calls, which the tracker checks once a minute of event time anyway.
            if next_tick is None or event.at_us >= next_tick:
                next_tick = event.at_us + _TICK_EVERY_US
                yield from self.tracker.tick(event.at_us).finished
            yield from self.tracker.feed(event).finished
        if drain:
            yield from self.tracker.drain("the capture ended before the call did").finished


def replay(
    rows: Iterable[Mapping[str, Any]], config: StandardsConfig, pbx_id: str
) -> list[FinishedCall]:
    """All calls finished by ``rows`` (in-flight calls at the end are left out)."""
    return list(Replay(config, pbx_id).run(rows))
