"""Call outcomes in PostgreSQL: idempotent saves, exact round trips, paging, export.

Expected results are the contract itself: whatever is read back must equal
``CallOutcome.to_json()`` of what was saved, byte for byte once serialised.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from ivr_agent.calls.store import (
    get_call,
    get_timeline,
    iter_outcomes,
    list_calls,
    save_outcome,
)
from ivr_agent.core.outcome import HoldInterval, PromptPlayed, call_id_for
from ivr_agent.core.timeline import TimelineEvent
from ivr_agent.db.database import Database
from ivr_agent.db.errors import StoreError, UnknownCursorError
from tests.support.outcomes import T0, sample_outcome

pytestmark = pytest.mark.postgres


TIMELINE = (
    TimelineEvent(T0, "offered", "PJSIP/trunk-00000001", {"exten": "4000"}),
    TimelineEvent(T0 + timedelta(seconds=13.25), "answer", "PJSIP/007-00000002", {}),
    TimelineEvent(T0 + timedelta(seconds=200), "hangup", None, {"cause": 16, "by": "张三"}),
)


async def _all_rows(db: Database) -> dict[str, list[Any]]:
    rows = {}
    async with db.engine.connect() as conn:
        for table in ("calls", "holds", "prompts_played", "call_events"):
            result = await conn.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2"))
            rows[table] = [tuple(row) for row in result]
    return rows


async def test_given_an_outcome_saved_twice_then_exactly_the_same_rows_exist(db: Database) -> None:
    call = sample_outcome()
    first_id = await save_outcome(db, call, TIMELINE)
    after_first = await _all_rows(db)
    second_id = await save_outcome(db, call, TIMELINE)
    after_second = await _all_rows(db)

    assert first_id == second_id == call.call_id
    assert after_first == after_second
    assert {table: len(rows) for table, rows in after_second.items()} == {
        "calls": 1,
        "holds": 2,
        "prompts_played": 3,
        "call_events": 3,
    }


async def test_given_a_saved_outcome_when_read_back_then_it_equals_the_contract_exactly(
    db: Database,
) -> None:
    call = sample_outcome()
    await save_outcome(db, call, TIMELINE)

    got = await get_call(db, call.call_id)
    assert got == call.to_json()
    # Same keys in the same order, same text: replays and exports compare byte for byte.
    assert json.dumps(got, ensure_ascii=False) == json.dumps(call.to_json(), ensure_ascii=False)
    assert await list_calls(db) == [call.to_json()]
    assert await get_timeline(db, call.call_id) == [event.to_json() for event in TIMELINE]


async def test_given_utc_times_and_missing_optionals_then_the_round_trip_is_exact(
    db: Database,
) -> None:
    start = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    call = sample_outcome(
        "1700000000.9",
        start=start,
        direction="callback",
        caller_number=None,
        operator_id=None,
        wait_started_at=start,
        answered_at=None,
        ring_seconds=None,
        rings=None,
        answered_within_standard=None,
        abandoned=True,
        short_abandon=True,
        holds=(HoldInterval(start, None, None, 0),),
        max_hold_seconds=None,
        hold_over_limit=False,
        silence="none",
        prompts_played=(),
        talk_seconds=None,
        recording_id=None,
        complete=False,
        incomplete_reason="events missed: AMI reconnected",
        extra={},
    )
    await save_outcome(db, call)
    # A call placed by none of our callbacks has no link and no return-call facts: it reads
    # exactly as its outcome.
    assert await get_call(db, call.call_id) == call.to_json()


async def test_given_a_newer_outcome_of_the_same_call_then_it_replaces_the_older_one(
    db: Database,
) -> None:
    older = sample_outcome(complete=False, incomplete_reason="still open")
    await save_outcome(db, older, TIMELINE)
    newer = sample_outcome(holds=older.holds[:1], prompts_played=())
    await save_outcome(db, newer, TIMELINE[:1])

    assert await get_call(db, newer.call_id) == newer.to_json()
    rows = await _all_rows(db)
    assert (len(rows["calls"]), len(rows["holds"]), len(rows["prompts_played"])) == (1, 1, 0)
    assert len(rows["call_events"]) == 1


async def test_given_a_write_that_fails_halfway_then_nothing_of_it_is_stored(db: Database) -> None:
    # The calls row is written first; the bad prompt fails its CHECK afterwards.
    bad = sample_outcome(prompts_played=(PromptPlayed("x", T0, to="nobody"),))  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="save outcome failed"):
        await save_outcome(db, bad, TIMELINE)
    assert await _all_rows(db) == {
        "calls": [],
        "holds": [],
        "prompts_played": [],
        "call_events": [],
    }


async def test_given_a_callers_session_then_the_save_is_part_of_its_transaction(
    db: Database,
) -> None:
    call = sample_outcome()
    async with db.sessions() as session:
        await save_outcome(session, call, TIMELINE)
        await session.rollback()
    assert await get_call(db, call.call_id) is None
    async with db.sessions() as session:
        await save_outcome(session, call, TIMELINE)
        await session.commit()
    assert await get_call(db, call.call_id) == call.to_json()


async def test_given_unknown_or_malformed_ids_then_reads_return_nothing(db: Database) -> None:
    assert await get_call(db, call_id_for("pbx1", "nope")) is None
    assert await get_call(db, "../../etc/passwd") is None
    assert await get_timeline(db, "not-a-uuid") == []


async def test_given_many_calls_when_paged_then_every_call_comes_once_oldest_first(
    db: Database,
) -> None:
    calls = [sample_outcome(f"1700000000.{n}", start=T0 + timedelta(minutes=n)) for n in range(7)]
    # Same end time for two calls: the cursor must still not lose or repeat one.
    calls.append(sample_outcome("1700000000.dup", start=T0 + timedelta(minutes=3)))
    for call in reversed(calls):
        await save_outcome(db, call)
    expected = sorted((c.to_json() for c in calls), key=lambda j: (j["ended_at"], j["call_id"]))

    pages: list[dict[str, Any]] = []
    after = None
    while True:
        page = await list_calls(db, limit=3, after_call_id=after)
        pages.extend(page)
        if len(page) < 3:
            break
        after = page[-1]["call_id"]
    assert pages == expected

    since = T0 + timedelta(minutes=5, seconds=200)
    assert [c.call_id for c in calls if c.ended_at >= since] == [
        j["call_id"] for j in await list_calls(db, since=since)
    ]
    assert [o.to_json() async for o in iter_outcomes(db, batch=2)] == expected


async def test_given_a_bad_cursor_or_limit_then_the_error_says_which(db: Database) -> None:
    with pytest.raises(UnknownCursorError):
        await list_calls(db, after_call_id=call_id_for("pbx1", "never-stored"))
    with pytest.raises(UnknownCursorError):
        await list_calls(db, after_call_id="garbage")
    with pytest.raises(ValueError, match="limit"):
        await list_calls(db, limit=0)
    with pytest.raises(ValueError, match="since"):
        await list_calls(db, since=datetime(2026, 1, 1))


def _export(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ivr_agent.cli", "calls", "export", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_given_stored_calls_when_exported_then_one_contract_line_each_oldest_first(
    db: Database, migrated_database_url: URL, cli_env: dict[str, str]
) -> None:
    calls = [sample_outcome(f"1700000001.{n}", start=T0 + timedelta(hours=n)) for n in range(3)]
    for call in reversed(calls):
        await save_outcome(db, call, TIMELINE)
    cli_env["IVR_AGENT_DATABASE_URL"] = migrated_database_url.render_as_string(hide_password=False)

    everything = _export(cli_env)
    assert everything.returncode == 0, everything.stderr
    assert everything.stdout.splitlines() == [call.to_json_line() for call in calls]

    since = (T0 + timedelta(hours=1)).isoformat()
    later = _export(cli_env, "--since", since)
    assert later.returncode == 0, later.stderr
    assert later.stdout.splitlines() == [call.to_json_line() for call in calls[1:]]

    # Without a zone, --since is local time of IVR_AGENT_TIMEZONE (Asia/Shanghai).
    naive = _export(cli_env, "--since", "2026-11-23T12:00:00")
    assert naive.stdout.splitlines() == [calls[2].to_json_line()]


def test_given_a_bad_since_when_exporting_then_exit_2_names_since(cli_env: dict[str, str]) -> None:
    result = _export(cli_env, "--since", "yesterday-ish")
    assert result.returncode == 2
    assert "--since" in result.stderr
    assert result.stdout == ""
