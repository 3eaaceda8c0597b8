"""The two-PBX tests' second lane: each test process's partner lane is one no test process
drives as its own, and no two test processes share one."""

from __future__ import annotations

import pytest

from ivr_agent.settings import Settings, SettingsError, load_settings
from ivr_agent.sim.sandbox_layout import (
    MAX_LANE,
    WORKER_LANES,
    Sandbox,
    SandboxError,
    partner_lane,
)


def test_given_every_worker_lane_then_its_partner_is_no_worker_lane_and_its_own() -> None:
    partners = [partner_lane(lane) for lane in range(WORKER_LANES)]
    assert len(set(partners)) == WORKER_LANES  # no two workers share a partner
    assert all(WORKER_LANES <= p <= MAX_LANE for p in partners)  # never a worker's own lane


def test_given_a_configured_partner_then_it_wins() -> None:
    # A developer whose lanes are 6 and 8 runs the two-PBX test on exactly those.
    assert partner_lane(6, 8) == 8


@pytest.mark.parametrize(("lane", "configured"), [(6, 6), (9, None), (0, MAX_LANE + 1)])
def test_given_a_partner_that_is_the_lane_itself_or_out_of_range_then_it_is_refused(
    lane: int, configured: int | None
) -> None:
    with pytest.raises(SandboxError, match="lane"):
        partner_lane(lane, configured)


def test_given_the_settings_then_every_lane_and_partner_lane_is_accepted() -> None:
    # The settings' bounds are the layout's (settings cannot import the simulator).
    for name in ("sandbox_lane", "sandbox_partner_lane"):
        bounds = {
            type(m).__name__: getattr(m, "le", None) or getattr(m, "ge", None)
            for m in Settings.model_fields[name].metadata
        }
        assert bounds.get("Le") == MAX_LANE, name
    settings = load_settings(_env_file=None, sandbox_lane=MAX_LANE, sandbox_partner_lane=0)
    assert Sandbox.from_settings(settings).lane == MAX_LANE
    with pytest.raises(SettingsError, match="SANDBOX_PARTNER_LANE"):
        load_settings(_env_file=None, sandbox_partner_lane=MAX_LANE + 1)
