"""The PBX's clock estimated from AMI Timestamps (issue 14: one clock policy)."""

from __future__ import annotations

import asyncio

from ivr_agent.pbx.clock import WINDOW, PbxClock
from ivr_agent.prompts.executor import LoopScheduler


class FakeTime:
    """This host's monotonic and wall clocks, moved by hand."""

    def __init__(self, wall: float) -> None:
        self.mono = 1000.0
        self.wall_offset = wall - self.mono

    def monotonic(self) -> float:
        return self.mono

    def wall(self) -> float:
        return self.mono + self.wall_offset


def test_before_any_event_the_pbx_is_assumed_on_this_hosts_wall_clock() -> None:
    host = FakeTime(wall=1_800_000_000.0)
    clock = PbxClock(host.monotonic, host.wall)
    assert clock.now() == host.wall()
    assert clock.skew() is None


def test_the_pbx_clock_an_hour_behind_is_learnt_from_the_least_delayed_event() -> None:
    host = FakeTime(wall=1_800_003_600.0)  # this host is an hour ahead of the PBX
    clock = PbxClock(host.monotonic, host.wall)
    pbx = 1_800_000_000.0
    for delay in (0.050, 0.002, 0.300):  # each event arrives this late
        clock.observe(pbx - delay)
        host.mono += 1.0
        pbx += 1.0
    assert abs(clock.now() - pbx) < 0.0021  # the 2 ms event sets the estimate
    skew = clock.skew()
    assert skew is not None
    assert abs(skew + 3600) < 0.01
    assert clock.stats.events_observed == 3


def test_a_pbx_clock_stepped_back_is_followed_within_the_window() -> None:
    host = FakeTime(wall=1_800_000_000.0)
    clock = PbxClock(host.monotonic, host.wall)
    clock.observe(host.wall())
    stepped = host.wall() - 30.0  # NTP steps the PBX 30 s back
    for _ in range(WINDOW):
        host.mono += 0.1
        stepped += 0.1
        clock.observe(stepped)
    assert abs(clock.now() - stepped) < 1e-3


def test_a_prompt_due_on_the_pbx_clock_fires_on_time_whatever_this_hosts_clock_says() -> None:
    async def run() -> float:
        loop = asyncio.get_running_loop()
        pbx_offset = -3600.0  # the PBX is an hour behind this host's wall clock

        def pbx_now() -> float:
            return loop.time() + 1_800_000_000.0 + pbx_offset

        scheduler = LoopScheduler(pbx_now)
        fired = asyncio.Event()
        started = loop.time()
        scheduler.call_at(pbx_now() + 0.05, fired.set)
        await asyncio.wait_for(fired.wait(), 1.0)
        return loop.time() - started

    assert 0.04 <= asyncio.run(run()) < 0.5
