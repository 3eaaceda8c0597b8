"""``GET /api/metrics/summary`` against a real PostgreSQL: figures checked against
hand-computed values from a known set of outcomes, grouping, roles and bad parameters."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from ivr_agent.app import build_app
from ivr_agent.calls.store import save_outcome
from ivr_agent.core.outcome import CallOutcome
from ivr_agent.db.database import Database
from ivr_agent.db.models import CallbackAttemptRow, CallbackRow
from ivr_agent.db.tokens import create_token
from ivr_agent.settings import load_settings
from tests.support.outcomes import SHANGHAI, sample_outcome

pytestmark = pytest.mark.postgres

Client = TestClient[web.Request, web.Application]
AppClient = Callable[[web.Application], Awaitable[Client]]

DAY = "from=2026-11-23T00:00&to=2026-11-24T00:00"


def _at(hour: int, minute: int) -> datetime:
    return datetime(2026, 11, 23, hour, minute, tzinfo=SHANGHAI)


def _answered(
    linkedid: str, start: datetime, ring: float, operator: str, **changes: Any
) -> CallOutcome:
    wait = start + timedelta(seconds=1.5)
    values: dict[str, Any] = {
        "operator_id": operator,
        "wait_started_at": wait,
        "answered_at": wait + timedelta(seconds=ring),
        "ring_seconds": ring,
        "rings": int(ring // 5) + 1,
        "answered_within_standard": ring < 15,
        "holds": (),
        "max_hold_seconds": None,
        "hold_over_limit": False,
        "silence": "none",
    }
    values.update(changes)
    return sample_outcome(linkedid, start=start, **values)


def _abandoned(linkedid: str, start: datetime, waited: float) -> CallOutcome:
    wait = start + timedelta(seconds=1.5)
    return sample_outcome(
        linkedid,
        start=start,
        operator_id=None,
        wait_started_at=wait,
        answered_at=None,
        ended_at=wait + timedelta(seconds=waited),
        ring_seconds=None,
        rings=None,
        answered_within_standard=None,
        abandoned=True,
        short_abandon=waited < 5,
        holds=(),
        max_hold_seconds=None,
        hold_over_limit=False,
        silence="none",
        prompts_played=(),
        talk_seconds=None,
        duration_seconds=waited + 1.5,
        recording_id=None,
    )


#: The known set: six inbound calls on 2026-11-23 (Shanghai), plus two that must not count.
OUTCOMES = [
    # A: 10:00, op 007, ring 11.75 s (within), hold 12.5 s (over 10 s), prompted then spoke;
    # pressed 1 to the satisfaction question.
    sample_outcome("1.1", start=_at(10, 0), extra={"satisfaction": "satisfied"}),
    # B: 10:10, op 007, ring 20 s (late), hold 70 s (severe), talk 320 s (over 5 min).
    _answered(
        "1.2",
        _at(10, 10),
        20.0,
        "007",
        max_hold_seconds=70.0,
        hold_over_limit=True,
        talk_seconds=320.0,
        over_max_duration=True,
    ),
    # C: 11:05, op 008, ring 4 s, the caller hung up silent after 2 min.
    _answered(
        "1.3",
        _at(11, 5),
        4.0,
        "008",
        silence="hung_up_silent",
        talk_seconds=120.0,
        extra={"satisfaction": "no_answer"},
    ),
    # D: 11:20, abandoned after 3 s: a short abandon.
    _abandoned("1.4", _at(11, 20), 3.0),
    # E: 11:30, abandoned after 40 s: the longest wait.
    _abandoned("1.5", _at(11, 30), 40.0),
    # F: 11:40, op 008, ring 8 s, talk exactly 3 min, incomplete (events were missed); the
    # operator hung up first (S9).
    _answered(
        "1.6",
        _at(11, 40),
        8.0,
        "008",
        hung_up_by="operator",
        operator_hung_up_first=True,
        complete=False,
        incomplete_reason="ami_gap",
        talk_seconds=180.0,
        extra={"satisfaction": "invalid"},
    ),
    # Not counted: the next day, and a callback (not an offered call).
    _answered("1.7", _at(10, 0) + timedelta(days=1), 30.0, "009"),
    _answered("1.8", _at(12, 0), 30.0, "009", direction="callback"),
]

#: Hand-computed from the set above.
EXPECTED_DAY = {
    "offered": 6,
    "answered": 4,
    "answered_within_standard": 3,
    "abandoned": 2,
    "short_abandons": 1,
    "service_level": 0.6,  # 3 / (4 + 2 − 1)
    "answer_rate": 0.8,  # 4 / (6 − 1)
    "asa_seconds": 10.9375,  # (11.75 + 20 + 4 + 8) / 4
    "longest_wait_seconds": 40.0,
    "hold_over_limit": 2,
    "hold_severe": 1,
    "silent_calls": 2,
    "silent_prompted_then_spoke": 1,
    "silent_hung_up": 1,
    "over_max_duration": 1,
    "within_target_duration": 2,  # C (120 s) and F (180 s); A 186.75 s and B 320 s are over
    "within_target_duration_rate": 0.5,  # 2 / 4 answered
    "operator_hung_up_first": 1,  # F
    "operator_hung_up_first_rate": 0.25,  # 1 / 4 answered
    # S8: none of A, B, C, F has a record, days after its end.
    "late_wrap_ups": 4,
    "late_wrap_up_rate": 1.0,  # 4 / 4 answered
    "incomplete": 1,
    # The satisfaction question: A pressed 1, C no key, F another key.
    "satisfaction_asked": 3,
    "satisfaction_satisfied": 1,
    "satisfaction_suggestion": 0,
    "satisfaction_invalid": 1,
    "satisfaction_no_answer": 1,
    "satisfaction_rate": 0.333333,
}

EXPECTED_BY_OPERATOR = {
    "007": {"offered": 2, "answered": 2, "service_level": 0.5, "asa_seconds": 15.875},
    "008": {"offered": 2, "answered": 2, "service_level": 1.0, "asa_seconds": 6.0},
    None: {
        "offered": 2,
        "answered": 0,
        "abandoned": 2,
        "short_abandons": 1,
        "service_level": 0.0,  # 0 / (0 + 2 − 1)
        "answer_rate": 0.0,  # 0 / (2 − 1)
        "asa_seconds": None,
    },
}

EXPECTED_BY_HOUR = {
    "2026-11-23T10:00:00+08:00": {"offered": 2, "answered": 2, "service_level": 0.5},
    "2026-11-23T11:00:00+08:00": {
        "offered": 4,
        "answered": 2,
        "short_abandons": 1,
        "service_level": 0.666667,  # 2 / (2 + 2 − 1)
        "answer_rate": 0.666667,  # 2 / (4 − 1)
        "longest_wait_seconds": 40.0,
    },
}


async def _client(db: Database, aiohttp_client: AppClient, **settings: Any) -> Client:
    for outcome in OUTCOMES:
        await save_outcome(db, outcome)
    return await aiohttp_client(build_app(load_settings(**settings), database=db))


async def _get(client: Client, path: str, token: str | None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with client.get(path, headers=headers) as response:
        return response.status, await response.json()


def _values(figures: dict[str, Any], names: Any) -> dict[str, Any]:
    return {name: figures[name]["value"] for name in names}


async def test_given_known_calls_when_summarised_then_figures_match_hand_computed(
    db: Database, aiohttp_client: AppClient
) -> None:
    client = await _client(db, aiohttp_client)
    token = await create_token(db, "ops")
    status, body = await _get(client, f"/api/metrics/summary?{DAY}", token)
    assert status == 200, body
    assert _values(body["figures"], EXPECTED_DAY) == EXPECTED_DAY
    assert body["from"] == "2026-11-23T00:00:00+08:00"
    assert body["to"] == "2026-11-24T00:00:00+08:00"
    assert body["settings"]["service_level_seconds"] == 15.0
    assert body["settings"]["exclude_short_abandons"] is True
    formulas = {name: f["formula"] for name, f in body["figures"].items()}
    assert formulas["service_level"].startswith(
        "answered_within_standard / (answered + abandoned − short_abandons) = 3 / 5"
    )
    assert formulas["answer_rate"].startswith("answered / (offered − short_abandons) = 4 / 5")
    assert formulas["within_target_duration_rate"] == "within_target_duration / answered = 2 / 4"
    assert formulas["satisfaction_rate"] == "satisfaction_satisfied / satisfaction_asked = 1 / 3"
    assert "talk_seconds ≤ 180 s" in formulas["within_target_duration"]
    assert body["settings"]["call_target_seconds"] == 180.0
    assert all(isinstance(f, str) and f for f in formulas.values())
    assert "groups" not in body


async def test_given_short_abandons_not_excluded_then_they_count_in_denominators(
    db: Database, aiohttp_client: AppClient
) -> None:
    client = await _client(db, aiohttp_client, exclude_short_abandons=False)
    token = await create_token(db, "qa")
    status, body = await _get(client, f"/api/metrics/summary?{DAY}", token)
    assert status == 200
    assert _values(body["figures"], ["service_level", "answer_rate"]) == {
        "service_level": 0.5,  # 3 / (4 + 2)
        "answer_rate": 0.666667,  # 4 / 6
    }
    assert "3 / 6" in body["figures"]["service_level"]["formula"]


async def test_given_an_empty_interval_then_ratios_are_null_with_their_formulas(
    db: Database, aiohttp_client: AppClient
) -> None:
    client = await _client(db, aiohttp_client)
    token = await create_token(db, "ops")
    query = "from=2026-01-01&to=2026-01-02&group_by=hour"
    status, body = await _get(client, f"/api/metrics/summary?{query}", token)
    assert status == 200
    figures = body["figures"]
    assert figures["offered"]["value"] == 0
    for name in ("service_level", "answer_rate", "asa_seconds", "longest_wait_seconds"):
        assert figures[name]["value"] is None, name
        assert figures[name]["formula"], name
    assert body["groups"] == []


async def test_given_group_by_operator_then_one_group_per_operator_and_null_last(
    db: Database, aiohttp_client: AppClient
) -> None:
    client = await _client(db, aiohttp_client)
    token = await create_token(db, "ops")
    status, body = await _get(client, f"/api/metrics/summary?{DAY}&group_by=operator", token)
    assert status == 200
    assert [g["operator_id"] for g in body["groups"]] == ["007", "008", None]
    got = {
        g["operator_id"]: _values(g["figures"], EXPECTED_BY_OPERATOR[g["operator_id"]])
        for g in body["groups"]
    }
    assert got == EXPECTED_BY_OPERATOR


async def test_given_group_by_hour_and_day_then_buckets_are_local_time(
    db: Database, aiohttp_client: AppClient
) -> None:
    client = await _client(db, aiohttp_client)
    token = await create_token(db, "admin")
    status, body = await _get(client, f"/api/metrics/summary?{DAY}&group_by=hour", token)
    assert status == 200
    got = {g["start"]: _values(g["figures"], EXPECTED_BY_HOUR[g["start"]]) for g in body["groups"]}
    assert got == EXPECTED_BY_HOUR
    assert body["groups"][0]["end"] == "2026-11-23T11:00:00+08:00"
    status, body = await _get(client, f"/api/metrics/summary?{DAY}&group_by=day", token)
    assert status == 200
    assert [(g["start"], g["end"]) for g in body["groups"]] == [
        ("2026-11-23T00:00:00+08:00", "2026-11-24T00:00:00+08:00")
    ]
    # The day's group has the call figures of the total (callback figures are total-only).
    group_figures = body["groups"][0]["figures"]
    assert group_figures == {name: body["figures"][name] for name in group_figures}


async def test_given_a_utc_interval_with_an_unencoded_plus_then_it_is_read_as_the_zone(
    db: Database, aiohttp_client: AppClient
) -> None:
    client = await _client(db, aiohttp_client)
    token = await create_token(db, "ops")
    # 02:00–03:00 UTC = 10:00–11:00 Shanghai: calls A and B.
    query = "from=2026-11-23T02:00:00+00:00&to=2026-11-23T03:00:00%2B00:00"
    status, body = await _get(client, f"/api/metrics/summary?{query}", token)
    assert status == 200, body
    assert body["figures"]["offered"]["value"] == 2


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=yesterday", "from"),
        ("to=2026-13-01", "to"),
        ("from=2026-11-23T10:00&to=2026-11-23T10:00", "to"),
        ("from=2026-11-24&to=2026-11-23", "to"),
        ("group_by=fortnight", "group_by"),
        ("group_by=", "group_by"),
    ],
)
async def test_given_a_bad_parameter_then_400_names_it(
    db: Database, aiohttp_client: AppClient, query: str, field: str
) -> None:
    client = await _client(db, aiohttp_client)
    token = await create_token(db, "ops")
    status, body = await _get(client, f"/api/metrics/summary?{query}", token)
    assert status == 400, query
    assert body["error"]["error_id"] == "invalid_parameter"
    assert body["error"]["details"]["field"] == field


async def test_given_no_token_or_an_unknown_token_then_401(
    db: Database, aiohttp_client: AppClient
) -> None:
    client = await _client(db, aiohttp_client)
    for token in (None, "ivra_not-a-real-token"):
        status, body = await _get(client, "/api/metrics/summary", token)
        assert (status, body["error"]["error_id"]) == (401, "unauthenticated")


async def test_given_no_from_or_to_then_today_in_the_call_centre_zone(
    db: Database, aiohttp_client: AppClient
) -> None:
    client = await _client(db, aiohttp_client)
    token = await create_token(db, "ops")
    status, body = await _get(client, "/api/metrics/summary", token)
    assert status == 200
    start = datetime.fromisoformat(body["from"])
    end = datetime.fromisoformat(body["to"])
    assert start == datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
    assert end - start == timedelta(days=1)


def _callback(
    name: str,
    reason: str,
    status: str,
    reference: datetime,
    *,
    due_minutes: float = 30,
    deadline: datetime | None = None,
    satisfaction: float | None = None,
    attempts: tuple[tuple[str, datetime], ...] = (),
) -> tuple[CallbackRow, list[CallbackAttemptRow]]:
    callback_id = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
    row = CallbackRow(
        callback_id=callback_id,
        pbx_id="pbx1",
        customer_number="13800000000",
        reason=reason,
        reference_time=reference,
        due_at=reference + timedelta(minutes=due_minutes),
        deadline=deadline or reference + timedelta(hours=3),
        status=status,
        attempts_made=len(attempts),
        satisfaction_index=satisfaction,
    )
    # The callback store may name the dialling PBX on each attempt (migration 0002).
    named = {"pbx_id": "test"} if "pbx_id" in CallbackAttemptRow.__table__.c else {}
    rows = [
        CallbackAttemptRow(
            attempt_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{name}/{n}")),
            callback_id=callback_id,
            attempt_no=n,
            channel_id=f"{name}-{n}",
            state="finished" if outcome != "no_answer" else "failed",
            outcome=outcome,
            started_at=started,
            ended_at=started + timedelta(minutes=2),
            **named,
        )
        for n, (outcome, started) in enumerate(attempts, start=1)
    ]
    return row, rows


#: Callbacks of 2026-11-23 (Shanghai) by due_at; the comment says how each one counts.
CALLBACKS = [
    # Completed 20 min after the service: within 30 min; satisfaction 4.6.
    _callback(
        "cb1",
        "service_completed",
        "completed",
        _at(10, 0),
        satisfaction=4.6,
        attempts=(("completed", _at(10, 20)),),
    ),
    # No answer first, then completed 45 min after the service: not within; satisfaction 3.
    _callback(
        "cb2",
        "service_completed",
        "completed",
        _at(11, 0),
        satisfaction=3.0,
        attempts=(("no_answer", _at(11, 10)), ("completed", _at(11, 45))),
    ),
    # Completed by an attempt started after its 12:00 deadline: overdue; no survey.
    _callback(
        "cb3",
        "service_completed",
        "completed",
        _at(9, 0),
        attempts=(("completed", _at(12, 30)),),
    ),
    # Pending, deadline far ahead: due, not overdue.
    _callback(
        "cb4",
        "complaint_resolved",
        "pending",
        _at(14, 0),
        deadline=datetime(2099, 1, 1, tzinfo=SHANGHAI),
    ),
    # Pending past its deadline: overdue.
    _callback(
        "cb5",
        "abandoned_call",
        "pending",
        _at(15, 30),
        deadline=_at(16, 30),
    ),
    # Declined: due, closed, not overdue.
    _callback(
        "cb6",
        "service_completed",
        "declined",
        _at(16, 30),
        attempts=(("declined", _at(16, 40)),),
    ),
    # A return call (S8) handed to the operators by an attempt started after its 13:30
    # deadline: completed (connected), and overdue.
    _callback(
        "cb9",
        "abandoned_call",
        "completed",
        _at(13, 0),
        deadline=_at(13, 30),
        attempts=(("connected", _at(14, 0)),),
    ),
    # Not counted: cancelled, and due the next day.
    _callback("cb7", "service_completed", "cancelled", _at(11, 30)),
    _callback("cb8", "service_completed", "pending", _at(10, 0) + timedelta(days=1)),
]

EXPECTED_CALLBACKS = {
    "callbacks_due": 7,
    "callbacks_completed": 4,
    "callbacks_overdue": 3,  # cb5 (open past deadline) + cb3, cb9 (completed late)
    "callbacks_completed_within_30_min": 1,  # cb1
    "callbacks_within_30_min_rate": 0.25,  # 1 / 4 due service callbacks (cb1, cb2, cb3, cb6)
    "satisfaction_index": 3.8,  # (4.6 + 3.0) / 2
}


async def _save_callbacks(db: Database) -> None:
    async with db.transaction("test callbacks") as session:
        for row, _attempts in CALLBACKS:
            session.add(row)
        await session.flush()
        for _row, attempts in CALLBACKS:
            session.add_all(attempts)


async def test_given_known_callbacks_when_summarised_then_s5_figures_match_hand_computed(
    db: Database, aiohttp_client: AppClient
) -> None:
    client = await _client(db, aiohttp_client)
    await _save_callbacks(db)
    token = await create_token(db, "ops")
    status, body = await _get(client, f"/api/metrics/summary?{DAY}", token)
    assert status == 200, body
    assert _values(body["figures"], EXPECTED_CALLBACKS) == EXPECTED_CALLBACKS
    formulas = {name: body["figures"][name]["formula"] for name in EXPECTED_CALLBACKS}
    assert formulas["callbacks_overdue"].endswith("= 1 + 2")
    assert formulas["callbacks_within_30_min_rate"].endswith("= 1 / 4")
    assert formulas["satisfaction_index"].endswith("= 7.6 / 2")
    assert "within 30 min" in formulas["callbacks_completed_within_30_min"]
    assert body["settings"]["callback_service_due_minutes"] == 30
    # The call figures are unchanged by callbacks.
    assert _values(body["figures"], EXPECTED_DAY) == EXPECTED_DAY
    # Groups carry call figures only (a callback has no operator in the store).
    status, body = await _get(client, f"/api/metrics/summary?{DAY}&group_by=operator", token)
    assert status == 200
    assert all("callbacks_due" not in g["figures"] for g in body["groups"])


async def test_given_no_callbacks_in_the_interval_then_callback_ratios_are_null(
    db: Database, aiohttp_client: AppClient
) -> None:
    client = await _client(db, aiohttp_client)
    await _save_callbacks(db)
    token = await create_token(db, "ops")
    status, body = await _get(client, "/api/metrics/summary?from=2026-01-01", token)
    assert status == 200
    figures = body["figures"]
    for name in ("callbacks_due", "callbacks_completed", "callbacks_overdue"):
        assert figures[name]["value"] == 0, name
    for name in ("callbacks_within_30_min_rate", "satisfaction_index"):
        assert figures[name]["value"] is None, name
        assert "/ 0" in figures[name]["formula"], name


async def test_given_known_calls_then_breaches_lists_them_latest_first(
    db: Database, aiohttp_client: AppClient
) -> None:
    client = await _client(db, aiohttp_client)
    token = await create_token(db, "ops")
    status, body = await _get(client, f"/api/metrics/breaches?{DAY}", token)
    assert status == 200, body
    got = [(b["call_id"], b["kinds"]) for b in body["breaches"]]
    # No answered call of that day has a record (S8), long after the wrap-up time: each is
    # a late wrap-up too.
    assert got == [
        (OUTCOMES[5].call_id, ["operator_hung_up_first", "late_wrap_up"]),
        (OUTCOMES[2].call_id, ["silent_hang_up", "late_wrap_up"]),
        (OUTCOMES[1].call_id, ["late_answer", "long_hold", "over_max_duration", "late_wrap_up"]),
        (OUTCOMES[0].call_id, ["long_hold", "late_wrap_up"]),
    ]
    status, body = await _get(client, f"/api/metrics/breaches?{DAY}&limit=1", token)
    assert [b["call_id"] for b in body["breaches"]] == [OUTCOMES[5].call_id]


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=201", "limit"), ("limit=x", "limit"), ("from=soon", "from")],
)
async def test_given_a_bad_breaches_parameter_then_400_names_it(
    db: Database, aiohttp_client: AppClient, query: str, field: str
) -> None:
    client = await _client(db, aiohttp_client)
    token = await create_token(db, "ops")
    status, body = await _get(client, f"/api/metrics/breaches?{query}", token)
    assert status == 400, query
    assert body["error"]["details"]["field"] == field
