"""The shipped alert rules (``ivr_agent/share/prometheus``): promtool finds them valid, its
unit tests (``tests/fixtures/prometheus``) fire each alert from series as the agent exports
them, and every rule names only metrics ``/metrics`` exports.

promtool is Debian's ``prometheus`` package (``./dev`` installs it). Without it these tests
skip on a developer's machine, and fail in CI (``CI=true``), where it must be present.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ivr_agent import share
from tests.support.exported_metrics import exported_names

FIXTURES = Path(__file__).parent.parent / "fixtures" / "prometheus"
METRIC = re.compile(r"\bivr_agent_[a-z0-9_]+")


@pytest.fixture
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing: apt-get install prometheus (./dev does)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return found


def _rules_beside_tests(tmp_path: Path) -> Path:
    (tmp_path / share.PROMETHEUS_ALERTS).write_text(share.prometheus_alerts(), encoding="utf-8")
    test_file = tmp_path / "ivr-agent-alerts.test.yml"
    shutil.copyfile(FIXTURES / test_file.name, test_file)
    return test_file


def _promtool(promtool: str, *args: str, cwd: Path) -> str:
    result = subprocess.run(
        [promtool, *args], capture_output=True, text=True, cwd=cwd, timeout=120, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def test_promtool_checks_the_rules(promtool: str, tmp_path: Path) -> None:
    _rules_beside_tests(tmp_path)
    output = _promtool(promtool, "check", "rules", share.PROMETHEUS_ALERTS, cwd=tmp_path)
    assert "SUCCESS" in output


def test_promtool_unit_tests_fire_each_alert(promtool: str, tmp_path: Path) -> None:
    test_file = _rules_beside_tests(tmp_path)
    output = _promtool(promtool, "test", "rules", test_file.name, cwd=tmp_path)
    assert "SUCCESS" in output
    # Every alert of the file has a case that expects it to fire.
    tested = yaml.safe_load(test_file.read_text(encoding="utf-8"))
    firing = {
        case["alertname"]
        for test in tested["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert firing == set(_alerts())


def _alerts() -> dict[str, str]:
    rules = yaml.safe_load(share.prometheus_alerts())
    return {rule["alert"]: rule["expr"] for group in rules["groups"] for rule in group["rules"]}


def test_the_rules_cover_the_issue_and_name_only_exported_metrics(tmp_path: Path) -> None:
    alerts = _alerts()
    assert {
        "IvrAgentServiceLevelUnderTarget",
        "IvrAgentPbxConnectionDown",
        "IvrAgentOutboxBacklog",
        "IvrAgentPlaybacksFailing",
        "IvrAgentCallbacksOverdue",
    } <= set(alerts)
    exported = exported_names(tmp_path)
    for name, expr in alerts.items():
        used = set(METRIC.findall(expr))
        assert used, name
        assert not used - exported, f"{name} names metrics /metrics does not export"
