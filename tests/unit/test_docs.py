"""The README is product: its configuration reference lists every setting."""

from __future__ import annotations

from pathlib import Path

from ivr_agent.settings import Settings, env_name

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_documented_in_code_and_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no description"
        assert f"`{env_name(name)}`" in text, f"{env_name(name)} missing from README"
