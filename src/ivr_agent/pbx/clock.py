"""The PBX's clock as seen from the agent: call facts and their timers run on it.

Every call fact comes from an AMI ``Timestamp`` (the PBX's clock), and the timers that
follow from them (a hold reminder every 20 s, a prompt due 5 s after the answer) must fall
due on that clock too — not on this host's wall clock, which may be minutes off or stepped
by NTP. :class:`PbxClock` estimates the PBX's "now" from this host's *monotonic* clock plus
an offset learnt from the events themselves:

* an event stamped ``T`` by the PBX that arrives at monotonic instant ``m`` gives
  ``T - m <= offset`` (it cannot arrive before it happened), so the tightest estimate is the
  largest such difference: network and event-loop delays only make a sample smaller;
* the estimate keeps the largest sample of the last :data:`WINDOW` events, so a PBX clock
  stepped backwards is followed within that many events, one stepped forwards at once.

Before any event the PBX is assumed to agree with this host's wall clock. The skew between
the two (``pbx_now() - time.time()``) is exported so an operator sees a bad NTP setup.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

#: Events whose largest (PBX time - monotonic arrival) gives the offset.
WINDOW = 200


@dataclass
class ClockStats:
    """Exported as metrics: events the offset was learnt from, and the skew when the last
    one arrived (PBX clock minus this host's wall clock, seconds)."""

    events_observed: int = 0
    skew_seconds: float = 0.0


class PbxClock:
    """PBX time from this host's monotonic clock and the AMI events' ``Timestamp``."""

    def __init__(
        self,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._monotonic = monotonic
        self._wall = wall
        self._samples: deque[float] = deque(maxlen=WINDOW)
        self._offset: float | None = None
        self.stats = ClockStats()

    def observe(self, pbx_time: float) -> None:
        """An event stamped ``pbx_time`` (epoch seconds, PBX clock) arrived just now."""
        sample = pbx_time - self._monotonic()
        self.stats.events_observed += 1
        evicted = self._samples[0] if len(self._samples) == self._samples.maxlen else None
        self._samples.append(sample)
        if self._offset is None or sample >= self._offset:
            self._offset = sample
        elif evicted is not None and evicted >= self._offset:
            self._offset = max(self._samples)  # the largest sample left the window
        self.stats.skew_seconds = round(self.now() - self._wall(), 3)

    def observe_ami(self, raw: Mapping[str, str], received_at: float) -> None:
        """:meth:`observe` an AMI event's ``Timestamp`` (events without one are skipped;
        ``received_at`` is the wall-clock arrival, unused: arrival is now)."""
        stamp = raw.get("Timestamp")
        if stamp is None:
            return
        try:
            value = float(stamp)
        except ValueError:
            return
        if value > 0:
            self.observe(value)

    def now(self) -> float:
        """The PBX's current time, epoch seconds (this host's wall clock before any event)."""
        if self._offset is None:
            return self._wall()
        return self._monotonic() + self._offset

    def skew(self) -> float | None:
        """PBX clock minus this host's wall clock, seconds (None before any event)."""
        if self._offset is None:
            return None
        return self.now() - self._wall()
