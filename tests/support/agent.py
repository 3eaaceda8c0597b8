"""The whole agent in the test process, and what it stored: shared by every test that runs
the agent (against the sandbox, or with HTTP only).

The agent is built by the composition root exactly as `ivr-agent run` builds it; helpers
that wait for stored rows poll the database for up to 30 s and fail naming what is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ivr_agent.app import AMI, IVR, Options, build_app
from ivr_agent.calls.store import list_calls
from ivr_agent.db.database import Database
from ivr_agent.qa.records import Recording, recordings_of_call
from ivr_agent.settings import HostPort, Settings, load_settings
from ivr_agent.sim import sandbox


def sandbox_settings(
    box: sandbox.Sandbox, data_dir: Path, prefix: str, **overrides: Any
) -> Settings:
    """Settings of an agent against the sandbox lane ``box``, as deployed (AMI and ARI, the
    prompts the PBX plays), with a ``pbx_id`` of its own (``prefix-…``) so that its stored
    rows are told apart, and ``overrides`` on top.

    The background callback dialler is off unless ``overrides`` turn it on: a caller who
    gives up after more than 5 s gets an automatic callback, dialled at once inside the
    calling windows (Asia/Shanghai office hours), so a scenario's result would depend on
    the time of day — and that callback is a second stored call from the caller's number.
    """
    env = sandbox.load_credentials(box).env()
    values: dict[str, Any] = {
        "ami_url": env["IVR_AGENT_AMI_URL"],
        "ari_url": env["IVR_AGENT_ARI_URL"],
        "prompts_dir": env["IVR_AGENT_PROMPTS_DIR"],
        "data_dir": data_dir,
        "pbx_id": f"{prefix}-{uuid.uuid4().hex[:8]}",
        "callback_dialer_enabled": False,
    }
    values.update(overrides)
    return load_settings(**values)


@contextlib.asynccontextmanager
async def serving_agent(
    settings: Settings,
    db: Database,
    *,
    capture: Path | None = None,
    ari_up: bool = True,
    prepare: Callable[[web.Application], None] | None = None,
) -> AsyncIterator[tuple[web.Application, str]]:
    """The whole agent in this process, as `ivr-agent run` starts it, listening on a free
    local port (yielded with the app as its base URL): logged in to AMI and (unless
    ``ari_up`` is False) connected to ARI when the settings name them. ``capture``: also
    record its AMI stream there (``--capture``). ``prepare`` changes the built app before it
    starts (e.g. the complaints' departments directory).

    The port is bound before the agent is built and becomes its ``http_listen``: the PBX
    fetches the prompts from there (http delivery, ``PROMPTS_URL`` unset), as from an agent
    started with ``IVR_AGENT_HTTP_LISTEN``; the socket stays bound, so no other process can
    take the port in between."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    host, port = listener.getsockname()[:2]
    settings = settings.model_copy(update={"http_listen": HostPort(host, port)})
    app = build_app(settings, database=db, options=Options(capture=capture))
    if prepare is not None:
        prepare(app)
    app_runner = web.AppRunner(app, access_log=None)
    await app_runner.setup()
    try:
        await web.SockSite(app_runner, listener).start()
        if settings.ami_url is not None:
            await app[AMI].wait_logged_in(20)
        if settings.ari_url is not None and ari_up:
            events = app[IVR].get().events
            assert events is not None
            await asyncio.wait_for(events.connected.wait(), 20)
        yield app, f"http://{host}:{port}"
    finally:
        await app_runner.cleanup()


@contextlib.asynccontextmanager
async def running_agent(
    settings: Settings, db: Database, *, capture: Path | None = None, ari_up: bool = True
) -> AsyncIterator[web.Application]:
    """:func:`serving_agent` when the test needs only the app."""
    async with serving_agent(settings, db, capture=capture, ari_up=ari_up) as (app, _url):
        yield app


async def stored_outcomes(
    db: Database, pbx_id: str, numbers: set[str]
) -> dict[str, dict[str, Any]]:
    """Stored outcomes of the agent ``pbx_id`` by caller number, once all ``numbers`` are
    there (or after 30 s, with what there is: the caller's assertions name what is missing).
    Two stored calls with one of ``numbers`` make the mapping ambiguous: an AssertionError."""
    deadline = time.monotonic() + 30
    while True:
        calls = [c for c in await list_calls(db, limit=1000) if c["pbx_id"] == pbx_id]
        found = {c["caller_number"]: c for c in calls}
        if numbers <= found.keys() or time.monotonic() > deadline:
            twice = sorted(n for n in numbers if [c["caller_number"] for c in calls].count(n) > 1)
            assert not twice, f"more than one stored call with number(s) {twice}"
            return found
        await asyncio.sleep(0.2)


async def stored_outcome(db: Database, pbx_id: str, number: str) -> dict[str, Any]:
    """The stored outcome of the agent ``pbx_id``'s call from ``number`` (waits up to 30 s)."""
    found = await stored_outcomes(db, pbx_id, {number})
    if number not in found:
        raise AssertionError(f"no stored outcome for {number}")
    return found[number]


async def recording_of(db: Database, call_id: str) -> Any:
    """The call's recording row once written (waits up to 30 s)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = await recordings_of_call(db, call_id)
        if found:
            return found[-1]
        await asyncio.sleep(0.2)
    raise AssertionError(f"no recording row for call {call_id}")


async def recordings_when_written(db: Database, call_id: str) -> list[Recording]:
    """The call's recordings once the first is written (waits up to 30 s)."""
    await recording_of(db, call_id)
    return await recordings_of_call(db, call_id)


def assert_one_recording_covers(
    found: list[Recording], start: datetime, end: datetime, tolerance: float
) -> None:
    """``found`` is one ``ok`` recording that starts at ``start`` and lasts until ``end``,
    each within ``tolerance`` seconds."""
    [recording] = found
    assert recording.status == "ok", recording
    assert recording.started_at is not None, recording
    assert abs((recording.started_at - start).total_seconds()) < tolerance, (recording, start)
    assert recording.seconds == pytest.approx((end - start).total_seconds(), abs=tolerance), (
        recording,
        start,
        end,
    )
