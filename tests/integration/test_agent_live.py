"""The agent against the real sandbox: every shipped scenario, stored outcome vs ground truth.

The agent runs in-process (the composition root, a real AMI connection to the PBX under
test, the outbox, a real PostgreSQL); the simulator drives real SIP calls through the
phones instance. Each stored outcome must agree with what the simulator measured on the
phones side (tests/support/ground_truth.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ivr_agent.app import AMI, INGEST, IVR, Options, build_app
from ivr_agent.calls.store import list_calls
from ivr_agent.core.config import StandardsConfig
from ivr_agent.core.outcome import dumps_line
from ivr_agent.core.replay import Replay
from ivr_agent.db.database import Database
from ivr_agent.pbx.capture import read_capture
from ivr_agent.settings import Settings, load_settings
from ivr_agent.sim import runner, sandbox
from ivr_agent.sim import scenario as scenarios
from tests.integration.sandbox_support import progress, running_sandbox
from tests.support.ground_truth import assert_matches_truth, truth_number

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]

#: Inbound scenarios, each with the time scale and settings it runs with. long_call is
#: scaled tenfold with a 30 s maximum (its description says so): same rule, 31 s of talk.
INBOUND: dict[str, tuple[float, dict[str, Any]]] = {
    "basic": (1.0, {}),
    "answered_1_ring": (1.0, {}),
    "answered_3_rings": (1.0, {}),
    "answered_4_rings": (1.0, {}),
    "answered_6_rings": (1.0, {}),
    "abandoned_short": (1.0, {}),
    "abandoned_long": (1.0, {}),
    "hold_5s": (1.0, {}),
    "hold_12s": (1.0, {}),
    "hold_70s": (1.0, {}),
    "silent_never_speaks": (1.0, {}),
    "silent_speaks_after_prompt": (1.0, {}),
    "direct_line": (1.0, {}),
    "overlapping": (1.0, {}),
    "long_call": (0.1, {"call_max_seconds": 30.0}),
}


async def _outcomes(db: Database, pbx_id: str, numbers: set[str]) -> dict[str, dict[str, Any]]:
    """Stored outcomes of this agent by caller number, once all ``numbers`` are there."""
    deadline = time.monotonic() + 30
    while True:
        calls = [c for c in await list_calls(db, limit=1000) if c["pbx_id"] == pbx_id]
        found = {c["caller_number"]: c for c in calls}
        if numbers <= found.keys() or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


@pytest.fixture
async def agent_settings(tmp_path: Path) -> Settings:
    box = running_sandbox()
    env = sandbox.load_credentials(box).env()
    # AMI and ARI, as deployed: the agent measures and also plays the prompts (issue 5), so
    # the ground truth is of calls that heard them (a silent caller is hung up after the last
    # silence prompt; a caller who answers prompts speaks after hearing them).
    return load_settings(
        ami_url=env["IVR_AGENT_AMI_URL"],
        ari_url=env["IVR_AGENT_ARI_URL"],
        prompts_dir=env["IVR_AGENT_PROMPTS_DIR"],
        data_dir=tmp_path / "var",
        pbx_id=f"live-{uuid.uuid4().hex[:8]}",
    )


@contextlib.asynccontextmanager
async def running_agent(
    settings: Settings, db: Database, capture: Path
) -> AsyncIterator[web.Application]:
    """The whole agent, as `ivr-agent run --capture FILE` starts it, logged in to AMI and
    connected to ARI."""
    app = build_app(settings, database=db, options=Options(capture=capture))
    app_runner = web.AppRunner(app)
    await app_runner.setup()
    try:
        await app[AMI].wait_logged_in(20)
        events = app[IVR].events
        assert events is not None
        await asyncio.wait_for(events.connected.wait(), 20)
        yield app
    finally:
        await app_runner.cleanup()


@pytest.mark.parametrize("name", sorted(INBOUND))
async def test_given_a_scenario_when_the_agent_watches_then_outcomes_match_ground_truth(
    name: str, agent_settings: Settings, db: Database
) -> None:
    scale, overrides = INBOUND[name]
    settings = agent_settings.model_copy(update=overrides)
    plan = scenarios.load(name).scaled(scale) if scale != 1.0 else scenarios.load(name)
    config = runner.RunnerConfig.from_env_file(running_sandbox().credentials_file)
    capture = settings.data_dir / f"{name}.jsonl"
    async with running_agent(settings, db, capture) as app:
        truths = await runner.run(plan, config, progress)
        outcomes = await _outcomes(db, settings.pbx_id, {truth_number(t) for t in truths})
        stats = app[INGEST].stats
    assert stats.malformed_events == 0
    standards = StandardsConfig.from_settings(settings)
    assert_matches_truth(outcomes, truths, standards, name)
    # The prompts were really played: every answered caller heard the 工号播报 (talk
    # detection on the caller's own line), and its outcome says it was played.
    for truth in truths:
        if truth.get("answered_at") is None:
            continue
        ours = outcomes[truth_number(truth)]
        intros = [p for p in ours["prompts_played"] if p["prompt"] == "operator_intro"]
        assert intros, f"{name}/{truth['id']}: no operator_intro"
        assert intros[0]["played"] is True, f"{name}/{truth['id']}: operator_intro not played"
        assert truth["heard_after_answer"], f"{name}/{truth['id']}: nothing heard after answer"

    # `ivr-agent replay` of the live capture reproduces the stored outcomes byte for byte.
    replayed = Replay(standards, settings.pbx_id).run(read_capture(capture))
    assert sorted(f.outcome.to_json_line() for f in replayed) == sorted(
        dumps_line(outcome) for outcome in outcomes.values()
    )
