"""web/readyz.py: anonymous ``/readyz`` runs the probes at most once per cache period,
however many callers there are; a fresh answer (a token holder's) refreshes the cache
(issue 14, finding 10)."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from ivr_agent.web.readyz import ReadyzCache


class Probes:
    """A stand-in for the ``/readyz`` handler that counts its runs."""

    def __init__(self) -> None:
        self.runs = 0
        self.ready = True

    async def __call__(self, _request: web.Request) -> web.StreamResponse:
        self.runs += 1
        await asyncio.sleep(0.01)  # a probe takes a moment: concurrent callers pile up
        body = {"ready": self.ready, "run": self.runs}
        return web.json_response(body, status=200 if self.ready else 503)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _request() -> web.Request:
    return make_mocked_request("GET", "/readyz")


async def test_given_many_anonymous_callers_then_the_probes_run_once_per_period() -> None:
    clock, probes = Clock(), Probes()
    cache = ReadyzCache(max_age=5.0, clock=clock)
    answers = await asyncio.gather(*(cache.cached(_request(), probes) for _ in range(50)))
    assert probes.runs == 1
    assert {a.status for a in answers} == {200}
    assert {a.body for a in answers} == {b'{"ready": true, "run": 1}'}  # type: ignore[attr-defined]
    assert answers[0].content_type == "application/json"
    assert answers[0].charset == "utf-8"
    clock.now += 4.9
    await cache.cached(_request(), probes)
    assert probes.runs == 1
    clock.now += 0.1
    probes.ready = False
    stale_no_more = await cache.cached(_request(), probes)
    assert probes.runs == 2
    assert stale_no_more.status == 503


async def test_given_a_fresh_answer_then_it_runs_every_time_and_refreshes_the_cache() -> None:
    clock, probes = Clock(), Probes()
    cache = ReadyzCache(max_age=5.0, clock=clock)
    await cache.cached(_request(), probes)
    probes.ready = False
    for _ in range(3):
        fresh = await cache.fresh(_request(), probes)
        assert fresh.status == 503
    assert probes.runs == 4
    anonymous = await cache.cached(_request(), probes)
    assert probes.runs == 4
    assert (anonymous.status, anonymous.body) == (503, fresh.body)  # type: ignore[attr-defined]


async def test_given_a_probe_that_raises_then_nothing_is_cached() -> None:
    clock, calls = Clock(), []

    async def failing(_request: web.Request) -> web.StreamResponse:
        calls.append(1)
        raise RuntimeError("probe crashed")

    cache = ReadyzCache(max_age=5.0, clock=clock)
    for _ in range(2):
        with pytest.raises(RuntimeError):
            await cache.cached(_request(), failing)
    assert len(calls) == 2
