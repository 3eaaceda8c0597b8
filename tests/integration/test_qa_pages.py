"""The QA pages over HTTP against a real PostgreSQL: sign-in and roles, list filters and
pages, the replay page's timeline data, and the scoring form's forgery guards."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from ivr_agent.app import build_app
from ivr_agent.calls.store import save_outcome
from ivr_agent.db.database import Database
from ivr_agent.db.tokens import create_token
from ivr_agent.qa.listing import QaFilter, qa_calls
from ivr_agent.qa.scores import score_history
from ivr_agent.settings import load_settings
from tests.integration.qa_support import StoredCall, stored_call
from tests.support.outcomes import T0, sample_outcome

pytestmark = pytest.mark.postgres

Client = TestClient[web.Request, web.Application]
FORM = {"skill": "5", "attitude": "4", "timeliness": "4", "parts": "3", "overall": "5"}
ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}


@pytest.fixture
async def client(
    db: Database, tmp_path: Path, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> Client:
    settings = load_settings(_env_file=None, data_dir=tmp_path / "var", timezone="Asia/Shanghai")
    return await aiohttp_client(build_app(settings, database=db))


@pytest.fixture
async def call(db: Database, tmp_path: Path) -> StoredCall:
    return await stored_call(db, tmp_path / "var", seconds=190.0)


async def _sign_in(client: Client, token: str) -> None:
    """Sign in as a browser does: ``/login`` answers with the session cookie."""
    async with client.post("/login", data={"token": token}, allow_redirects=False) as response:
        assert response.status == 303, await response.text()


async def test_given_roles_then_pages_need_qa_or_admin(
    client: Client, db: Database, call: StoredCall
) -> None:
    async with client.get("/qa", allow_redirects=False) as response:
        assert response.status == 303
        assert response.headers["Location"] == "/login?next=/qa"
    await _sign_in(client, await create_token(db, "ops"))
    async with client.get("/qa") as response:
        assert response.status == 403
    await _sign_in(client, await create_token(db, "qa"))
    async with client.get("/qa") as response:
        assert response.status == 200
        assert call.call_id in await response.text()


async def test_given_filters_then_the_list_keeps_matching_calls_page_by_page(
    client: Client, db: Database
) -> None:
    for n in range(30):
        await save_outcome(
            db,
            sample_outcome(
                f"9.{n}",
                start=T0 + timedelta(minutes=n),
                operator_id="007" if n % 2 else "009",
                hold_over_limit=n < 5,
                direction="inbound",
            ),
        )
    rows, total = await qa_calls(db, QaFilter(operator_id="009"), page=1, per_page=10)
    assert total == 15
    assert len(rows) == 10
    assert all(r.operator_id == "009" for r in rows)
    assert rows[0].offered_at > rows[-1].offered_at  # newest first
    rows, total = await qa_calls(db, QaFilter(breach="long_hold"), page=1, per_page=10)
    assert total == 5
    assert all("long_hold" in r.breaches for r in rows)
    day = T0.date().isoformat()
    await _sign_in(client, await create_token(db, "qa"))
    async with client.get("/qa", params={"from": day, "to": day, "page": "2"}) as response:
        body = await response.text()
    assert "第 2/2 页 · 共 30 通" in body  # zh-CN, the default
    assert len(re.findall(r"<tr data-call-id=", body)) == 5
    async with client.get(
        "/qa", params={"from": day, "to": day, "page": "2"}, headers=ENGLISH
    ) as response:
        assert "page 2 of 2 · 30 calls" in await response.text()
    async with client.get("/qa", params={"from": "2020-01-01", "to": "2020-01-02"}) as response:
        assert "没有符合条件的通话。" in await response.text()
    async with client.get(
        "/qa", params={"from": "2020-01-01", "to": "2020-01-02"}, headers=ENGLISH
    ) as response:
        assert "No calls match." in await response.text()
    async with client.get("/qa", params={"breach": "nonsense"}) as response:
        assert response.status == 400


async def test_given_a_call_then_the_replay_page_carries_its_markers_from_the_recording_start(
    client: Client, db: Database, call: StoredCall
) -> None:
    await _sign_in(client, await create_token(db, "qa"))
    async with client.get(f"/qa/calls/{call.call_id}") as response:
        assert response.status == 200
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        page = await response.text()
    assert f"/api/recordings/{call.recording_id}/audio" in page
    block = re.search(r'id="qa-data">(.*?)</script>', page, re.S)
    assert block is not None
    data = json.loads(block.group(1))
    holds = [m for m in data["markers"] if m["kind"] == "hold"]
    # sample_outcome: answered at +13.25 s (the recording's start), holds at +40 s and +90 s.
    assert [(h["start"], h["end"]) for h in holds] == [(26.75, 39.25), (76.75, 79.75)]
    (ringing,) = [m for m in data["markers"] if m["kind"] == "ringing"]
    assert ringing["start"] == pytest.approx(1.5 - 13.25)


async def test_given_the_score_form_then_a_valid_post_stores_and_forgeries_are_refused(
    client: Client, db: Database, call: StoredCall
) -> None:
    token = await create_token(db, "qa")
    await _sign_in(client, token)
    async with client.get(f"/qa/calls/{call.call_id}") as response:
        page = await response.text()
    found = re.search(r'name="form_token" value="([0-9a-f]+)"', page)
    assert found is not None
    form_token = found.group(1)
    path = f"/qa/calls/{call.call_id}/score"
    async with client.post(path, data={**FORM, "form_token": "0" * 64}) as response:
        assert response.status == 403
    async with client.post(
        path,
        data={**FORM, "form_token": form_token},
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    ) as response:
        assert response.status == 403
    assert await score_history(db, call.call_id) == []
    async with client.post(
        path, data={**FORM, "form_token": form_token, "comment": "ok"}, allow_redirects=False
    ) as response:
        assert response.status == 303
    (score,) = await score_history(db, call.call_id)
    assert score.satisfaction_index == pytest.approx(4.2)
    # The page now offers a correction of version 1.
    async with client.get(f"/qa/calls/{call.call_id}") as response:
        page = await response.text()
    assert f'name="supersedes" value="{score.score_id}"' in page
    assert 'data-version="1"' in page


async def test_given_markup_in_a_call_and_a_comment_then_the_qa_pages_show_it_as_text(
    client: Client, db: Database, tmp_path: Path
) -> None:
    operator = "</script><script>alert(1)</script>"
    call = await stored_call(
        db, tmp_path / "var", seconds=30.0, operator_id=operator, caller_number="<b>1234"
    )
    token = await create_token(db, "qa")
    await _sign_in(client, token)
    async with client.get("/qa") as response:
        listing = await response.text()
    assert "<script>alert" not in listing
    assert '<option value="&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;">' in listing
    async with client.get(f"/qa/calls/{call.call_id}") as response:
        page = await response.text()
    found = re.search(r'name="form_token" value="([0-9a-f]+)"', page)
    assert found is not None
    async with client.post(
        f"/qa/calls/{call.call_id}/score",
        data={**FORM, "form_token": found.group(1), "comment": "<script>alert(2)</script>"},
        allow_redirects=False,
    ) as response:
        assert response.status == 303
    async with client.get(f"/qa/calls/{call.call_id}") as response:
        page = await response.text()
    assert "<script>alert" not in page
    assert "<td>&lt;script&gt;alert(2)&lt;/script&gt;</td>" in page
    # The operator's name is in the replay data too: its block is not ended early.
    assert page.count('<script type="application/json" id="qa-data">') == 1
    block = re.search(r'id="qa-data">(.*?)</script>', page, re.S)
    assert block is not None
    labels = [m["label"] for m in json.loads(block.group(1))["markers"]]
    assert f"{operator} 号坐席接听" in labels  # the page's language (zh-CN, the default)


async def test_given_a_language_then_the_replay_page_labels_and_texts_speak_it(
    client: Client, db: Database, call: StoredCall
) -> None:
    token = await create_token(db, "qa")
    await _sign_in(client, token)

    async def replay_data(headers: dict[str, str]) -> tuple[str, dict[str, Any]]:
        async with client.get(f"/qa/calls/{call.call_id}", headers=headers) as response:
            page = await response.text()
        block = re.search(r'id="qa-data">(.*?)</script>', page, re.S)
        assert block is not None
        return page, json.loads(block.group(1))

    page, data = await replay_data({})
    assert '<html lang="zh-CN">' in page
    assert "<legend>服务态度</legend>" in page  # core/satisfaction.py's label
    kinds = {m["kind"]: m["label"] for m in data["markers"]}
    assert kinds["hangup"] == "挂机"
    assert data["texts"]["lanes"]["holds"] == "保持"
    assert data["texts"]["seconds"] == "{seconds} 秒"
    assert data["texts"]["from_until"] == "{label}：{start} 至 {end}"
    page, data = await replay_data(ENGLISH)
    assert "<legend>Service attitude</legend>" in page
    assert {m["kind"]: m["label"] for m in data["markers"]}["hangup"] == "hang-up"
    assert data["texts"]["at"] == "{label} at {start}"
    # The API keeps its English labels, whatever the browser's language.
    async with client.get(
        f"/api/calls/{call.call_id}/qa",
        headers={"Authorization": f"Bearer {token}", "Accept-Language": "zh-CN"},
    ) as response:
        bundle = await response.json()
    assert {m["kind"]: m["label"] for m in bundle["markers"]}["hangup"] == "hang-up"
