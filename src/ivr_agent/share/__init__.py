"""Files the package ships for the people and systems around the agent.

They are package data, so an installed wheel has them wherever it runs (no source tree):

- ``dialplans/ivr-agent-hooks.conf``: the hook contexts a PBX admin ``#include``\\ s from
  ``extensions.conf`` (``ivr-agent dialplan`` prints it; the sandbox PBX installs it);
- ``grafana/ivr-agent-dashboard.json``: a Grafana dashboard over the agent's ``/metrics``,
  with the provisioning files beside it (``datasource.yaml``, ``dashboards.yaml``);
- ``prometheus/ivr-agent-alerts.yml``: alert rules over ``/metrics`` (service level, the PBX
  connections, the outbox, playbacks, overdue callbacks), checked with ``promtool``;
- ``STANDARDS.md``: the service standards the agent measures (S1–S7), the reference every
  number and prompt text of the agent is checked against.

The schema's migrations are package data too, beside the code that runs them
(``ivr_agent/db/migrations``).
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

#: The dialplan file a PBX admin includes (``#include "ivr-agent-hooks.conf"``).
DIALPLAN_HOOKS = "ivr-agent-hooks.conf"


def files() -> Traversable:
    """The shipped files' folder, from wherever the package is installed."""
    return resources.files(__name__)


def dialplans() -> list[Traversable]:
    """Every shipped dialplan file (``*.conf``), by name."""
    folder = files() / "dialplans"
    return sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".conf")),
        key=lambda entry: entry.name,
    )


#: The Stasis application the shipped hooks name (the default of ``IVR_AGENT_ARI_APP``).
_HOOKS_ARI_APP = "ivr-agent"


def dialplan_hooks(ari_app: str = _HOOKS_ARI_APP) -> str:
    """The text of the hook contexts (``dialplans/ivr-agent-hooks.conf``), their ``Stasis()``
    calls naming ``ari_app`` (the agent's ``IVR_AGENT_ARI_APP``)."""
    text = (files() / "dialplans" / DIALPLAN_HOOKS).read_text(encoding="utf-8")
    return text.replace(f"Stasis({_HOOKS_ARI_APP},", f"Stasis({ari_app},")


def grafana_dashboard() -> str:
    """The Grafana dashboard's JSON text (``grafana/ivr-agent-dashboard.json``)."""
    return (files() / "grafana" / "ivr-agent-dashboard.json").read_text(encoding="utf-8")


def grafana_provisioning(kind: str) -> str:
    """A Grafana provisioning file's text: ``kind`` = ``datasource`` | ``dashboards``."""
    return (files() / "grafana" / f"{kind}.yaml").read_text(encoding="utf-8")


#: The alert rules' file name (``rule_files:`` of a Prometheus configuration).
PROMETHEUS_ALERTS = "ivr-agent-alerts.yml"


def prometheus_alerts() -> str:
    """The Prometheus alert rules' text (``prometheus/ivr-agent-alerts.yml``)."""
    return (files() / "prometheus" / PROMETHEUS_ALERTS).read_text(encoding="utf-8")


def standards() -> str:
    """The text of the service standards (``STANDARDS.md``)."""
    return (files() / "STANDARDS.md").read_text(encoding="utf-8")
