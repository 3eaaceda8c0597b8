"""The README is product: its configuration reference lists every setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr_agent.settings import Settings, env_name

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_documented_in_code_and_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no description"
        assert f"`{env_name(name)}`" in text, f"{env_name(name)} missing from README"


def test_the_ami_filters_command_prints_one_line_per_consumed_event(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ivr_agent.cli import main
    from ivr_agent.core.events import SUBSCRIBED_EVENTS

    assert main(["ami-filters"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in SUBSCRIBED_EVENTS:
        assert f"eventfilter(action(include),name({name})) =" in lines


def test_docs_standards_is_the_packaged_standards() -> None:
    """``docs/STANDARDS.md`` (read in the repository, and kept equal to the team's spec) and
    the copy the wheel ships (``ivr_agent/share/STANDARDS.md``) are one text."""
    from ivr_agent.share import standards

    docs = Path(__file__).resolve().parents[2] / "docs" / "STANDARDS.md"
    assert docs.read_text(encoding="utf-8") == standards()
