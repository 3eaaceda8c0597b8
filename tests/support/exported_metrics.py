"""The metric names ``/metrics`` exports with every live part present, built the way app.py
builds them (for the checks that the shipped dashboard and alert rules name only those)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from ivr_agent.callbacks.dialer import DialerStats
from ivr_agent.calls.ingest import Ingest
from ivr_agent.calls.outbox import Outbox
from ivr_agent.complaints.runner import GAUGES as COMPLAINT_GAUGES
from ivr_agent.complaints.runner import ChaserStats
from ivr_agent.core.config import StandardsConfig
from ivr_agent.core.tracker import Tracker
from ivr_agent.metrics.feature import setup as setup_metrics
from ivr_agent.metrics.prometheus import calls_in_progress, leader_state
from ivr_agent.metrics.store import OpenCallbacks
from ivr_agent.notify import build_notifier
from ivr_agent.pbx.ami import AmiStats
from ivr_agent.pbx.session import PlaybackStats
from ivr_agent.platform.health import Readiness
from ivr_agent.platform.keys import SETTINGS
from ivr_agent.settings import load_settings


def exported_names(tmp_path: Path) -> set[str]:
    """Every family and sample name ``/metrics`` renders (no PBX, no database needed)."""
    app = web.Application()
    settings = app[SETTINGS] = load_settings(data_dir=tmp_path)
    readiness = Readiness()
    for name in ("database", "ami", "ari"):
        readiness.component(name)
    metrics = setup_metrics(app, public=True, readiness=readiness)
    tracker = Tracker(StandardsConfig.from_settings(settings), settings.pbx_id)
    ingest = Ingest(tracker, lambda _call: None)
    metrics.export_live(calls_in_progress(tracker.in_progress))
    metrics.export_counters("ingest", "Ingest path", ingest.stats)
    metrics.export_counters("tracker", "Call tracker", tracker.stats)
    outbox = Outbox(tmp_path / "spool")
    metrics.export_counters("outbox", "Outbox", outbox.stats, gauges=frozenset({"pending"}))
    # The parts that need a PBX or the database, with their counters as app.py exports them.
    metrics.export_counters("ami", "AMI connection", AmiStats())
    metrics.export_counters(
        "playbacks", "Prompt playbacks", PlaybackStats(), gauges=frozenset({"unplayable"})
    )
    metrics.export_counters("callback_attempts", "Callback attempts", DialerStats())
    # With leader election on (app.py: the leadership part).
    metrics.export_live(leader_state(settings.pbx_id, lambda: True))
    metrics.export_counters(
        "callbacks", "Callbacks", OpenCallbacks(), gauges=frozenset({"open", "overdue"})
    )
    # The notifier's counter, on the same registry (app.py: build_notifier).
    build_notifier(settings, registry=metrics.registry)
    metrics.export_counters("complaints", "Complaints", ChaserStats(), gauges=COMPLAINT_GAUGES)
    text = metrics.render().decode()
    outbox.close()
    names = set()
    for family in text_string_to_metric_families(text):
        # A labelled family with no series yet (no call in flight) is still exported.
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names
