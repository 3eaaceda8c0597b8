"""The active parts (platform/active_parts.py): started in order, stopped in reverse, any
number of times; a part that fails to start stops those already started."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web

from ivr_agent.platform.active_parts import ActiveParts


def _part(
    name: str, journal: list[str], *, fail: bool = False
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def part(_app: web.Application) -> AsyncIterator[None]:
        if fail:
            raise RuntimeError(f"{name} cannot start")
        journal.append(f"start {name}")
        try:
            yield
        finally:
            journal.append(f"stop {name}")

    return part


async def test_given_parts_when_started_and_stopped_twice_then_order_holds_each_time() -> None:
    journal: list[str] = []
    parts = ActiveParts(web.Application())
    parts.add(_part("calls", journal))
    parts.add(_part("ivr", journal))
    for _ in range(2):
        await parts.start()
        assert parts.running
        await parts.start()  # already running: nothing more
        await parts.stop()
        assert not parts.running
    assert journal == ["start calls", "start ivr", "stop ivr", "stop calls"] * 2


async def test_given_a_part_that_cannot_start_then_the_started_ones_are_stopped() -> None:
    journal: list[str] = []
    parts = ActiveParts(web.Application())
    parts.add(_part("calls", journal))
    parts.add(_part("ivr", journal, fail=True))
    with pytest.raises(RuntimeError, match="ivr cannot start"):
        await parts.start()
    assert journal == ["start calls", "stop calls"]
    assert not parts.running
