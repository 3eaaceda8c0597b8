"""Two agents of one PBX in this process (HTTP and PostgreSQL only: no PBX), with leader
election on: one is active, the other says ``standby`` on ``/readyz`` and in the
``ivr_agent_leader`` gauge; when the active one's lock connection dies the standby takes
over within a poll and stores the calls it saw finish that nobody stored — once each. And
the new leader's dialer takes over a dead leader's callback attempt at once, without
waiting for its lease to run out."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession, web
from sqlalchemy import func, select, text

from ivr_agent.app import IVR, LEADERSHIP, OUTCOME_GATE
from ivr_agent.callbacks.reconcile import reconcile
from ivr_agent.calls.standby import TAKEOVER_REASON
from ivr_agent.calls.store import get_call, save_outcome
from ivr_agent.core.tracker import FinishedCall
from ivr_agent.db.database import Database
from ivr_agent.db.models import CallRow
from ivr_agent.db.tokens import create_token
from ivr_agent.pbx.ari import AriClient
from ivr_agent.settings import Settings, load_settings
from tests.integration.test_callbacks_instances import (  # the same fake PBX, no channels
    _dialer,
    _placed_by,
    _row,
    ari,  # noqa: F401  (a fixture)
)
from tests.support.agent import serving_agent
from tests.support.net import free_port
from tests.support.outcomes import sample_outcome

pytestmark = pytest.mark.postgres

POLL = 0.2


def _settings(tmp_path: Path, name: str) -> Settings:
    return load_settings(
        _env_file=None,
        # An ARI nobody answers: the leader keeps trying, a standby leaves it alone.
        ari_url=f"http://u:p@127.0.0.1:{free_port()}",
        data_dir=tmp_path / name,
        pbx_id="pbx1",
        leader_election=True,
        leader_poll_seconds=POLL,
        reports_enabled=False,
    )


@contextlib.asynccontextmanager
async def _agent(settings: Settings, db: Database) -> AsyncIterator[tuple[web.Application, str]]:
    async with serving_agent(settings, db, ari_up=False) as served:
        yield served


async def _role(http: ClientSession, url: str, token: str) -> tuple[int, str | None]:
    # With a token: a fresh answer, not the anonymous one cached for 5 s.
    async with http.get(f"{url}/readyz", headers={"Authorization": f"Bearer {token}"}) as reply:
        body = await reply.json()
        return reply.status, body.get("role")


async def _leader_gauge(http: ClientSession, url: str) -> str:
    async with http.get(f"{url}/metrics") as reply:
        lines = (await reply.text()).splitlines()
    return next(line for line in lines if line.startswith("ivr_agent_leader{"))


async def _calls(db: Database, linkedid: str) -> int:
    async with db.transaction() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(CallRow).where(CallRow.linkedid == linkedid)
            )
            or 0
        )


async def test_given_two_agents_of_one_pbx_when_the_active_dies_then_the_standby_takes_over(
    db: Database, tmp_path: Path
) -> None:
    async with (
        _agent(_settings(tmp_path, "a"), db) as (first, first_url),
        _agent(_settings(tmp_path, "b"), db) as (second, second_url),
        ClientSession() as http,
    ):
        token = await create_token(db, "ops")
        assert first[LEADERSHIP].is_leader
        assert not second[LEADERSHIP].is_leader
        # Only the leader has an ARI session (prompts, recorder, dialer act through it).
        assert first[IVR].value is not None
        assert second[IVR].value is None
        # The leader's ARI does not answer: not ready. A standby leaves ARI to the leader,
        # serves its API and is ready.
        assert await _role(http, first_url, token) == (503, "active")
        assert await _role(http, second_url, token) == (200, "standby")
        assert await _leader_gauge(http, first_url) == 'ivr_agent_leader{pbx_id="pbx1"} 1.0'
        assert await _leader_gauge(http, second_url) == 'ivr_agent_leader{pbx_id="pbx1"} 0.0'
        async with http.get(f"{second_url}/metrics") as reply:
            exported = await reply.text()
        # Its ARI is the active agent's: no "PBX connection down" alert for a standby.
        assert 'ivr_agent_connection_up{component="ari"}' not in exported
        assert 'ivr_agent_connection_state{component="ari",state="standby"} 1.0' in exported
        async with http.get(f"{first_url}/metrics") as reply:
            assert 'ivr_agent_connection_up{component="ari"} 0.0' in await reply.text()

        # Calls the standby's tracker saw finish: the leader stored one, not the other (it
        # died first, or it ended while no agent was active).
        stored_by_leader = FinishedCall(sample_outcome("1700000000.1"))
        never_stored = FinishedCall(sample_outcome("1700000000.2"))
        await save_outcome(db, stored_by_leader.outcome)
        gate = second[OUTCOME_GATE]
        gate(stored_by_leader)
        gate(never_stored)
        assert gate.kept == 2

        pid = first[LEADERSHIP].backend_pid
        assert pid is not None
        killed = time.monotonic()
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        while second[OUTCOME_GATE].active is False:
            assert time.monotonic() - killed < 5, "no take-over within 5 s"
            await asyncio.sleep(0.02)
        took = time.monotonic() - killed
        assert took < POLL * 2 + 0.5, f"take-over took {took:.2f} s"
        assert (first[LEADERSHIP].gained, first[LEADERSHIP].lost) == (1, 1)
        async with http.get(f"{second_url}/metrics") as reply:
            exported = await reply.text()
        assert 'ivr_agent_leader{pbx_id="pbx1"} 1.0' in exported
        assert "ivr_agent_leadership_gained_total 1.0" in exported
        assert not first[LEADERSHIP].is_leader
        # The old leader stopped acting: its ARI session is closed and gone. The new one's
        # parts start in order after its outcome gate opens: its ARI session comes last.
        deadline = time.monotonic() + 5
        while first[IVR].value is not None or second[IVR].value is None:
            assert time.monotonic() < deadline, "the ARI sessions did not change hands"
            await asyncio.sleep(0.02)
        assert await _role(http, second_url, token) == (503, "active")
        assert await _role(http, first_url, token) == (200, "standby")
        # The old leader keeps its finished calls aside once it knows another agent acts.
        deadline = time.monotonic() + 3
        while first[OUTCOME_GATE].active:
            assert time.monotonic() < deadline, "the old leader still stores outcomes"
            await asyncio.sleep(0.05)

        deadline = time.monotonic() + 10
        while (await get_call(db, never_stored.outcome.call_id)) is None:
            assert time.monotonic() < deadline, "the unstored call was not stored"
            await asyncio.sleep(0.1)
        late = await get_call(db, never_stored.outcome.call_id)
        assert late is not None
        assert late["complete"] is False
        assert TAKEOVER_REASON in late["incomplete_reason"]
        # The leader's row is left as it was: complete, stored once.
        kept = await get_call(db, stored_by_leader.outcome.call_id)
        assert kept is not None
        assert kept["complete"] is True
        assert [await _calls(db, "1700000000.1"), await _calls(db, "1700000000.2")] == [1, 1]


async def test_given_the_sole_dialer_of_a_pbx_then_a_dead_leaders_attempt_is_taken_at_once(
    db: Database,
    ari: AriClient,  # noqa: F811
    tmp_path: Path,
) -> None:
    callback_settings = load_settings(
        _env_file=None, timezone="Asia/Shanghai", data_dir=tmp_path / "var"
    )
    dead = _dialer(ari, db, callback_settings, tmp_path / "dead")
    attempt = await _placed_by(dead, db)
    await dead.renew_lease()  # its lease is fresh: a plain dialer would wait 120 s
    leader = _dialer(ari, db, callback_settings, tmp_path / "leader")
    leader.lease_seconds = 0.0  # what running_dialer(sole_dialer=True) sets
    await leader.renew_lease()
    await reconcile(leader)
    report = await leader.take_over_orphans()
    assert report is not None
    assert report.actions[attempt.attempt_id].startswith("finished failed")
    row = await _row(db, attempt.attempt_id)
    assert (row.state, row.instance_id) == ("failed", leader.instance_id)
