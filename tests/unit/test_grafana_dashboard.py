"""The shipped Grafana dashboard (``ivr_agent/share/grafana``) is valid, its every query
names only metrics the agent exports at ``/metrics``, and the provisioning files beside it
give Grafana the Prometheus data source and the dashboard folder."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from ivr_agent import share
from tests.support.exported_metrics import exported_names

METRIC = re.compile(r"\bivr_agent_[a-z0-9_]+")


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
    exported = exported_names(tmp_path)
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


def test_the_provisioning_files_give_grafana_the_data_source_and_the_dashboard() -> None:
    datasources = yaml.safe_load(share.grafana_provisioning("datasource"))
    assert datasources["apiVersion"] == 1
    [source] = datasources["datasources"]
    assert source["type"] == "prometheus"
    assert source["isDefault"] is True  # the dashboard's data source variable picks it
    assert source["url"].startswith("http")
    providers = yaml.safe_load(share.grafana_provisioning("dashboards"))
    assert providers["apiVersion"] == 1
    [provider] = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"].startswith("/")
    # The dashboard's data source is a variable over Prometheus sources, so the provisioned
    # default is used without an import step.
    dashboard = json.loads(share.grafana_dashboard())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
