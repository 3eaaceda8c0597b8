"""QA scores against a real PostgreSQL: validation, the satisfaction index, immutability
(versions, database trigger), conflicts, roles, and per-operator averages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from ivr_agent.app import build_app
from ivr_agent.calls.store import save_outcome
from ivr_agent.db.database import Database
from ivr_agent.db.errors import StoreError
from ivr_agent.db.tokens import create_token
from ivr_agent.qa.records import Actor
from ivr_agent.qa.scores import ScoreConflict, operator_qa_averages, submit_score
from ivr_agent.settings import load_settings
from tests.support.outcomes import T0, sample_outcome

pytestmark = pytest.mark.postgres

Client = TestClient[web.Request, web.Application]
SCORES = {"skill": 5, "attitude": 4, "timeliness": 4, "parts": 3, "overall": 5}
REVIEWER = Actor("00000000-0000-0000-0000-000000000001", "qa")


@pytest.fixture
async def client(
    db: Database, tmp_path: Path, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> Client:
    settings = load_settings(_env_file=None, data_dir=tmp_path / "var")
    return await aiohttp_client(build_app(settings, database=db))


@pytest.fixture
async def call_id(db: Database) -> str:
    return await save_outcome(db, sample_outcome())


async def _post(client: Client, path: str, token: str | None, body: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with client.post(path, json=body, headers=headers) as response:
        return response.status, await response.json()


async def test_given_a_score_then_stored_as_version_1_with_the_mean_as_index(
    client: Client, db: Database, call_id: str
) -> None:
    qa = await create_token(db, "qa")
    status, body = await _post(
        client, f"/api/calls/{call_id}/scores", qa, {**SCORES, "comment": " polite "}
    )
    assert status == 201
    assert body["version"] == 1
    assert body["supersedes"] is None
    assert body["satisfaction_index"] == pytest.approx(4.2)
    assert body["scores"] == SCORES
    assert body["comment"] == "polite"
    assert body["scorer_role"] == "qa"


async def test_given_roles_then_only_qa_and_admin_score(
    client: Client, db: Database, call_id: str
) -> None:
    ops = await create_token(db, "ops")
    path = f"/api/calls/{call_id}/scores"
    assert (await _post(client, path, None, SCORES))[0] == 401
    assert (await _post(client, path, ops, SCORES))[0] == 403
    admin = await create_token(db, "admin")
    assert (await _post(client, path, admin, SCORES))[0] == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"skill": 0}, "skill"),
        ({"attitude": 6}, "attitude"),
        ({"parts": "x"}, "parts"),
        ({"overall": 4.5}, "overall"),
        ({"timeliness": True}, "timeliness"),
        ({"skill": None}, "skill"),
        ({"comment": 5}, "comment"),
        ({"comment": "x" * 4001}, "comment"),
        # Issue 14: "²".isdigit() is true and int("²") raises: was a 500.
        ({"skill": "²"}, "skill"),
        ({"overall": "１"}, "overall"),
    ],
)
async def test_given_a_bad_field_then_400_naming_it_and_nothing_stored(
    client: Client, db: Database, call_id: str, change: dict[str, Any], field: str
) -> None:
    qa = await create_token(db, "qa")
    status, body = await _post(client, f"/api/calls/{call_id}/scores", qa, {**SCORES, **change})
    assert status == 400
    assert body["error"]["details"]["field"] == field
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM qa_scores"))).scalar() == 0


async def test_given_an_unknown_call_then_404(client: Client, db: Database) -> None:
    qa = await create_token(db, "qa")
    unknown = "00000000-0000-0000-0000-00000000abcd"
    assert (await _post(client, f"/api/calls/{unknown}/scores", qa, SCORES))[0] == 404
    assert (await _post(client, "/api/calls/not-a-uuid/scores", qa, SCORES))[0] == 404


async def test_given_a_scored_call_then_a_correction_is_a_new_version_keeping_the_old(
    client: Client, db: Database, call_id: str
) -> None:
    qa = await create_token(db, "qa")
    path = f"/api/calls/{call_id}/scores"
    _, first = await _post(client, path, qa, SCORES)
    # A second score that does not say what it corrects is refused.
    status, body = await _post(client, path, qa, {**SCORES, "skill": 1})
    assert status == 409
    assert body["error"]["details"]["field"] == "supersedes"
    status, second = await _post(
        client, path, qa, {**SCORES, "skill": 1, "supersedes": first["score_id"]}
    )
    assert status == 201
    assert (second["version"], second["supersedes"]) == (2, first["score_id"])
    assert second["satisfaction_index"] == pytest.approx(3.4)
    # Correcting the old version again (stale) is refused: versions form one chain.
    status, _ = await _post(client, path, qa, {**SCORES, "supersedes": first["score_id"]})
    assert status == 409
    async with client.get(path, headers={"Authorization": f"Bearer {qa}"}) as response:
        history = (await response.json())["scores"]
    assert [(s["version"], s["superseded"], s["scores"]["skill"]) for s in history] == [
        (1, True, 5),
        (2, False, 1),
    ]


async def test_given_stored_scores_then_the_database_refuses_to_change_them(
    db: Database, call_id: str
) -> None:
    await submit_score(db, call_id, SCORES, "", REVIEWER)
    for statement in (
        "UPDATE qa_scores SET skill = 1",
        "DELETE FROM qa_scores",
        "TRUNCATE qa_scores",
    ):
        with pytest.raises(StoreError, match="immutable"):
            async with db.transaction("tamper") as session:
                await session.execute(text(statement))
    # Nor can a row claim an index that is not the mean of its scores.
    with pytest.raises(StoreError, match="satisfaction_index"):
        async with db.transaction("forge") as session:
            await session.execute(
                text(
                    "INSERT INTO qa_scores (score_id, call_id, version, skill, attitude, "
                    "timeliness, parts, overall, satisfaction_index, scored_by, scorer_role) "
                    "VALUES (gen_random_uuid(), :call, 2, 1, 1, 1, 1, 1, 5.0, 'x', 'qa')"
                ),
                {"call": call_id},
            )


async def test_given_two_reviewers_correcting_the_same_version_then_one_wins(
    db: Database, call_id: str
) -> None:
    import asyncio

    first = await submit_score(db, call_id, SCORES, "", REVIEWER)
    results = await asyncio.gather(
        *(
            submit_score(
                db, call_id, {**SCORES, "skill": n}, "", REVIEWER, supersedes=first.score_id
            )
            for n in (1, 2, 3)
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, ScoreConflict) for r in results if isinstance(r, BaseException))


async def test_given_scores_of_operators_then_averages_use_each_calls_latest_version(
    db: Database,
) -> None:
    a1 = await save_outcome(db, sample_outcome("1.1", operator_id="007"))
    a2 = await save_outcome(db, sample_outcome("1.2", operator_id="007"))
    b1 = await save_outcome(db, sample_outcome("1.3", operator_id="009"))
    await save_outcome(db, sample_outcome("1.4", operator_id="009"))  # never scored
    old = await submit_score(db, a1, dict.fromkeys(SCORES, 1), "", REVIEWER)
    await submit_score(db, a1, dict.fromkeys(SCORES, 5), "", REVIEWER, supersedes=old.score_id)
    await submit_score(db, a2, dict.fromkeys(SCORES, 4), "", REVIEWER)
    await submit_score(db, b1, SCORES, "", REVIEWER)
    averages = {
        a.operator_id: a
        for a in await operator_qa_averages(db, T0 - timedelta(days=1), T0 + timedelta(days=1))
    }
    assert averages["007"].scored_calls == 2
    assert averages["007"].satisfaction_index == pytest.approx(4.5)
    assert averages["009"].scored_calls == 1
    assert averages["009"].indices["parts"] == pytest.approx(3.0)
    assert averages["009"].to_json()["qa_satisfaction_index"] == pytest.approx(4.2)
    # Outside the window: nothing.
    assert await operator_qa_averages(db, T0 + timedelta(days=1), T0 + timedelta(days=2)) == []


async def test_given_qa_scores_then_the_summary_by_operator_carries_their_averages(
    client: Client, db: Database
) -> None:
    scored = await save_outcome(db, sample_outcome("2.1", operator_id="007"))
    await save_outcome(db, sample_outcome("2.2", operator_id="009"))  # never scored
    await submit_score(db, scored, SCORES, "", REVIEWER)
    ops = await create_token(db, "ops")
    day = "from=2026-11-23T00:00:00&to=2026-11-24T00:00:00&group_by=operator"
    async with client.get(
        f"/api/metrics/summary?{day}", headers={"Authorization": f"Bearer {ops}"}
    ) as response:
        assert response.status == 200
        body = await response.json()
    groups = {g["operator_id"]: g for g in body["groups"]}
    assert groups["007"]["qa"]["qa_scored_calls"] == 1
    assert groups["007"]["qa"]["qa_satisfaction_index"] == pytest.approx(4.2)  # (5+4+4+3+5)/5
    assert groups["009"]["qa"] is None
    assert "latest score version" in groups["009"]["qa_formula"]
