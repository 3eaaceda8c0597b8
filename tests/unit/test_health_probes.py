"""platform/health.py: a part that registers its probe while ``/readyz`` runs the others (a
standby taking over starts its ARI parts then) neither breaks that run nor is lost. Found by
the two-PBX failover test: the run raised "dictionary changed size during iteration" (500)."""

from __future__ import annotations

from ivr_agent.platform.health import Readiness, State


async def test_given_a_probe_added_during_a_refresh_then_it_ends_and_keeps_it() -> None:
    readiness = Readiness()
    ran: list[str] = []

    async def ari() -> None:
        ran.append("ari")
        readiness.component("ari").set(State.UP)

    async def database() -> None:
        ran.append("database")
        readiness.component("database").set(State.UP)
        readiness.add_probe("ari", ari)  # the take-over, meanwhile

    readiness.add_probe("database", database)
    await readiness.refresh()
    assert ran == ["database"]
    await readiness.refresh()
    assert ran == ["database", "database", "ari"]
    assert readiness.ready
