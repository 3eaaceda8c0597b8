"""Fixtures of the integration tests (the database fixtures are project-wide, in
tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr_agent.settings import Settings


@pytest.fixture
def agent_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings of an agent against this process's sandbox lane, as deployed (AMI, ARI, the
    PBX's prompts), with a ``pbx_id`` named after the test module (``ivr-…`` for
    test_ivr_live) so its stored rows are told apart."""
    from tests.integration.sandbox_support import running_sandbox
    from tests.support.agent import sandbox_settings

    prefix = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_").split("_")[0]
    return sandbox_settings(running_sandbox(), tmp_path / "var", prefix)
