"""Recorded callbacks end to end against the real sandbox (S5), judged on the phones side.

The agent runs in-process (AMI + ARI + a real PostgreSQL); its dialer is driven by the test
(``Dialer.poll(now)``) so that "later" can be passed in instead of waited for (the retry
interval is 1 minute, the smallest setting). Customers are the simulator's callback
scenarios, awaiting the agent's call on the phones instance (``callbacks_from_agent``);
what they did and how many calls reached them is measured there, not by the agent.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import pytest
import structlog
import structlog.testing
from sqlalchemy import func, select
from sqlalchemy.engine import URL

from ivr_agent.app import IVR
from ivr_agent.callbacks.call import recording_name_for
from ivr_agent.callbacks.dialer import ROUTE, Dialer
from ivr_agent.callbacks.jobs import CallbackRequest, create_callback
from ivr_agent.callbacks.queries import get_callback
from ivr_agent.callbacks.reconcile import reconcile
from ivr_agent.core.callbacks import CallbackConfig
from ivr_agent.db.database import Database
from ivr_agent.db.models import CallbackAttemptRow, RecordingRow, SurveyScoreRow
from ivr_agent.pbx.ari import AriClient, AriError
from ivr_agent.pbx.ari_events import AriEvents
from ivr_agent.recordings.files import verify_wav
from ivr_agent.settings import Settings
from ivr_agent.sim import runner, sandbox
from ivr_agent.sim import scenario as scenarios
from tests.integration.sandbox_support import ARTIFACTS, progress, running_sandbox
from tests.support.agent import running_agent, sandbox_settings
from tests.support.net import free_port

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]

ZONE = UTC
SURVEY_NUMBER = "13900139001"


def _settings_for(box: sandbox.Sandbox, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        # Always inside a calling window, every day: the test runs whenever it is run.
        "callback_windows": "00:00-12:00,12:00-00:00",
        "callback_working_days": "mon-sun",
        "holidays": "",
        "callback_retry_minutes": 1,
        "callback_max_attempts": 3,
        "callback_ring_seconds": 8,
        "callback_auto_for_abandoned": False,
        # The test drives its own dialer (and so the clock).
        "callback_dialer_enabled": False,
    }
    values.update(overrides)
    return sandbox_settings(box, data_dir, "cb", **values)


@pytest.fixture
def cb_settings(tmp_path: Path) -> Settings:
    return _settings_for(running_sandbox(), tmp_path / "var")


@contextlib.asynccontextmanager
async def driven_dialer(settings: Settings, db: Database) -> AsyncIterator[Dialer]:
    """An agent whose dialer the test drives: reconciled, then ``poll(now)`` by hand."""
    async with running_agent(settings, db) as app:
        dialer = Dialer(app[IVR].get(), db)
        app[IVR].get().router.route(ROUTE, dialer.on_stasis_start)
        await reconcile(dialer)
        dialer.reconciled.set()
        try:
            yield dialer
        finally:
            await dialer.close()


@dataclass
class Phones:
    """A simulator run on the phones instance that also counts the calls reaching a number."""

    results: list[dict[str, Any]]
    calls_to: dict[str, int]


async def run_phones(plan: scenarios.Scenario) -> Phones:
    """Run ``plan``'s customers (awaiting the agent's calls); count every leg per number."""
    config = runner.RunnerConfig.from_env_file(running_sandbox().credentials_file)
    assert config.lock_file is not None
    with config.lock_file.open("w") as lock:
        import fcntl

        fcntl.flock(lock, fcntl.LOCK_EX)
        async with AriClient(config.phones) as ari:
            sim = runner.Simulation(ari, None, plan, progress)
            events = AriEvents(ari, [runner.APP])

            async def feed() -> None:
                async for event in events:
                    sim.hub.dispatch(event)

            await asyncio.wait_for(events.start(), 10)
            pump = asyncio.create_task(feed())
            try:
                results = await sim.run()
            finally:
                await events.close()
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pump
    counts: dict[str, int] = {}
    for leg in sim.hub.legs.values():
        counts[leg.exten] = counts.get(leg.exten, 0) + 1
    return Phones(results, counts)


def customers(name: str, **changes: Any) -> scenarios.Scenario:
    """A shipped callback scenario whose customers wait for the agent's call."""
    from dataclasses import replace

    plan = scenarios.load(name).callbacks_from_agent()
    if changes:
        plan = replace(plan, callbacks=tuple(replace(c, **changes) for c in plan.callbacks))
    return plan


async def new_callback(
    db: Database, number: str, settings: Settings, reason: str = "manual"
) -> str:
    now = datetime.now(UTC)
    created = await create_callback(
        db,
        CallbackRequest(number, "张先生", reason, now, pbx_id=settings.pbx_id),
        CallbackConfig.from_settings(settings),
        now,
    )
    return created.callback_id


async def dial_while_customers_wait(
    dialer: Dialer, plan: scenarios.Scenario, now: datetime | None = None
) -> Phones:
    """Start the customers, let the dialer claim what is due at ``now``, wait for both."""
    phones = asyncio.create_task(run_phones(plan))
    await asyncio.sleep(1.5)  # the customers' websocket is up
    claimed = await dialer.poll(now)
    assert claimed, "nothing was due"
    await dialer.idle()
    return await asyncio.wait_for(phones, 120)


async def rows(db: Database, model: Any, **where: Any) -> list[Any]:
    async with db.transaction("test read") as session:
        query = select(model).filter_by(**where)
        return list(await session.scalars(query))


def save(name: str, data: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"callback-{name}.json").write_text(
        json.dumps(data, ensure_ascii=False, indent=1, default=str)
    )


def _loudest_sample(wav: bytes) -> int:
    samples = array.array("h", wav[44:])
    return max((abs(s) for s in samples), default=0)


async def test_full_survey_stores_scores_index_and_a_verified_recording_as_long_as_the_call(
    cb_settings: Settings, db: Database
) -> None:
    # The handbooks' service callback (S5): the customer agrees, says the problem is NOT
    # solved (2), scores the five questions, and hears the closing with the hotline number.
    settings = cb_settings.model_copy(update={"hotline": "400-800-8888"})
    callback_id = await new_callback(db, SURVEY_NUMBER, settings, reason="service_completed")
    keys = ["1", "2", "5", "4", "5", "5", "4"]
    with structlog.testing.capture_logs() as logs:
        async with driven_dialer(settings, db) as dialer:
            phones = await dial_while_customers_wait(
                dialer, customers("callback_survey", digits=keys)
            )
            ari = dialer.ivr.client
            (truth,) = phones.results
            stored = await get_callback(db, callback_id, ZONE)
            assert stored is not None
            save("survey", {"truth": truth, "stored": stored})
            assert truth["completed"], truth["errors"]
            # The recording was deleted from the PBX once it was kept.
            with pytest.raises(AriError) as gone:
                await ari.stored_recording(recording_name_for(stored["attempts"][0]["attempt_id"]))
            assert gone.value.status == 404
    heard = [
        name for e in logs if e["event"] == "callback_prompts_started" for name in e["prompts"]
    ]

    assert phones.calls_to[SURVEY_NUMBER] == 1
    assert [d["digit"] for d in truth["digits_pressed"]] == keys
    assert stored["status"] == "completed"
    assert stored["outcome"] == "completed"
    assert stored["scores"] == {
        "skill": 5,
        "attitude": 4,
        "timeliness": 5,
        "parts": 5,
        "overall": 4,
    }
    assert stored["satisfaction_index"] == pytest.approx(4.6)
    # "Not solved" is kept and flags the callback for follow-up.
    assert (stored["problem_solved"], stored["follow_up"]) == (False, True)
    assert heard == [
        "callback_opening",
        "survey_confidential",
        "survey_problem_solved",
        "survey_follow_up",
        "survey_skill",
        *[
            p
            for q in ("attitude", "timeliness", "parts", "overall")
            for p in ("survey_thanks", f"survey_{q}")
        ],
        "callback_hotline",
        "callback_closing",
    ]
    (attempt,) = stored["attempts"]
    assert attempt["state"] == "finished"
    assert attempt["channel_id"] == f"ivr-agent-cb-{attempt['attempt_id']}"

    recording = stored["recording"]
    assert recording["status"] == "ok", recording
    # As long as the call the customer had (answer → hang-up, measured on the phones side).
    assert recording["seconds"] == pytest.approx(truth["talk_seconds"], abs=1.0)
    (row,) = await rows(db, RecordingRow, recording_id=recording["recording_id"])
    data = (cb_settings.data_dir / row.path).read_bytes()
    assert hashlib.sha256(data).hexdigest() == row.sha256 == recording["sha256"]
    check = verify_wav(data, truth["talk_seconds"])
    assert check.ok, check.reason
    assert (check.sample_rate, check.channels, check.bits_per_sample) == (8000, 1, 16)
    # It holds the prompts the customer heard (played on the recorded bridge), not silence.
    assert _loudest_sample(data) > 1000
    assert row.path == f"recordings/{row.recording_id[:2]}/{row.recording_id}.wav"


async def test_no_answer_is_retried_no_sooner_than_the_interval_and_at_most_3_times(
    cb_settings: Settings, db: Database
) -> None:
    number = "13900139002"
    callback_id = await new_callback(db, number, cb_settings)
    calls = 0
    async with driven_dialer(cb_settings, db) as dialer:
        # The dialer's clock runs ahead of the wall clock by ``skew``: "a minute later" is
        # passed in, not waited for; every time it writes comes from that clock.
        skew = timedelta(0)
        dialer.clock = lambda: datetime.now(UTC) + skew
        for attempt_no in (1, 2, 3):
            phones = await dial_while_customers_wait(dialer, customers("callback_no_answer"))
            calls += phones.calls_to.get(number, 0)
            stored = await get_callback(db, callback_id, ZONE)
            assert stored is not None
            last = stored["attempts"][-1]
            assert (last["attempt_no"], last["outcome"]) == (attempt_no, "no_answer"), last
            assert last["started_at"] < last["ended_at"]
            if attempt_no == 3:
                break
            assert stored["status"] == "pending"
            ended = datetime.fromisoformat(last["ended_at"])
            due = datetime.fromisoformat(stored["next_attempt_at"])
            assert due >= ended + timedelta(minutes=1)
            # Not a second sooner than the interval: nothing is claimed just before it.
            assert await dialer.poll(due - timedelta(seconds=1)) == []
            skew = due - datetime.now(UTC)
        # Three failures: unreachable, and never dialled again however late it gets.
        assert await dialer.poll(dialer.clock() + timedelta(days=1)) == []
    assert stored is not None
    save("no-answer", stored)
    assert stored["status"] == "unreachable"
    assert stored["recording"] is None
    assert calls == 3
    assert len(stored["attempts"]) == 3


async def test_customer_presses_2_then_not_convenient_and_rescheduled_with_a_recording(
    cb_settings: Settings, db: Database
) -> None:
    number = "13900139004"
    callback_id = await new_callback(db, number, cb_settings)
    async with driven_dialer(cb_settings, db) as dialer:
        phones = await dial_while_customers_wait(dialer, customers("callback_not_convenient"))
    stored = await get_callback(db, callback_id, ZONE)
    assert stored is not None
    save("not-convenient", {"truth": phones.results, "stored": stored})
    (truth,) = phones.results
    assert truth["completed"], truth["errors"]
    # "Not now", then "tomorrow morning" when asked for a better time (S5).
    assert [d["digit"] for d in truth["digits_pressed"]] == ["2", "2"]
    assert (stored["status"], stored["outcome"]) == ("pending", "rescheduled")
    (attempt,) = stored["attempts"]
    assert "the customer chose tomorrow_morning" in attempt["detail"]
    ended = datetime.fromisoformat(attempt["ended_at"])
    # The test's windows cover the whole day: tomorrow morning opens at local midnight.
    local = cb_settings.zone
    tomorrow = ended.astimezone(local).date() + timedelta(days=1)
    midnight = datetime.combine(tomorrow, clock_time(0), tzinfo=local)
    assert datetime.fromisoformat(stored["next_attempt_at"]) == midnight
    assert stored["scores"] == {}
    assert stored["recording"]["status"] == "ok"
    assert stored["recording"]["seconds"] == pytest.approx(truth["talk_seconds"], abs=1.0)


async def test_recording_directory_unwritable_then_no_outcome_and_the_attempt_is_rescheduled(
    cb_settings: Settings, db: Database
) -> None:
    box = running_sandbox()
    spool = box.pbx_recording_dir
    mode = spool.stat().st_mode & 0o7777
    callback_id = await new_callback(db, SURVEY_NUMBER, cb_settings)
    try:
        spool.chmod(0o500)  # the asterisk user may read, not write
        async with driven_dialer(cb_settings, db) as dialer:
            phones = await dial_while_customers_wait(dialer, customers("callback_survey"))
    finally:
        spool.chmod(mode)
    stored = await get_callback(db, callback_id, ZONE)
    assert stored is not None
    save("recording-unwritable", {"truth": phones.results, "stored": stored})
    (truth,) = phones.results
    assert phones.calls_to[SURVEY_NUMBER] == 1
    assert truth["outcome"] == "answered"
    # The customer heard the apology (8.4 s) and was hung up on: no survey was run.
    assert truth["talk_seconds"] < 15
    assert len(truth["digits_pressed"]) <= 1
    (attempt,) = stored["attempts"]
    assert attempt["outcome"] == "failed"
    assert "recording" in attempt["detail"]
    assert stored["status"] == "pending"
    assert stored["outcome"] == "failed"
    assert stored["satisfaction_index"] is None
    ended = datetime.fromisoformat(attempt["ended_at"])
    assert datetime.fromisoformat(stored["next_attempt_at"]) >= ended + timedelta(minutes=1)
    assert await rows(db, RecordingRow) == []
    assert await rows(db, SurveyScoreRow) == []


async def test_journal_refused_by_the_disk_then_the_survey_still_ends_with_its_recording(
    cb_settings: Settings, db: Database, tmp_path: Path
) -> None:
    # Issue 14 (chaos run, disk_full): the journal's ENOSPC escaped the call's task, and the
    # customer was left on the line in Stasis with the bridge recording for minutes.
    callback_id = await new_callback(db, SURVEY_NUMBER, cb_settings)
    async with driven_dialer(cb_settings, db) as dialer:
        blocker = tmp_path / "a-file"
        blocker.write_text("")
        dialer.journal.directory = blocker / "callbacks"  # every journal write is refused
        phones = await dial_while_customers_wait(dialer, customers("callback_survey"))
        assert dialer.journal.write_failures > 0
    (truth,) = phones.results
    assert truth["completed"], truth["errors"]
    assert truth["hung_up_by"] == "pbx", truth  # the agent hung up: not left on the line
    stored = await get_callback(db, callback_id, ZONE)
    assert stored is not None
    assert stored["status"] == "completed", stored
    assert stored["recording"]["status"] == "ok", stored["recording"]


async def test_pbx_restarted_mid_survey_then_the_recording_is_kept_whole_not_called_corrupt(
    cb_settings: Settings, db: Database
) -> None:
    # Issue 14 (chaos run): with the PBX gone no RecordingFinished comes, and the time the
    # agent gave up waiting was taken as the end of the recorded part: a whole file of the
    # 5.2 s the call lasted was stored as ``corrupt`` against 10.3 s.
    box = running_sandbox()
    callback_id = await new_callback(db, SURVEY_NUMBER, cb_settings)
    async with driven_dialer(cb_settings, db) as dialer:
        phones = asyncio.create_task(run_phones(customers("callback_survey")))
        await asyncio.sleep(1.5)  # the customers' websocket is up
        assert await dialer.poll()
        answered = time.monotonic()
        while not [a for a in await rows(db, CallbackAttemptRow) if a.answered_at is not None]:
            assert time.monotonic() - answered < 30, "the customer never answered"
            await asyncio.sleep(0.2)
        await asyncio.sleep(4.0)  # into the survey
        await asyncio.to_thread(sandbox.cli, box, box.pbx, "core restart now")
        await asyncio.wait_for(phones, 120)
        await dialer.idle()
        while sandbox.version(box, box.pbx) is None:  # the next tests need it back
            await asyncio.sleep(0.5)
    stored = await get_callback(db, callback_id, ZONE)
    assert stored is not None
    save("pbx-restarted", {"truth": phones.result().results, "stored": stored})
    (attempt,) = stored["attempts"]
    assert attempt["outcome"] in ("hung_up", "failed"), attempt  # the survey was cut
    recording = stored["recording"]
    assert recording is not None, attempt
    assert recording["status"] == "ok", recording
    started, ended = (datetime.fromisoformat(attempt[k]) for k in ("answered_at", "ended_at"))
    # The attempt ends where the recorded part ended: its file's length after the start.
    assert recording["seconds"] == pytest.approx((ended - started).total_seconds(), abs=1.0)


# --- crash: the agent is SIGKILLed mid-callback and restarted -------------------------------


def _agent_env(settings: Settings, database_url: URL, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_AGENT_")}
    creds = sandbox.load_credentials(running_sandbox()).env()
    env.update(
        {
            "IVR_AGENT_DATABASE_URL": database_url.render_as_string(hide_password=False),
            "IVR_AGENT_AMI_URL": creds["IVR_AGENT_AMI_URL"],
            "IVR_AGENT_ARI_URL": creds["IVR_AGENT_ARI_URL"],
            "IVR_AGENT_PROMPTS_DIR": creds["IVR_AGENT_PROMPTS_DIR"],
            "IVR_AGENT_DATA_DIR": str(settings.data_dir),
            "IVR_AGENT_PBX_ID": settings.pbx_id,
            "IVR_AGENT_HTTP_LISTEN": f"127.0.0.1:{port}",
            "IVR_AGENT_CALLBACK_WINDOWS": "00:00-12:00,12:00-00:00",
            "IVR_AGENT_CALLBACK_WORKING_DAYS": "mon-sun",
            "IVR_AGENT_HOLIDAYS": "",
            "IVR_AGENT_CALLBACK_RETRY_MINUTES": "1",
            "IVR_AGENT_CALLBACK_POLL_SECONDS": "0.5",
            "IVR_AGENT_CALLBACK_AUTO_FOR_ABANDONED": "false",
            "IVR_AGENT_LOG_FORMAT": "json",
        }
    )
    return env


def _journal_entries(path: Path) -> list[dict[str, Any]]:
    entries = []
    for file in path.glob("*.json"):
        with contextlib.suppress(OSError, ValueError):
            entries.append(json.loads(file.read_text()))
    return entries


async def _journal_shows(path: Path, predicate: Any, within: float) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for entry in _journal_entries(path):
            if predicate(entry):
                return dict(entry)
        await asyncio.sleep(0.1)
    raise AssertionError(f"no journal entry in {path} reached the expected state")


async def _agent_killed_when(
    settings: Settings, env: dict[str, str], journal_says: Any
) -> dict[str, Any]:
    """`ivr-agent run` as its own process until the callback journal shows an entry for
    which ``journal_says`` holds (within 90 s), then SIGKILLed; returns that entry."""
    with (settings.data_dir.parent / "killed-agent.log").open("a") as log:
        agent = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ivr_agent.cli",
            "run",
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            return await _journal_shows(settings.data_dir / "callbacks", journal_says, 90)
        finally:
            agent.send_signal(signal.SIGKILL)
            await asyncio.wait_for(agent.wait(), 10)


async def _settled(db: Database, callback_id: str, within: float) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        stored = await get_callback(db, callback_id, ZONE)
        assert stored is not None
        if stored["status"] != "in_progress" or time.monotonic() > deadline:
            return stored
        await asyncio.sleep(0.3)


async def test_agent_killed_mid_callback_is_reconciled_on_restart_with_one_call_per_attempt(
    cb_settings: Settings, db: Database, migrated_database_url: URL
) -> None:
    callback_id = await new_callback(db, SURVEY_NUMBER, cb_settings)
    # The customer presses a key each time a prompt ends. The agent is killed while the third
    # question plays; the customer answers it (5) into the void, hears it again from the
    # restarted agent and answers again (5), then scores the last two (5, 4).
    plan = customers("callback_survey", digits=("1", "5", "4", "5", "5", "5", "4"))
    phones = asyncio.create_task(run_phones(plan))
    await asyncio.sleep(1.5)
    env = _agent_env(cb_settings, migrated_database_url, free_port())
    # Killed once the customer has agreed and scored two questions.
    before = await _agent_killed_when(cb_settings, env, lambda e: e.get("asked", 0) >= 2)
    progress(f"agent killed with the journal at {before}")
    # The question in progress ends (about 6 s) and its key is pressed while no agent runs.
    await asyncio.sleep(9)
    (attempt,) = await rows(db, CallbackAttemptRow, callback_id=callback_id)
    assert attempt.state in ("dialling", "answered")

    # Restarted: the same data dir and PBX id, this time with its own dialer running.
    restarted = cb_settings.model_copy(update={"callback_dialer_enabled": True})
    async with running_agent(restarted, db):
        truths = await asyncio.wait_for(phones, 120)
        stored = await _settled(db, callback_id, 30)
    save("killed", {"truth": truths.results, "stored": stored, "journal_before": before})
    (truth,) = truths.results
    assert truth["completed"], truth["errors"]
    # Exactly one call reached the customer for the one attempt: nothing was redialled.
    assert truths.calls_to[SURVEY_NUMBER] == 1
    async with db.transaction("count") as session:
        attempts = await session.scalar(
            select(func.count()).select_from(CallbackAttemptRow).filter_by(callback_id=callback_id)
        )
    assert attempts == 1
    assert stored["outcome"] == "completed", stored
    assert stored["scores"] == {
        "skill": 5,
        "attitude": 4,
        "timeliness": 5,
        "parts": 5,
        "overall": 4,
    }
    assert stored["recording"]["status"] == "ok"
    # The recording ran on the PBX while the agent was dead: it covers the whole call.
    assert stored["recording"]["seconds"] == pytest.approx(truth["talk_seconds"], abs=1.0)
    assert not list((cb_settings.data_dir / "callbacks").glob("*.json"))


async def test_agent_killed_and_customer_gone_before_restart_then_finished_from_the_pbx_recording(
    cb_settings: Settings, db: Database, migrated_database_url: URL
) -> None:
    callback_id = await new_callback(db, SURVEY_NUMBER, cb_settings)
    # The customer scores the first question, then hangs up 36 s after answering, while the
    # agent is dead: at restart there is no channel, only the recording on the PBX. (The
    # opening with the name lasts ~15.5 s, the confidentiality line and the first question
    # ~11 s: the first score comes ~28 s in.)
    plan = customers("callback_survey", hangup_after=36.0)
    phones = asyncio.create_task(run_phones(plan))
    await asyncio.sleep(1.5)
    env = _agent_env(cb_settings, migrated_database_url, free_port())
    before = await _agent_killed_when(cb_settings, env, lambda e: e.get("asked", 0) >= 1)
    truths = await asyncio.wait_for(phones, 120)  # the customer has hung up
    (attempt,) = await rows(db, CallbackAttemptRow, callback_id=callback_id)
    assert attempt.state in ("dialling", "answered")

    restarted = cb_settings.model_copy(update={"callback_dialer_enabled": True})
    async with running_agent(restarted, db) as app:
        stored = await _settled(db, callback_id, 30)
        with pytest.raises(AriError) as gone:
            await app[IVR].get().client.stored_recording(recording_name_for(attempt.attempt_id))
        assert gone.value.status == 404  # kept by the agent, then deleted from the PBX
    save("killed-customer-gone", {"truth": truths.results, "stored": stored, "before": before})
    (truth,) = truths.results
    assert truth["hung_up_by"] == "customer"
    assert truths.calls_to[SURVEY_NUMBER] == 1
    (finished,) = stored["attempts"]
    assert finished["outcome"] == "failed"
    assert "agent restarted" in finished["detail"]
    assert finished["scores"] == {"skill": 5}  # the answer given before the crash is kept
    assert stored["status"] == "pending"  # rescheduled by the rules, not redialled now
    ended = datetime.fromisoformat(finished["ended_at"])
    assert datetime.fromisoformat(stored["next_attempt_at"]) >= ended + timedelta(minutes=1)
    recording = stored["recording"]
    assert recording["status"] == "ok", recording
    (row,) = await rows(db, RecordingRow, recording_id=recording["recording_id"])
    data = (cb_settings.data_dir / row.path).read_bytes()
    assert hashlib.sha256(data).hexdigest() == row.sha256
    # The whole call is in it, though no agent ran for its end: answer → the customer's
    # hang-up, as measured on the phones side.
    talk = (
        datetime.fromisoformat(truth["ended_at"]) - datetime.fromisoformat(truth["answered_at"])
    ).total_seconds()
    assert recording["seconds"] == pytest.approx(talk, abs=1.0)
    assert not list((cb_settings.data_dir / "callbacks").glob("*.json"))
