"""Callback jobs in a real PostgreSQL: create, claim (SKIP LOCKED), finish, read back."""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import URL

from ivr_agent.callbacks.attempts import (
    AttemptAlreadyFinished,
    AttemptResult,
    ClaimedAttempt,
    claim_due,
    dialling_attempts,
    finish_attempt,
    mark_answered,
    unless_recorded,
)
from ivr_agent.callbacks.jobs import CallbackRequest, create_callback
from ivr_agent.callbacks.queries import get_callback, list_callbacks
from ivr_agent.calls.outbox import Outbox
from ivr_agent.calls.store import save_outcome
from ivr_agent.cli.data import export_calls
from ivr_agent.core.callbacks import CallbackConfig
from ivr_agent.core.outcome import CallOutcome, call_id_for
from ivr_agent.db.database import Database, connect
from ivr_agent.db.models import CallbackAttemptRow, RecordingRow, SurveyScoreRow
from ivr_agent.recordings.files import RecordingFile
from ivr_agent.settings import load_settings
from tests.support.outcomes import sample_outcome

pytestmark = pytest.mark.postgres

CONFIG = CallbackConfig()
ZONE = CONFIG.zone
# Monday 2026-11-23 10:40 Shanghai: inside the 10:30-11:30 window.
MONDAY = datetime(2026, 11, 23, 10, 40, tzinfo=ZONE)
SCORES = {"skill": 5, "attitude": 4, "timeliness": 3, "parts": 4, "overall": 5}


def _request(number: str = "13800138000", reason: str = "manual") -> CallbackRequest:
    return CallbackRequest(number, "张三", reason, MONDAY)


def _channel(attempt_id: str) -> str:
    return f"ivr-agent-cb-{attempt_id}"


def _recording(n: int = 1) -> RecordingFile:
    return RecordingFile(f"{n:032x}", f"recordings/00/{n:032x}.wav", "a" * 64, 16044, 1.0)


async def _claim_one(db: Database, now: datetime = MONDAY) -> ClaimedAttempt:
    claimed = await claim_due(db, now, limit=10, pbx_id="pbx1", channel_id_for=_channel)
    assert len(claimed) == 1
    return claimed[0]


async def test_given_a_manual_callback_in_a_window_then_it_is_due_at_once_and_claimed_once(
    db: Database,
) -> None:
    created = await create_callback(db, _request(), CONFIG, MONDAY)
    assert created.due_at == MONDAY
    assert not created.overdue

    attempt = await _claim_one(db)
    assert attempt.callback_id == created.callback_id
    assert (attempt.attempt_no, attempt.state) == (1, "dialling")
    assert attempt.channel_id == _channel(attempt.attempt_id)
    # Claimed: nobody else gets it, and the crash list shows it until it is finished.
    assert await claim_due(db, MONDAY, limit=10, pbx_id="pbx2", channel_id_for=_channel) == []
    assert [a.attempt_id for a in await dialling_attempts(db)] == [attempt.attempt_id]
    assert await dialling_attempts(db, pbx_id="pbx2") == []
    stored = await get_callback(db, created.callback_id, ZONE)
    assert stored is not None
    assert (stored["status"], stored["attempts_made"]) == ("in_progress", 1)


async def test_given_a_completed_survey_then_scores_index_and_recording_are_written_together(
    db: Database,
) -> None:
    created = await create_callback(db, _request(), CONFIG, MONDAY)
    attempt = await _claim_one(db)
    await mark_answered(db, attempt.attempt_id, MONDAY + timedelta(seconds=8))
    result = AttemptResult(
        "completed", MONDAY + timedelta(seconds=8), SCORES, _recording(), detail=None
    )
    state = await finish_attempt(
        db, attempt.attempt_id, result, MONDAY + timedelta(seconds=90), config=CONFIG
    )
    assert (state.status, state.next_attempt_at) == ("completed", None)

    stored = await get_callback(db, created.callback_id, ZONE)
    assert stored is not None
    assert stored["status"] == "completed"
    assert stored["outcome"] == "completed"
    assert stored["scores"] == SCORES
    assert stored["satisfaction_index"] == pytest.approx(4.2)
    assert stored["recording"]["recording_id"] == _recording().recording_id
    assert stored["attempts"][0]["state"] == "finished"
    assert stored["attempts"][0]["answered_at"] == (MONDAY + timedelta(seconds=8)).isoformat()

    # Repeating the same finish (a retry after a crash) changes nothing; another outcome is refused.
    again = await finish_attempt(
        db, attempt.attempt_id, result, MONDAY + timedelta(seconds=95), config=CONFIG
    )
    assert again.status == "completed"
    with pytest.raises(AttemptAlreadyFinished):
        await finish_attempt(
            db,
            attempt.attempt_id,
            AttemptResult("no_answer"),
            MONDAY + timedelta(seconds=99),
            config=CONFIG,
        )
    assert await get_callback(db, created.callback_id, ZONE) == stored


@pytest.mark.parametrize("outcome", ["completed", "declined", "rescheduled"])
async def test_given_an_answered_outcome_without_recording_then_nothing_is_written(
    db: Database, outcome: str
) -> None:
    created = await create_callback(db, _request(), CONFIG, MONDAY)
    attempt = await _claim_one(db)
    result = AttemptResult(outcome, MONDAY + timedelta(seconds=5), SCORES, recording=None)
    with pytest.raises(ValueError, match="recording"):
        await finish_attempt(
            db, attempt.attempt_id, result, MONDAY + timedelta(minutes=1), config=CONFIG
        )
    async with db.transaction() as session:
        row = await session.get(CallbackAttemptRow, attempt.attempt_id)
        assert row is not None
        assert (row.state, row.outcome) == ("dialling", None)
        assert (await session.scalars(select(SurveyScoreRow))).all() == []
        assert (await session.scalars(select(RecordingRow))).all() == []
    stored = await get_callback(db, created.callback_id, ZONE)
    assert stored is not None
    assert stored["status"] == "in_progress"


async def test_given_no_answer_then_the_next_attempt_waits_the_interval_and_three_make_unreachable(
    db: Database,
) -> None:
    created = await create_callback(db, _request(), CONFIG, MONDAY)
    now = MONDAY
    for n in range(1, 4):
        attempt = await _claim_one(db, now)
        assert attempt.attempt_no == n
        ended = now + timedelta(seconds=40)
        state = await finish_attempt(
            db, attempt.attempt_id, AttemptResult("no_answer"), ended, config=CONFIG
        )
        if n < 3:
            assert state.status == "pending"
            assert state.next_attempt_at is not None
            assert state.next_attempt_at >= ended + CONFIG.retry_interval
            # Not claimable a moment before it is due.
            early = state.next_attempt_at - timedelta(seconds=1)
            assert await claim_due(db, early, limit=5, pbx_id="pbx1", channel_id_for=_channel) == []
            now = state.next_attempt_at
    assert state.status == "unreachable"
    stored = await get_callback(db, created.callback_id, ZONE)
    assert stored is not None
    assert (stored["status"], stored["attempts_made"], stored["failed_attempts"]) == (
        "unreachable",
        3,
        3,
    )
    assert [a["outcome"] for a in stored["attempts"]] == ["no_answer"] * 3


CORRUPT = RecordingFile(
    "c" * 32,
    "recordings/cc/" + "c" * 32 + ".wav",
    None,
    44,
    0.0,
    "corrupt",
    "data chunk declares 0 bytes",
)


@pytest.mark.parametrize("outcome", ["completed", "declined", "rescheduled"])
async def test_given_a_corrupt_recording_then_the_answer_is_not_kept_and_the_call_is_retried(
    db: Database, outcome: str
) -> None:
    # S5: a corrupt recording never completes a callback.
    created = await create_callback(db, _request(), CONFIG, MONDAY)
    attempt = await _claim_one(db)
    answered = AttemptResult(outcome, MONDAY + timedelta(seconds=3), SCORES, CORRUPT)
    ended = MONDAY + timedelta(seconds=30)
    with pytest.raises(ValueError, match="needs a verified recording, this one is corrupt"):
        await finish_attempt(db, attempt.attempt_id, answered, ended, config=CONFIG)

    # What the dialer writes instead: a failed attempt, the recording kept as evidence.
    state = await finish_attempt(
        db, attempt.attempt_id, unless_recorded(answered), ended, config=CONFIG
    )
    assert state.status == "pending"
    assert state.next_attempt_at is not None
    assert state.next_attempt_at >= ended + CONFIG.retry_interval
    stored = await get_callback(db, created.callback_id, ZONE)
    assert stored is not None
    assert (stored["status"], stored["failed_attempts"]) == ("pending", 1)
    assert stored["satisfaction_index"] is None
    assert stored["recording"]["status"] == "corrupt"
    (tried,) = stored["attempts"]
    assert tried["outcome"] == "failed"
    assert f"the customer's {outcome} is not kept: its recording is corrupt" in tried["detail"]
    assert "recording corrupt: data chunk declares 0 bytes" in tried["detail"]


def test_given_a_verified_recording_or_no_answer_then_the_result_is_kept_as_it_is() -> None:
    kept = AttemptResult("completed", MONDAY, SCORES, _recording())
    assert unless_recorded(kept) is kept
    assert unless_recorded(AttemptResult("no_answer")).outcome == "no_answer"
    unrecorded = unless_recorded(AttemptResult("declined", MONDAY, {}, None))
    assert unrecorded.outcome == "failed"
    assert unrecorded.detail == "no recording for outcome declined"


async def test_given_an_abandoned_call_twice_then_one_callback(db: Database) -> None:
    async with db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO calls (call_id, pbx_id, linkedid, direction, offered_at, ended_at, "
                "abandoned, short_abandon, hold_over_limit, silence, duration_seconds, "
                "over_max_duration, complete) VALUES ('11111111-1111-1111-1111-111111111111', "
                "'pbx1', '1.1', 'inbound', now(), now(), true, false, false, 'none', 20, false, "
                "true)"
            )
        )
    request = CallbackRequest(
        "13800138000", None, "abandoned_call", MONDAY, "11111111-1111-1111-1111-111111111111"
    )
    first = await create_callback(db, request, CONFIG, MONDAY)
    second = await create_callback(db, request, CONFIG, MONDAY + timedelta(minutes=1))
    assert first.created
    assert not second.created
    assert second.callback_id == first.callback_id
    assert len(await list_callbacks(db, ZONE)) == 1


@pytest.mark.parametrize("number", ["1380013800\r\n", "123&45", "1380abc", "1234", "+" + "1" * 21])
async def test_given_a_bad_number_then_nothing_is_stored(db: Database, number: str) -> None:
    with pytest.raises(ValueError, match="customer_number"):
        await create_callback(db, _request(number), CONFIG, MONDAY)
    assert await list_callbacks(db, ZONE) == []


async def test_given_agents_of_two_pbxs_claiming_at_once_then_each_job_is_claimed_once_by_its_pbx(
    migrated_database_url: URL, db: Database
) -> None:
    # Two PBXs' callbacks; two agents race for each PBX (a leader and one that still thinks
    # it leads), on two connections.
    home = {}
    for n in range(30):
        pbx_id = "pbx-a" if n % 2 else "pbx-b"
        request = replace(_request(f"1380013{n:04d}"), pbx_id=pbx_id)
        home[(await create_callback(db, request, CONFIG, MONDAY)).callback_id] = pbx_id
    async with connect(migrated_database_url) as first, connect(migrated_database_url) as second:

        async def drain(agent: Database, pbx_id: str) -> tuple[str, list[str]]:
            got: list[str] = []
            while True:
                batch = await claim_due(
                    agent, MONDAY, limit=2, pbx_id=pbx_id, channel_id_for=_channel
                )
                if not batch:
                    return pbx_id, got
                got.extend(a.callback_id for a in batch)

        claimed = await asyncio.gather(
            drain(first, "pbx-a"),
            drain(second, "pbx-a"),
            drain(first, "pbx-b"),
            drain(second, "pbx-b"),
        )
    every = [cid for _pbx, batch in claimed for cid in batch]
    assert len(every) == len(set(every)) == 30
    assert all(home[cid] == pbx_id for pbx_id, batch in claimed for cid in batch)
    assert sum(1 for _pbx, batch in claimed if batch) >= 3  # both connections took part
    async with db.transaction() as session:
        attempts = (await session.scalars(select(CallbackAttemptRow))).all()
    assert {a.callback_id: a.pbx_id for a in attempts} == home  # dialled through its own PBX


async def test_given_a_callback_of_another_pbx_then_this_pbx_never_claims_it(db: Database) -> None:
    other = await create_callback(db, replace(_request(), pbx_id="pbx-b"), CONFIG, MONDAY)
    assert await claim_due(db, MONDAY, limit=10, pbx_id="pbx1", channel_id_for=_channel) == []
    found = await get_callback(db, other.callback_id, ZONE)
    assert found is not None
    assert (found["pbx_id"], found["status"]) == ("pbx-b", "pending")


async def test_given_a_malformed_pbx_id_then_creating_names_the_field(db: Database) -> None:
    with pytest.raises(ValueError, match=r"^pbx_id: must be 1-32 letters"):
        await create_callback(db, replace(_request(), pbx_id="no spaces"), CONFIG, MONDAY)


async def test_given_an_abandoned_call_of_a_pbx_then_its_callback_is_that_pbxs(
    db: Database,
) -> None:
    start = MONDAY - timedelta(minutes=5)
    outcome = sample_outcome(
        start=start, call_id=call_id_for("pbx-b", "1700000000.1"), pbx_id="pbx-b",
        operator_id=None, answered_at=None, ring_seconds=None, rings=None,
        answered_within_standard=None, abandoned=True, short_abandon=False, holds=(),
        max_hold_seconds=None, hold_over_limit=False, silence="none", prompts_played=(),
        talk_seconds=None, ended_at=start + timedelta(seconds=30), duration_seconds=30.0,
        recording_id=None,
    )  # fmt: skip
    await save_outcome(db, outcome, callbacks=CONFIG, now=MONDAY)
    (callback,) = await list_callbacks(db, ZONE)
    assert (callback["pbx_id"], callback["reason"]) == ("pbx-b", "abandoned_call")


async def test_given_a_row_locked_by_another_agent_then_claim_skips_it_without_waiting(
    migrated_database_url: URL, db: Database
) -> None:
    locked = await create_callback(db, _request("13800000001"), CONFIG, MONDAY)
    free = await create_callback(db, _request("13800000002"), CONFIG, MONDAY)
    async with connect(migrated_database_url) as other, other.transaction() as holder:
        await holder.execute(
            text("SELECT 1 FROM callbacks WHERE callback_id = :id FOR UPDATE"),
            {"id": locked.callback_id},
        )
        claimed = await asyncio.wait_for(
            claim_due(db, MONDAY, limit=10, pbx_id="pbx1", channel_id_for=_channel), 5
        )
        assert [a.callback_id for a in claimed] == [free.callback_id]
    # Released: now the other one can be claimed, exactly once.
    claimed = await claim_due(db, MONDAY, limit=10, pbx_id="pbx1", channel_id_for=_channel)
    assert [a.callback_id for a in claimed] == [locked.callback_id]


async def test_given_a_bad_channel_id_then_nothing_is_claimed(db: Database) -> None:
    await create_callback(db, _request(), CONFIG, MONDAY)
    with pytest.raises(ValueError, match="channel id"):
        await claim_due(db, MONDAY, limit=1, pbx_id="pbx1", channel_id_for=lambda _: "a b\r\n")
    assert len(await claim_due(db, MONDAY, limit=1, pbx_id="pbx1", channel_id_for=_channel)) == 1


async def test_given_now_in_utc_then_times_read_back_in_the_zone_given(db: Database) -> None:
    created = await create_callback(db, _request(), CONFIG, MONDAY.astimezone(UTC))
    stored = await get_callback(db, created.callback_id, ZONE)
    assert stored is not None
    assert stored["due_at"] == MONDAY.isoformat()


# --- automatic callbacks for abandoned inbound calls -------------------------------------------


def _abandoned(linkedid: str, **changes: object) -> CallOutcome:
    ended = MONDAY + timedelta(seconds=40)
    base = {
        "answered_at": None,
        "ended_at": ended,
        "duration_seconds": 40.0,
        "abandoned": True,
        "short_abandon": False,
        "operator_id": None,
        "talk_seconds": None,
        "holds": (),
        "max_hold_seconds": None,
        "hold_over_limit": False,
        "recording_id": None,
    }
    base.update(changes)
    return sample_outcome(linkedid, start=MONDAY, **base)


async def test_given_an_abandoned_call_saved_twice_then_one_callback_from_the_abandon_time(
    db: Database,
) -> None:
    outcome = _abandoned("1763863200.7")
    for _ in range(2):  # a re-save (e.g. complete: false → true) must not add a second
        await save_outcome(db, outcome, callbacks=CONFIG, now=MONDAY + timedelta(minutes=1))
    [callback] = await list_callbacks(db, ZONE)
    assert callback["reason"] == "abandoned_call"
    assert callback["customer_number"] == outcome.caller_number
    assert callback["customer_name"] == "张三"
    assert callback["reference_time"] == outcome.ended_at.astimezone(ZONE).isoformat()
    assert callback["due_at"] == (MONDAY + timedelta(minutes=1)).isoformat()
    assert callback["source_call_id"] == outcome.call_id


async def test_given_a_generic_plan_then_an_abandoned_calls_callback_is_still_created(
    db: Database,
) -> None:
    # Under load PostgreSQL runs a prepared INSERT … ON CONFLICT with a generic plan (after 5
    # runs on a connection): its partial index must be named by a literal predicate, or
    # every abandoned call failed and stalled the outbox (benchmarks/load.py).
    outcomes = [_abandoned(f"1763863300.{n}") for n in range(2)]
    async with db.transaction() as session:
        await session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        for outcome in [*outcomes, outcomes[0]]:
            await save_outcome(session, outcome, callbacks=CONFIG, now=MONDAY)
    callbacks = await list_callbacks(db, ZONE)
    assert sorted(c["source_call_id"] for c in callbacks) == sorted(o.call_id for o in outcomes)


@pytest.mark.parametrize(
    "changes",
    [
        {"short_abandon": True},
        {"abandoned": False},
        {"caller_number": None},
        {"caller_number": "anonymous"},
        {"caller_number": "1001"},  # an internal extension is not a customer line
    ],
)
async def test_given_a_call_that_needs_no_callback_then_none(
    db: Database, changes: dict[str, object]
) -> None:
    await save_outcome(db, _abandoned("1763863200.8", **changes), callbacks=CONFIG, now=MONDAY)
    assert await list_callbacks(db, ZONE) == []


async def test_given_automatic_callbacks_off_then_an_abandoned_call_gets_none(db: Database) -> None:
    await save_outcome(db, _abandoned("1763863200.9"))
    assert await list_callbacks(db, ZONE) == []


async def test_given_the_outbox_with_callbacks_then_the_abandoned_call_gets_one(
    db: Database, tmp_path: Path
) -> None:
    box = Outbox(tmp_path / "spool", callbacks=CONFIG)
    try:
        box.put(_abandoned("1763863200.10"), ())
        assert await box.drain(db) == 1
    finally:
        box.close()
    [callback] = await list_callbacks(db, ZONE)
    assert callback["reason"] == "abandoned_call"


# --- callbacks in the call export --------------------------------------------------------------


async def test_given_calls_and_callback_attempts_then_export_merges_them_by_end_time(
    db: Database, migrated_database_url: URL
) -> None:
    first_call = sample_outcome("1763863200.20", start=MONDAY - timedelta(hours=2))
    last_call = sample_outcome("1763863200.21", start=MONDAY + timedelta(hours=5))
    for call in (first_call, last_call):
        await save_outcome(db, call)
    await create_callback(db, _request(), CONFIG, MONDAY)
    unanswered = await _claim_one(db)
    state = await finish_attempt(
        db,
        unanswered.attempt_id,
        AttemptResult("no_answer"),
        MONDAY + timedelta(seconds=30),
        config=CONFIG,
    )
    assert state.next_attempt_at is not None
    answered = await _claim_one(db, state.next_attempt_at)
    answered_at = state.next_attempt_at + timedelta(seconds=6)
    await finish_attempt(
        db,
        answered.attempt_id,
        AttemptResult("completed", answered_at, SCORES, _recording()),
        answered_at + timedelta(seconds=100),
        config=CONFIG,
    )

    settings = load_settings(
        _env_file=None,
        database_url=migrated_database_url.render_as_string(hide_password=False),
    )
    out = io.StringIO()
    assert await export_calls(settings, None, out) == 4
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["direction"] for line in lines] == ["inbound", "callback", "callback", "inbound"]
    assert lines[0] == first_call.to_json()
    assert lines[3] == last_call.to_json()
    no_answer, completed = lines[1], lines[2]
    assert list(completed)[: len(first_call.to_json())] == list(first_call.to_json())
    assert (no_answer["call_id"], no_answer["linkedid"]) == (
        unanswered.attempt_id,
        unanswered.channel_id,
    )
    assert (no_answer["answered_at"], no_answer["talk_seconds"]) == (None, None)
    assert no_answer["duration_seconds"] == 30.0
    assert no_answer["callback"]["outcome"] == "no_answer"
    assert completed["caller_number"] == "13800138000"
    assert completed["answered_at"] == answered_at.astimezone(ZONE).isoformat(
        timespec="microseconds"
    )
    assert (completed["ring_seconds"], completed["talk_seconds"]) == (6.0, 100.0)
    assert completed["recording_id"] == _recording().recording_id
    assert completed["callback"] == {
        "callback_id": answered.callback_id,
        "attempt_no": 2,
        "reason": "manual",
        "kind": "survey",
        "original_call_id": None,
        "outcome": "completed",
        "status": "completed",
        "scores": SCORES,
    }
    # --since applies to callbacks too.
    later = io.StringIO()
    assert await export_calls(settings, answered_at, later) == 2


async def test_given_the_dialer_reaches_a_due_callback_after_its_window_then_it_waits(
    db: Database,
) -> None:
    created = await create_callback(db, _request(), CONFIG, MONDAY)
    night = MONDAY.replace(hour=23)  # the dialer was down all day
    claimed = await claim_due(
        db, night, limit=5, pbx_id="pbx1", channel_id_for=_channel, config=CONFIG
    )
    assert claimed == []
    stored = await get_callback(db, created.callback_id, ZONE)
    assert stored is not None
    assert (stored["status"], stored["next_attempt_at"]) == (
        "pending",
        MONDAY.replace(day=24, hour=10, minute=30).isoformat(),
    )
    morning = MONDAY.replace(day=24, hour=10, minute=30)
    [attempt] = await claim_due(
        db, morning, limit=5, pbx_id="pbx1", channel_id_for=_channel, config=CONFIG
    )
    assert attempt.callback_id == created.callback_id


async def test_given_not_now_with_a_chosen_time_then_the_next_attempt_is_then(
    db: Database,
) -> None:
    # S5: on "not convenient", the customer picks a better time on the keypad.
    created = await create_callback(db, _request(), CONFIG, MONDAY)
    attempt = await _claim_one(db)
    result = AttemptResult(
        "rescheduled",
        MONDAY + timedelta(seconds=3),
        {},
        _recording(),
        better_time="tomorrow_afternoon",
    )
    state = await finish_attempt(
        db, attempt.attempt_id, result, MONDAY + timedelta(seconds=20), config=CONFIG
    )
    tuesday_3pm = datetime(2026, 11, 24, 15, 0, tzinfo=ZONE)
    assert (state.status, state.next_attempt_at, state.reschedules) == ("pending", tuesday_3pm, 1)
    stored = await get_callback(db, created.callback_id, ZONE)
    assert stored is not None
    assert stored["next_attempt_at"] == tuesday_3pm.isoformat()
    (tried,) = stored["attempts"]
    assert tried["outcome"] == "rescheduled"
    assert "the customer chose tomorrow_afternoon" in tried["detail"]
    # A choice the rules do not know is refused before anything is written.
    bad = AttemptResult("rescheduled", MONDAY, {}, _recording(2), better_time="never")
    with pytest.raises(ValueError, match="better time must be one of"):
        await finish_attempt(db, attempt.attempt_id, bad, MONDAY, config=CONFIG)


async def test_given_the_problem_not_solved_then_kept_flagged_and_listed_for_follow_up(
    db: Database,
) -> None:
    # S5: "not solved" is recorded and flagged for follow-up, whatever became of the call;
    # a later "solved" (the next survey) clears the flag.
    created = await create_callback(db, _request(), CONFIG, MONDAY)
    other = await create_callback(db, _request("13900139000"), CONFIG, MONDAY)
    attempt = await _claim_one_of(db, created.callback_id)
    result = AttemptResult(
        "hung_up", MONDAY + timedelta(seconds=3), {}, _recording(), problem_solved=False
    )
    await finish_attempt(
        db, attempt.attempt_id, result, MONDAY + timedelta(seconds=40), config=CONFIG
    )
    stored = await get_callback(db, created.callback_id, ZONE)
    assert stored is not None
    assert (stored["problem_solved"], stored["follow_up"]) == (False, True)
    assert stored["attempts"][0]["problem_solved"] is False
    listed = await list_callbacks(db, ZONE, follow_up=True)
    assert [c["callback_id"] for c in listed] == [created.callback_id]
    untouched = await get_callback(db, other.callback_id, ZONE)
    assert untouched is not None
    assert (untouched["problem_solved"], untouched["follow_up"]) == (None, False)

    later = MONDAY + timedelta(hours=5)  # 15:40, the afternoon window, past the interval
    again = await _claim_one_of(db, created.callback_id, later)
    solved = AttemptResult(
        "completed", later + timedelta(seconds=3), SCORES, _recording(2), problem_solved=True
    )
    await finish_attempt(db, again.attempt_id, solved, later + timedelta(minutes=2), config=CONFIG)
    stored = await get_callback(db, created.callback_id, ZONE)
    assert stored is not None
    assert (stored["problem_solved"], stored["follow_up"]) == (True, False)
    assert [a["problem_solved"] for a in stored["attempts"]] == [False, True]
    assert await list_callbacks(db, ZONE, follow_up=True) == []


async def _claim_one_of(db: Database, callback_id: str, now: datetime = MONDAY) -> ClaimedAttempt:
    claimed = await claim_due(db, now, limit=10, pbx_id="pbx1", channel_id_for=_channel)
    (mine,) = [c for c in claimed if c.callback_id == callback_id]
    return mine
