"""The shipped Grafana dashboard (``ivr_agent/share/grafana``) is valid and its every
query names only metrics the agent exports at ``/metrics``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from ivr_agent import share
from ivr_agent.calls.ingest import Ingest
from ivr_agent.calls.outbox import Outbox
from ivr_agent.core.config import StandardsConfig
from ivr_agent.core.tracker import Tracker
from ivr_agent.metrics.prometheus import Metrics, calls_in_progress, connection_state
from ivr_agent.pbx.ami import AmiStats
from ivr_agent.platform.health import Readiness
from ivr_agent.settings import load_settings

METRIC = re.compile(r"\bivr_agent_[a-z0-9_]+")


def _exported(tmp_path: Path) -> set[str]:
    """Every family and sample name ``/metrics`` renders with all live parts present."""
    metrics = Metrics()
    readiness = Readiness()
    for name in ("database", "ami", "ari"):
        readiness.component(name)
    metrics.export_live(connection_state(readiness))
    settings = load_settings()
    tracker = Tracker(StandardsConfig.from_settings(settings), settings.pbx_id)
    ingest = Ingest(tracker, lambda _call: None)
    metrics.export_live(calls_in_progress(tracker.in_progress))
    metrics.export_counters("ingest", "Ingest path", ingest.stats)
    metrics.export_counters("tracker", "Call tracker", tracker.stats)
    outbox = Outbox(tmp_path / "spool")
    metrics.export_counters("outbox", "Outbox", outbox.stats, gauges=frozenset({"pending"}))
    # (No PBX in a unit test: the AMI connection's counters, as app.py exports them.)
    metrics.export_counters("ami", "AMI connection", AmiStats())
    text = metrics.render().decode()
    names = set()
    for family in text_string_to_metric_families(text):
        # A labelled family with no series yet (no call in flight) is still exported.
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]


def test_the_grafana_dashboard_is_well_formed() -> None:
    dashboard = json.loads(share.grafana_dashboard())
    assert dashboard["title"]
    assert dashboard["uid"]
    assert isinstance(dashboard["schemaVersion"], int)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["type"] in {"stat", "timeseries", "gauge", "table"}, panel["title"]
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"}
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids))
    assert len(_exprs(dashboard)) >= 10


def test_every_query_names_an_exported_metric(tmp_path: Path) -> None:
    exported = _exported(tmp_path)
    dashboard = json.loads(share.grafana_dashboard())
    used = set()
    for expr in _exprs(dashboard):
        names = METRIC.findall(expr)
        assert names, f"no ivr-agent metric in {expr!r}"
        unknown = set(names) - exported
        assert not unknown, f"{expr!r} names metrics /metrics does not export: {unknown}"
        used.update(names)
    # The three histograms and the live gauges the issue asks for are on the board.
    for family in ("ring", "hold", "talk"):
        assert f"ivr_agent_call_{family}_seconds_bucket" in used
    assert {"ivr_agent_calls_in_progress", "ivr_agent_connection_up"} <= used
