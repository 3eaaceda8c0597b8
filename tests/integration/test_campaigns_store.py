"""Regular campaigns in a real PostgreSQL: runs, the scheduler, own windows, figures.

The property the issue asks for — a campaign dials each customer once — is checked with
duplicate numbers in the list, repeated ticks and two schedulers (two connection pools, as
two agents) racing for the same run.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.engine import URL

from ivr_agent.callbacks.attempts import AttemptResult, claim_due, finish_attempt
from ivr_agent.callbacks.queries import get_callback
from ivr_agent.campaigns import (
    CampaignScheduler,
    NewCampaign,
    create_campaign,
    create_due_runs,
    get_campaign,
    set_active,
)
from ivr_agent.core.callbacks import CallbackConfig
from ivr_agent.core.campaigns import customer_list, parse_windows
from ivr_agent.db.database import Database, connect
from ivr_agent.db.models import CallbackRow
from ivr_agent.recordings.files import RecordingFile

pytestmark = pytest.mark.postgres

CONFIG = CallbackConfig()
ZONE = CONFIG.zone
# Monday 1 March 2027 (no holidays in CONFIG): a run day of days 1,15.
RUN_DAY = date(2027, 3, 1)
SCORES = {"skill": 5, "attitude": 4, "timeliness": 3, "parts": 4, "overall": 5}


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZONE)


def _channel(attempt_id: str) -> str:
    return f"ivr-agent-cb-{attempt_id}"


def _campaign(
    numbers: list[str], *, days: tuple[int, ...] = (1, 15), windows: str | None = None
) -> NewCampaign:
    rows = [(n, {"number": number, "name": f"客户{n}"}) for n, number in enumerate(numbers, 2)]
    return NewCampaign(
        f"回访-{uuid.uuid4().hex[:8]}",
        days,
        None if windows is None else parse_windows(windows),
        customer_list(rows),
    )


async def _callbacks(db: Database, campaign_id: str) -> list[CallbackRow]:
    async with db.transaction() as session:
        rows = await session.scalars(
            select(CallbackRow)
            .where(CallbackRow.campaign_id == campaign_id)
            .order_by(CallbackRow.customer_number)
        )
        return list(rows.all())


# ------------------------------------------------------------- the property --

numbers = st.sampled_from(
    [f"1380013{n:04d}" for n in range(12)] + ["138-0013-0001", "+86139001390"]
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    listed=st.lists(numbers, min_size=1, max_size=25),
    ticks=st.integers(1, 3),
    minute=st.integers(0, 16 * 60),
)
async def test_a_campaign_dials_each_customer_once(
    db: Database, migrated_database_url: URL, listed: list[str], ticks: int, minute: int
) -> None:
    new = _campaign(listed)
    distinct = {c.number for c in new.customers}
    campaign_id = await create_campaign(db, new, RUN_DAY)
    now = at(RUN_DAY, 0) + timedelta(minutes=minute)
    # Two agents (two pools) tick at once, several times.
    async with connect(migrated_database_url) as other:
        for _ in range(ticks):
            await asyncio.gather(
                create_due_runs(db, CONFIG, now), create_due_runs(other, CONFIG, now)
            )
    rows = await _callbacks(db, campaign_id)
    assert sorted(r.customer_number for r in rows) == sorted(distinct)
    assert {(r.run_date, r.reason, r.status) for r in rows} == {(RUN_DAY, "campaign", "pending")}
    # The dialler claims each once: at the run's due time, and nothing is left after.
    due = rows[0].due_at
    claimed = await claim_due(
        db, due, limit=1000, pbx_id="pbx1", channel_id_for=_channel, config=CONFIG
    )
    ours = [c for c in claimed if c.callback_id in {r.callback_id for r in rows}]
    assert sorted(c.customer_number for c in ours) == sorted(distinct)
    again = await claim_due(
        db, due, limit=1000, pbx_id="pbx1", channel_id_for=_channel, config=CONFIG
    )
    assert not {c.callback_id for c in again} & {r.callback_id for r in rows}
    # Later examples must not see this campaign's runs.
    await set_active(db, campaign_id, False, now)


# ------------------------------------------------------------ the scheduler --


async def test_given_an_agent_started_later_on_a_run_day_then_the_run_is_due_at_once(
    db: Database,
) -> None:
    campaign_id = await create_campaign(db, _campaign(["13800138000"]), RUN_DAY)
    (made,) = await create_due_runs(db, CONFIG, at(RUN_DAY, 15, 10))
    assert (made.campaign_id, made.run_date, made.created, made.callbacks) == (
        campaign_id,
        RUN_DAY,
        True,
        1,
    )
    (row,) = await _callbacks(db, campaign_id)
    assert row.due_at == at(RUN_DAY, 15, 10)
    assert row.deadline == at(RUN_DAY, 17, 30)
    assert await create_due_runs(db, CONFIG, at(RUN_DAY, 16)) == []
    # The callback API names its campaign and run.
    shown = await get_callback(db, row.callback_id, CONFIG.zone)
    assert shown is not None
    assert (shown["campaign_id"], shown["run_date"]) == (campaign_id, RUN_DAY.isoformat())


async def test_given_a_run_day_the_agent_missed_then_only_the_latest_run_is_made_late(
    db: Database,
) -> None:
    campaign_id = await create_campaign(db, _campaign(["13800138000"]), date(2027, 2, 1))
    # Down from before 15 February until 2 March: the 15th's run is skipped, the 1st's made.
    (made,) = await create_due_runs(db, CONFIG, at(date(2027, 3, 2), 9))
    assert made.run_date == RUN_DAY
    (row,) = await _callbacks(db, campaign_id)
    assert row.due_at == at(date(2027, 3, 2), 10, 30)
    assert not row.overdue


async def test_given_a_paused_campaign_then_no_run_and_its_pending_callbacks_are_cancelled(
    db: Database,
) -> None:
    campaign_id = await create_campaign(db, _campaign(["13800138000", "13900139000"]), RUN_DAY)
    await create_due_runs(db, CONFIG, at(RUN_DAY, 8))
    assert await set_active(db, campaign_id, False, at(RUN_DAY, 9)) == 2
    assert {r.status for r in await _callbacks(db, campaign_id)} == {"cancelled"}
    assert await create_due_runs(db, CONFIG, at(date(2027, 3, 15), 8)) == []
    assert await set_active(db, campaign_id, True, at(date(2027, 3, 15), 9)) == 0
    (made,) = await create_due_runs(db, CONFIG, at(date(2027, 3, 15), 9))
    assert made.run_date == date(2027, 3, 15)


async def test_given_a_scheduler_task_then_a_tick_creates_the_run_and_tells_the_dialer(
    db: Database,
) -> None:
    await create_campaign(db, _campaign(["13800138000"]), RUN_DAY)
    told: list[int] = []
    scheduler = CampaignScheduler(
        db,
        lambda: CONFIG,
        now=lambda: at(RUN_DAY, 10),
        on_runs=lambda runs: told.append(len(runs)),
        tick_seconds=3600,
    )
    task = asyncio.create_task(scheduler.run())
    try:
        for _ in range(100):
            if told:
                break
            await asyncio.sleep(0.05)
        assert told == [1]
        scheduler.wake()  # a second tick finds the run made: nothing more
        await asyncio.sleep(0.3)
        assert told == [1]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


# --------------------------------------------------------------- own windows --


async def test_given_own_windows_then_the_claim_and_the_retry_keep_to_them(db: Database) -> None:
    campaign_id = await create_campaign(
        db, _campaign(["13800138000"], windows="15:00-16:00"), RUN_DAY
    )
    await create_due_runs(db, CONFIG, at(RUN_DAY, 8))
    (row,) = await _callbacks(db, campaign_id)
    # One hour holds two of the three attempts 30 min apart: the third is the next day's.
    assert (row.due_at, row.deadline, row.calling_windows) == (
        at(RUN_DAY, 15),
        at(RUN_DAY + timedelta(days=1), 16),
        "15:00-16:00",
    )
    # Reached in the settings' morning window (it was made due earlier by hand): not dialled.
    async with db.transaction() as session:
        stored = await session.get(CallbackRow, row.callback_id)
        assert stored is not None
        stored.next_attempt_at = at(RUN_DAY, 10, 40)
    claimed = await claim_due(
        db, at(RUN_DAY, 10, 40), limit=10, pbx_id="pbx1", channel_id_for=_channel, config=CONFIG
    )
    assert claimed == []
    (moved,) = await _callbacks(db, campaign_id)
    assert moved.next_attempt_at == at(RUN_DAY, 15)
    (attempt,) = await claim_due(
        db, at(RUN_DAY, 15), limit=10, pbx_id="pbx1", channel_id_for=_channel, config=CONFIG
    )
    following = await finish_attempt(
        db, attempt.attempt_id, AttemptResult("no_answer"), at(RUN_DAY, 15, 1), config=CONFIG
    )
    assert following.next_attempt_at == at(RUN_DAY, 15, 31)


# ------------------------------------------------------------------- figures --


async def test_given_a_run_with_outcomes_then_the_figures_count_them(db: Database) -> None:
    campaign_id = await create_campaign(
        db, _campaign(["13800138000", "13900139000", "13700137000"]), RUN_DAY
    )
    await create_due_runs(db, CONFIG, at(RUN_DAY, 8))
    first, second, _ = await claim_due(
        db, at(RUN_DAY, 10, 30), limit=10, pbx_id="pbx1", channel_id_for=_channel, config=CONFIG
    )
    recording = RecordingFile(f"{1:032x}", f"recordings/00/{1:032x}.wav", "a" * 64, 16044, 1.0)
    await finish_attempt(
        db,
        first.attempt_id,
        AttemptResult(
            "completed", answered_at=at(RUN_DAY, 10, 30), scores=SCORES, recording=recording
        ),
        at(RUN_DAY, 10, 33),
        config=CONFIG,
    )
    declined = RecordingFile(f"{2:032x}", f"recordings/00/{2:032x}.wav", "b" * 64, 16044, 1.0)
    await finish_attempt(
        db,
        second.attempt_id,
        AttemptResult("declined", answered_at=at(RUN_DAY, 10, 30), recording=declined),
        at(RUN_DAY, 10, 31),
        config=CONFIG,
    )
    found = await get_campaign(db, campaign_id, ZONE, RUN_DAY)
    assert found is not None
    values = {name: f["value"] for name, f in found["figures"].items()}
    assert values == {
        "customers": 3,
        "callbacks": 3,
        "completed": 1,
        "declined": 1,
        "unreachable": 0,
        "cancelled": 0,
        "open": 1,
        "overdue": 0,
        "completion_rate": round(1 / 3, 6),
        "satisfaction_index": 4.2,
    }
    (run,) = found["runs"]
    assert run["run_date"] == "2027-03-01"
    assert run["figures"]["completed"]["value"] == 1
    assert found["run_count"] == 1
    async with db.transaction() as session:
        total = await session.scalar(select(func.count()).select_from(CallbackRow))
    assert total == 3
