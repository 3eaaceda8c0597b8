"""Sandbox scenarios played once per test process with the whole agent, and asserted by
every test that needs them.

Playing a scenario is real time on a real PBX (15-90 s each), and several test files assert
different things of the same calls (test_agent_live: the outcomes against the ground truth
and the replay; test_ivr_live: when each prompt was heard). :func:`played_with_agent` plays
a scenario the first time a test asks for it and keeps what it gave (plain data: truths,
stored outcomes, prompt timings, the AMI capture) for the rest of the process. Tests that
share a scenario carry the ``xdist_group`` of :func:`scenario_group`, so pytest-xdist runs
them on one worker and the scenario is played once per test run (once more for a rerun of
a failed test: ``tests/support/attempts.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ivr_agent.app import EXECUTOR, INGEST
from ivr_agent.db.database import Database
from ivr_agent.prompts.executor import PromptTiming
from ivr_agent.settings import Settings
from ivr_agent.sim import runner
from ivr_agent.sim import scenario as scenarios
from tests.integration.sandbox_support import ARTIFACTS, progress, running_sandbox
from tests.support import attempts
from tests.support.agent import running_agent, stored_outcomes
from tests.support.ground_truth import truth_number


@dataclass(frozen=True)
class AgentRun:
    """One scenario played against the agent: what the phones measured and what it stored."""

    name: str
    #: The agent's settings (those of the first test that asked for the scenario).
    settings: Settings
    truths: list[dict[str, Any]]
    #: Stored outcomes by caller number (what ``GET /api/calls`` returns).
    outcomes: dict[str, dict[str, Any]]
    #: The prompt executor's timing of every prompt it played.
    timings: list[PromptTiming]
    malformed_events: int
    #: The agent's own AMI capture of the run (``--capture``).
    capture: Path


#: By scenario and attempt (a rerun plays anew).
_PLAYED: dict[tuple[str, int], AgentRun] = {}


def heard_dir(name: str) -> Path:
    """Where a run of scenario ``name`` keeps what each caller heard (one WAV per call)."""
    return ARTIFACTS / "heard" / name


def scenario_group(name: str) -> pytest.MarkDecorator:
    """The xdist group of every test asserting on the agent's run of scenario ``name``."""
    return pytest.mark.xdist_group(f"scenario-{name}")


async def played_with_agent(
    name: str, settings: Settings, db: Database, *, scale: float = 1.0
) -> AgentRun:
    """Scenario ``name`` (time-scaled by ``scale``) played with the agent in this process:
    played on the first call, the same :class:`AgentRun` afterwards (``settings`` and ``db``
    are then unused)."""
    key = (name, attempts.current())
    if key not in _PLAYED:
        plan = scenarios.load(name)
        if scale != 1.0:
            plan = plan.scaled(scale)
        config = runner.RunnerConfig.from_env_file(running_sandbox().credentials_file)
        capture = settings.data_dir / f"{name}.jsonl"
        async with running_agent(settings, db, capture=capture) as app:
            truths = await runner.run(plan, config, progress, recordings=heard_dir(name))
            outcomes = await stored_outcomes(db, settings.pbx_id, {truth_number(t) for t in truths})
            timings = list(app[EXECUTOR].get().timings)
            malformed = app[INGEST].stats.malformed_events
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / f"agent-{name}.json").write_text(
            json.dumps(
                {"truths": truths, "outcomes": outcomes},
                ensure_ascii=False,
                indent=1,
                default=str,
            )
        )
        _PLAYED[key] = AgentRun(name, settings, truths, outcomes, timings, malformed, capture)
    return _PLAYED[key]
