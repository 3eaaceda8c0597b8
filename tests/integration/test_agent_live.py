"""The agent against the real sandbox: every shipped scenario, stored outcome vs ground truth.

The agent runs in-process (the composition root, a real AMI connection to the PBX under
test, the outbox, a real PostgreSQL); the simulator drives real SIP calls through the
phones instance. Each stored outcome must agree with what the simulator measured on the
phones side (tests/support/ground_truth.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from ivr_agent.core.config import StandardsConfig
from ivr_agent.core.outcome import dumps_line
from ivr_agent.core.replay import Replay
from ivr_agent.db.database import Database
from ivr_agent.pbx.capture import read_capture
from ivr_agent.settings import Settings
from tests.integration.scenario_runs import played_with_agent, scenario_group
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
    "hold_60s": (1.0, {}),
    "mute_12s": (1.0, {}),
    "silent_never_speaks": (1.0, {}),
    "silent_speaks_after_prompt": (1.0, {}),
    "direct_line": (1.0, {}),
    "overlapping": (1.0, {}),
    "busy_queue": (1.0, {}),
    "long_queue_wait": (1.0, {}),
    "long_call": (0.1, {"call_max_seconds": 30.0}),
}


#: Scenarios test_ivr_live asserts on too: played once, on one worker, for both files.
SHARED = {"answered_6_rings", "hold_5s", "hold_12s", "hold_60s", "mute_12s", "silent_never_speaks"}
SHARED |= {"silent_speaks_after_prompt", "long_queue_wait"}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=[scenario_group(name)] if name in SHARED else [])
        for name in sorted(INBOUND)
    ],
)
async def test_given_a_scenario_when_the_agent_watches_then_outcomes_match_ground_truth(
    name: str, agent_settings: Settings, db: Database
) -> None:
    scale, overrides = INBOUND[name]
    run = await played_with_agent(
        name, agent_settings.model_copy(update=overrides), db, scale=scale
    )
    settings, truths, outcomes, capture = run.settings, run.truths, run.outcomes, run.capture
    assert run.malformed_events == 0
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

    # `ivr-agent replay` of the live capture reproduces the stored outcomes byte for byte —
    # but for the recording, which is stored after the call and which the calls API names
    # (`recording_id`): the AMI events know nothing of it.
    replayed = Replay(standards, settings.pbx_id).run(read_capture(capture))
    assert sorted(f.outcome.to_json_line() for f in replayed) == sorted(
        dumps_line({**outcome, "recording_id": None}) for outcome in outcomes.values()
    )
