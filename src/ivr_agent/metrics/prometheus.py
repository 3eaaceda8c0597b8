"""``GET /metrics``: Prometheus text.

Each app has its own :class:`~prometheus_client.CollectorRegistry` (never the global one),
so several apps in one process (tests) do not share series. Two kinds of series:

- **Finished calls** — counters and histograms observed once per finished call where the
  call is handed to the outbox (:meth:`Metrics.observe_finished`): a few additions, no I/O.
- **Live state** — read at scrape time from the objects that own it
  (:class:`LiveCollector`): calls in progress (tracker), connection state (readiness), and
  each part's counters (outbox, AMI, ingest, tracker, Stasis router, prompt executor), which
  the composition root exports with :meth:`Metrics.export_counters`. Nothing on the event
  path updates a gauge.

``/metrics`` is open unless ``IVR_AGENT_METRICS_PUBLIC=false`` (then an ``ops`` token).
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import fields, is_dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.aiohttp import make_aiohttp_handler
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ivr_agent import __version__
from ivr_agent.core.breaches import STANDARD_BREACHES, standard_breaches
from ivr_agent.core.outcome import CallOutcome
from ivr_agent.core.tracker import CallSnapshot
from ivr_agent.platform.health import State
from ivr_agent.web.auth import open_route, requires

if TYPE_CHECKING:
    from ivr_agent.platform.health import Readiness

PREFIX = "ivr_agent"
RING_BUCKETS = (1.0, 2.5, 5.0, 7.5, 10.0, 15.0, 20.0, 25.0, 30.0, 45.0, 60.0, 120.0, 300.0)
HOLD_BUCKETS = (5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 300.0, 600.0)
TALK_BUCKETS = (15.0, 30.0, 60.0, 120.0, 180.0, 240.0, 300.0, 450.0, 600.0, 1200.0, 3600.0)


#: A part's live series, read at every scrape.
LiveSeries = Callable[[], Iterable[Metric]]


class LiveCollector(Collector):
    """Reads the agent's live objects at scrape time (what :meth:`Metrics.export_live` and
    :meth:`Metrics.export_counters` registered)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        """One scrape's worth of gauges and counters."""
        for series in list(self.metrics.live):
            yield from series()


def connection_state(readiness: Readiness) -> LiveSeries:
    """Series of the readiness components: up (0/1) and the current state of each part."""

    def series() -> Iterable[Metric]:
        return _connection_state(readiness)

    return series


def _connection_state(readiness: Readiness) -> Iterable[Metric]:
    up = GaugeMetricFamily(
        f"{PREFIX}_connection_up",
        "1 when the part (database, ami, ari) is connected; disabled parts, and those a "
        "standby leaves to the active agent, are left out.",
        labels=["component"],
    )
    state = GaugeMetricFamily(
        f"{PREFIX}_connection_state",
        "1 for the current state of each part (connecting, up, down, disabled).",
        labels=["component", "state"],
    )
    for component in list(readiness.components.values()):
        # A standby leaves ARI to the active agent: not "down" (no PBX alert for it).
        if component.state not in (State.DISABLED, State.STANDBY):
            up.add_metric([component.name], 1.0 if component.state is State.UP else 0.0)
        for option in State:
            state.add_metric(
                [component.name, option.value], 1.0 if component.state is option else 0.0
            )
    yield up
    yield state


def calls_in_progress(in_progress: Callable[[], Sequence[CallSnapshot]]) -> LiveSeries:
    """Series of the calls being tracked now (``in_progress``: the tracker's snapshot)."""

    def series() -> Iterable[Metric]:
        calls = in_progress()
        by_state: dict[str, int] = {}
        for call in calls:
            by_state[call.state] = by_state.get(call.state, 0) + 1
        total = GaugeMetricFamily(
            f"{PREFIX}_calls_in_progress", "Calls being tracked now.", value=len(calls)
        )
        states = GaugeMetricFamily(
            f"{PREFIX}_calls_in_progress_by_state",
            "Calls being tracked now, by call state.",
            labels=["state"],
        )
        for name, count in sorted(by_state.items()):
            states.add_metric([name], count)
        on_hold = GaugeMetricFamily(
            f"{PREFIX}_calls_on_hold",
            "Calls whose caller is on hold now.",
            value=sum(1 for call in calls if call.on_hold),
        )
        return (total, states, on_hold)

    return series


def leader_state(pbx_id: str, is_leader: Callable[[], bool]) -> LiveSeries:
    """``ivr_agent_leader{pbx_id}``: 1 while this agent is the active one of its PBX."""

    def series() -> Iterable[Metric]:
        gauge = GaugeMetricFamily(
            f"{PREFIX}_leader",
            "1 while this agent is the active one of its PBX (0: standby).",
            labels=["pbx_id"],
        )
        gauge.add_metric([pbx_id], 1.0 if is_leader() else 0.0)
        return (gauge,)

    return series


def _values(stats: Any) -> Iterable[tuple[str, float]]:
    if isinstance(stats, Mapping):
        return sorted(stats.items())
    assert is_dataclass(stats), f"not a dataclass or a mapping: {stats!r}"
    return [(f.name, getattr(stats, f.name)) for f in fields(stats)]


def _counters(part: str, stats: Any, what: str, gauges: frozenset[str]) -> Iterable[Metric]:
    for name, value in _values(stats):
        if name in gauges:
            yield GaugeMetricFamily(
                f"{PREFIX}_{part}_{name}", f"{what}: {name.replace('_', ' ')} now.", value=value
            )
        else:
            yield CounterMetricFamily(
                f"{PREFIX}_{part}_{name}",
                f"{what}: {name.replace('_', ' ')} since start.",
                value=value,
            )


class Metrics:
    """The app's registry, its finished-call series, and the live objects to read."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        #: The live series read at every scrape (:meth:`export_live`).
        self.live: list[LiveSeries] = []
        r = self.registry
        self.finished = Counter(
            f"{PREFIX}_calls_finished", "Finished calls handed to the outbox.", registry=r
        )
        self.answered = Counter(
            f"{PREFIX}_calls_answered",
            "Answered inbound calls, by whether the answer was within the standard (S1).",
            ["within_standard"],
            registry=r,
        )
        self.abandoned = Counter(
            f"{PREFIX}_calls_abandoned",
            "Abandoned inbound calls, by whether the abandon was short (S1).",
            ["short"],
            registry=r,
        )
        self.breaches = Counter(
            f"{PREFIX}_call_breaches",
            "Finished calls that broke a standard, by breach (late_answer, long_hold, "
            "silent_hang_up, over_max_duration, operator_hung_up_first).",
            ["breach"],
            registry=r,
        )
        for breach in STANDARD_BREACHES:
            self.breaches.labels(breach=breach)
        self.ring = Histogram(
            f"{PREFIX}_call_ring_seconds",
            "Ring time of answered calls (wait_started_at → answered_at).",
            buckets=RING_BUCKETS,
            registry=r,
        )
        self.hold = Histogram(
            f"{PREFIX}_call_hold_seconds",
            "Length of each finished hold interval.",
            buckets=HOLD_BUCKETS,
            registry=r,
        )
        self.talk = Histogram(
            f"{PREFIX}_call_talk_seconds",
            "Talk time of answered calls.",
            buckets=TALK_BUCKETS,
            registry=r,
        )
        for label in ("true", "false"):
            self.answered.labels(within_standard=label)
            self.abandoned.labels(short=label)
        Info(f"{PREFIX}_build", "The running ivr-agent.", registry=r).info(
            {"version": __version__, "python": platform.python_version()}
        )
        # process_* (CPU, memory, open files, start time) and python_info, on this registry.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        r.register(LiveCollector(self))

    def export_live(self, series: LiveSeries) -> Callable[[], None]:
        """Read ``series`` at every scrape from now on; returns what stops it (a part that
        shuts down before the app)."""
        self.live.append(series)
        return lambda: self.live.remove(series)

    def export_counters(
        self, part: str, what: str, stats: Any, *, gauges: frozenset[str] = frozenset()
    ) -> Callable[[], None]:
        """Export every field of the dataclass ``stats`` (a part's counters, updated in place
        by the part; or a mapping of name → number) as ``ivr_agent_{part}_{field}``: a
        counter, or a gauge for the fields named in ``gauges``. Returns what stops the
        export."""
        return self.export_read(part, what, lambda: stats, gauges=gauges)

    def export_read(
        self,
        part: str,
        what: str,
        read: Callable[[], Any | None],
        *,
        gauges: frozenset[str] = frozenset(),
    ) -> Callable[[], None]:
        """As :meth:`export_counters`, with the stats read at each scrape by ``read`` (for a
        part created later, or not at all: None exports nothing)."""

        def series() -> Iterable[Metric]:
            stats = read()
            return () if stats is None else _counters(part, stats, what, gauges)

        return self.export_live(series)

    def observe_finished(self, outcome: CallOutcome) -> None:
        """Count one finished call (cheap: called once per call on the ingest path)."""
        self.finished.inc()
        if outcome.direction == "inbound":
            if outcome.answered_at is not None:
                within = "true" if outcome.answered_within_standard else "false"
                self.answered.labels(within_standard=within).inc()
            elif outcome.abandoned:
                self.abandoned.labels(short="true" if outcome.short_abandon else "false").inc()
        for breach in standard_breaches(outcome):
            self.breaches.labels(breach=breach).inc()
        if outcome.ring_seconds is not None and outcome.answered_at is not None:
            self.ring.observe(outcome.ring_seconds)
        for hold in outcome.holds:
            if hold.seconds is not None:
                self.hold.observe(hold.seconds)
        if outcome.talk_seconds is not None:
            self.talk.observe(outcome.talk_seconds)

    def render(self) -> bytes:
        """The Prometheus text of every series."""
        return generate_latest(self.registry)


METRICS = web.AppKey("metrics", Metrics)


def setup_metrics(app: web.Application, *, public: bool) -> Metrics:
    """Create the app's :class:`Metrics` and register ``/metrics`` (prometheus_client's
    own aiohttp handler: content negotiation, OpenMetrics, gzip), open or ``ops`` only."""
    metrics = Metrics()
    app[METRICS] = metrics
    serve = make_aiohttp_handler(metrics.registry)

    @open_route
    async def public_metrics_handler(request: web.Request) -> web.StreamResponse:
        """Prometheus text, no token (``metrics_public``)."""
        return await serve(request)

    @requires("ops")
    async def protected_metrics_handler(request: web.Request) -> web.StreamResponse:
        """Prometheus text for an ``ops`` (or ``admin``) token."""
        return await serve(request)

    handler = public_metrics_handler if public else protected_metrics_handler
    app.router.add_get("/metrics", handler)
    return metrics
