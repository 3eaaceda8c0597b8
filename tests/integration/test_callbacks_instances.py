"""Two agents with the same ``pbx_id`` (issue 14, finding 6): each reconciles only its own
callback attempts, and takes over another's only once that dialer's lease ran out.

Before: start-up reconciliation took every unfinished attempt of the ``pbx_id`` — a live
call of the other agent was finished as ``failed`` and rescheduled, and the customer was
called again — and the attempts of an agent that never came back stayed unfinished (the
callback ``in_progress``) forever. Real PostgreSQL; a fake ARI whose PBX has no channels
(the other agent's call is on its own PBX); leases shortened from minutes to a second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from ivr_agent.callbacks.attempts import (
    ClaimedAttempt,
    claim_due,
    take_unfinished,
    unfinished_attempts,
)
from ivr_agent.callbacks.dialer import Dialer
from ivr_agent.callbacks.dialing import channel_id_for
from ivr_agent.callbacks.jobs import CallbackRequest, create_callback
from ivr_agent.callbacks.journal import Journal
from ivr_agent.callbacks.queries import get_callback
from ivr_agent.callbacks.reconcile import reconcile
from ivr_agent.core.callbacks import CallbackConfig
from ivr_agent.db.database import Database
from ivr_agent.db.models import CallbackAttemptRow
from ivr_agent.pbx.ari import AriClient, AriTarget
from ivr_agent.pbx.session import Ivr
from ivr_agent.pbx.stasis import StasisRouter
from ivr_agent.settings import Settings, load_settings
from tests.support.ivr import FileCatalogue

pytestmark = pytest.mark.postgres

MONDAY = datetime(2026, 11, 23, 10, 40, tzinfo=CallbackConfig().zone)


async def _no_channels(request: web.Request) -> web.Response:
    return web.json_response([])


@pytest.fixture
async def ari() -> AsyncIterator[AriClient]:
    app = web.Application()
    app.router.add_get("/ari/channels", _no_channels)
    async with (
        TestServer(app, host="127.0.0.1") as server,
        AriClient(AriTarget(str(server.make_url("")).rstrip("/"), "u", "p")) as client,
    ):
        yield client


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(_env_file=None, timezone="Asia/Shanghai", data_dir=tmp_path / "var")


def _dialer(ari: AriClient, db: Database, settings: Settings, home: Path) -> Dialer:
    """An agent's dialer; ``home`` is its data dir's journal (its instance id is kept there)."""
    ivr = Ivr(ari, StasisRouter(ari, settings.ari_app), FileCatalogue(frozenset()), settings)
    return Dialer(ivr, db, journal=Journal(home), clock=lambda: MONDAY)


async def _placed_by(dialer: Dialer, db: Database, number: str = "13800138000") -> ClaimedAttempt:
    """A callback claimed by ``dialer`` (its call is live on its own PBX)."""
    request = CallbackRequest(number, None, "manual", MONDAY)
    await create_callback(db, request, CallbackConfig(), MONDAY)
    [attempt] = await claim_due(
        db,
        MONDAY,
        limit=1,
        pbx_id=dialer.settings.pbx_id,
        channel_id_for=channel_id_for,
        instance_id=dialer.instance_id,
    )
    return attempt


async def _row(db: Database, attempt_id: str) -> CallbackAttemptRow:
    async with db.transaction() as session:
        row = await session.scalar(
            select(CallbackAttemptRow).where(CallbackAttemptRow.attempt_id == attempt_id)
        )
        assert row is not None
        return row


def _renewed_for_a_lease(dialer: Dialer) -> None:
    """As if ``dialer`` had renewed its lease without a break for a whole lease."""
    dialer.renewed_since = time.monotonic() - dialer.lease_seconds - 1


async def test_given_another_live_agent_with_the_same_pbx_id_then_its_call_is_left_alone(
    db: Database, ari: AriClient, settings: Settings, tmp_path: Path
) -> None:
    first = _dialer(ari, db, settings, tmp_path / "a")
    second = _dialer(ari, db, settings, tmp_path / "b")
    assert first.instance_id != second.instance_id
    attempt = await _placed_by(first, db)
    await first.renew_lease()

    # The second agent starts: its reconciliation does not touch the first's live call.
    report = await reconcile(second)
    assert report.actions == {}
    _renewed_for_a_lease(second)
    later = await second.take_over_orphans()
    assert later is not None
    assert later.actions == {}
    row = await _row(db, attempt.attempt_id)
    assert (row.state, row.instance_id) == ("dialling", first.instance_id)
    stored = await get_callback(db, attempt.callback_id, CallbackConfig().zone)
    assert stored is not None
    assert stored["status"] == "in_progress"
    # Nor would a StasisStart the second sees adopt it: only its own attempts are looked up.
    assert (
        await unfinished_attempts(db, pbx_id=settings.pbx_id, instance_id=second.instance_id) == []
    )


async def test_given_an_agent_that_never_returns_then_its_attempt_is_taken_over_after_the_lease(
    db: Database, ari: AriClient, settings: Settings, tmp_path: Path
) -> None:
    gone = _dialer(ari, db, settings, tmp_path / "gone")
    attempt = await _placed_by(gone, db)
    survivor = _dialer(ari, db, settings, tmp_path / "survivor")
    survivor.lease_seconds = 1.0

    await survivor.renew_lease()
    await reconcile(survivor)  # start-up: own attempts only
    assert (await _row(db, attempt.attempt_id)).state == "dialling"
    # Just (re)connected: the survivor does not judge others dead before a lease of its own.
    assert await survivor.take_over_orphans() is None

    await asyncio.sleep(1.2)  # the gone agent renews nothing; the survivor does
    await survivor.renew_lease()
    report = await survivor.take_over_orphans()
    assert report is not None
    assert report.actions[attempt.attempt_id].startswith("finished failed")
    row = await _row(db, attempt.attempt_id)
    assert (row.state, row.outcome, row.instance_id) == ("failed", "failed", survivor.instance_id)
    stored = await get_callback(db, attempt.callback_id, CallbackConfig().zone)
    assert stored is not None
    assert stored["status"] == "pending"  # rescheduled, no longer in_progress forever


async def test_given_the_same_agent_restarted_then_it_reconciles_its_own_attempts_at_once(
    db: Database, ari: AriClient, settings: Settings, tmp_path: Path
) -> None:
    before = _dialer(ari, db, settings, tmp_path / "a")
    attempt = await _placed_by(before, db)
    after = _dialer(ari, db, settings, tmp_path / "a")  # same data dir: same dialer
    assert after.instance_id == before.instance_id
    report = await reconcile(after)
    assert report.actions[attempt.attempt_id].startswith("finished failed")


async def test_given_two_agents_taking_over_at_once_then_each_orphan_is_taken_once(
    db: Database, ari: AriClient, settings: Settings, tmp_path: Path
) -> None:
    gone = _dialer(ari, db, settings, tmp_path / "gone")
    orphans = {(await _placed_by(gone, db, f"1380013800{n}")).attempt_id for n in range(6)}
    await asyncio.sleep(0.3)

    async def take(instance_id: str) -> set[str]:
        taken = await take_unfinished(
            db,
            pbx_id=settings.pbx_id,
            instance_id=instance_id,
            lease_seconds=0.2,
            own=False,
            orphans=True,
        )
        return {a.attempt_id for a in taken}

    first, second = await asyncio.gather(take("agent-b"), take("agent-c"))
    assert first.isdisjoint(second)
    assert first | second == orphans
    # Taken means leased again: a third agent finds nothing expired.
    assert await take("agent-d") == set()
