"""The files the package ships (``ivr_agent.share``, the migrations) and ``ivr-agent dialplan``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ivr_agent import share
from ivr_agent.cli import main
from ivr_agent.db.migrate import head_revision, migrations_dir


def test_the_migrations_are_found_inside_the_package_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    directory = migrations_dir()
    assert directory.parts[-3:] == ("ivr_agent", "db", "migrations")
    assert head_revision()


def test_the_standards_the_dashboard_and_the_hooks_are_readable_package_data() -> None:
    assert share.standards().startswith("#")
    assert "## S4." in share.standards()
    assert json.loads(share.grafana_dashboard())["panels"]
    assert [entry.name for entry in share.dialplans()] == [share.DIALPLAN_HOOKS]
    assert "[ivr-agent-inbound]" in share.dialplan_hooks()


def test_given_the_dialplan_command_then_it_prints_where_to_put_the_hooks_and_the_hooks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["dialplan"]) == 0
    out = capsys.readouterr().out
    first, _, rest = out.partition("\n")
    assert first.startswith(";")
    assert f'#include "{share.DIALPLAN_HOOKS}"' in first
    assert "extensions.conf" in first
    assert rest == share.dialplan_hooks()


def test_given_another_ari_app_then_the_printed_hooks_enter_that_stasis_app(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IVR_AGENT_ARI_APP", "hotline-2")
    assert main(["dialplan"]) == 0
    out = capsys.readouterr().out
    stasis = [line for line in out.splitlines() if "Stasis(" in line and not line.startswith(";")]
    assert stasis
    assert all("Stasis(hotline-2," in line for line in stasis)
