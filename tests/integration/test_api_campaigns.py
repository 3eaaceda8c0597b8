"""The campaigns API and CLI against a real PostgreSQL: roles, validation, figures."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.engine import URL

from ivr_agent.app import build_app
from ivr_agent.db.database import Database
from ivr_agent.db.models import AuditLogRow, CampaignCustomerRow, CampaignRow
from ivr_agent.db.tokens import create_token
from ivr_agent.settings import load_settings

pytestmark = pytest.mark.postgres

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(
    db: Database, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> Client:
    settings = load_settings(_env_file=None, timezone="Asia/Shanghai")
    return await aiohttp_client(build_app(settings, database=db))


@pytest.fixture
async def ops(db: Database) -> str:
    return await create_token(db, "ops")


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "每月定期回访",
        # Not today: the scheduler of the app under test must not make a run meanwhile.
        "days": [_not_today()],
        "customers": [
            {"number": "13800138000", "name": "张三"},
            {"number": "138-0013-8000", "name": "张三"},
            {"number": 13900139000},
        ],
    }
    body.update(changes)
    return body


def _not_today() -> int:
    day = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).day
    return 15 if day == 1 else 1


async def _call(
    client: Client, method: str, path: str, token: str, body: Any = None
) -> tuple[int, Any]:
    async with client.request(method, path, headers=_headers(token), json=body) as response:
        return response.status, await response.json()


async def test_given_roles_then_ops_creates_and_qa_only_reads(client: Client, db: Database) -> None:
    qa = await create_token(db, "qa")
    status, body = await _call(client, "POST", "/api/campaigns", qa, _body())
    assert (status, body["error"]["error_id"]) == (403, "forbidden")
    ops = await create_token(db, "ops")
    status, created = await _call(
        client, "POST", "/api/campaigns", ops, _body(calling_windows="9:00-10:00")
    )
    assert status == 201, created
    assert created["customers"] == 2  # the same number twice is one customer
    assert created["calling_windows"] == "09:00-10:00"
    status, listed = await _call(client, "GET", "/api/campaigns", qa)
    assert status == 200
    (summary,) = listed["campaigns"]
    assert (summary["name"], summary["customers"], summary["active"], summary["run_count"]) == (
        "每月定期回访",
        2,
        True,
        0,
    )
    status, one = await _call(client, "GET", f"/api/campaigns/{created['campaign_id']}", qa)
    assert status == 200
    assert one["runs"] == []
    assert one["figures"]["customers"] == {
        "value": 2,
        "formula": "count of distinct numbers in the campaign's list",
    }
    async with db.transaction() as session:
        audit = (await session.scalars(select(AuditLogRow.action))).all()
    assert "campaign.create" in audit


async def test_given_bad_customers_then_400_lists_each_and_nothing_is_stored(
    client: Client, db: Database, ops: str
) -> None:
    customers = [
        {"number": "13800138000"},
        {"number": "12"},
        {"number": "13900139000", "name": "a\nb"},
    ]
    status, body = await _call(client, "POST", "/api/campaigns", ops, _body(customers=customers))
    assert status == 400
    error = body["error"]
    assert error["error_id"] == "invalid_customers"
    assert error["details"]["rows"] == [
        {"row": 2, "problem": "must have 5 to 20 digits (has 2)"},
        {"row": 3, "problem": "must not contain control characters or line breaks"},
    ]
    async with db.transaction() as session:
        assert (await session.scalars(select(CampaignRow))).all() == []
        assert (await session.scalars(select(CampaignCustomerRow))).all() == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"days": [0]}, "days"),
        ({"days": "1;15"}, "days"),
        ({"calling_windows": "morning"}, "calling_windows"),
        ({"name": "  "}, "name"),
        ({"customers": []}, "customers"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_given_a_bad_field_then_400_names_it(
    client: Client, ops: str, changes: dict[str, Any], field: str
) -> None:
    status, body = await _call(client, "POST", "/api/campaigns", ops, _body(**changes))
    assert status == 400
    assert body["error"]["details"]["field"] == field


async def test_given_a_taken_name_then_409_and_an_unknown_id_404(client: Client, ops: str) -> None:
    assert (await _call(client, "POST", "/api/campaigns", ops, _body()))[0] == 201
    status, body = await _call(client, "POST", "/api/campaigns", ops, _body())
    assert (status, body["error"]["error_id"]) == (409, "campaign_exists")
    for path in ("/api/campaigns/nope", "/api/campaigns/00000000-0000-0000-0000-000000000000"):
        status, body = await _call(client, "GET", path, ops)
        assert (status, body["error"]["error_id"]) == (404, "campaign_not_found")


async def test_given_a_list_larger_than_the_usual_body_limit_then_it_is_accepted(
    client: Client, ops: str
) -> None:
    customers = [{"number": f"138{n:08d}", "name": f"客户{n}"} for n in range(3000)]
    status, created = await _call(client, "POST", "/api/campaigns", ops, _body(customers=customers))
    assert status == 201, created
    assert created["customers"] == 3000


async def test_given_pause_and_resume_then_the_state_changes_and_is_audited(
    client: Client, ops: str
) -> None:
    _, created = await _call(client, "POST", "/api/campaigns", ops, _body())
    path = f"/api/campaigns/{created['campaign_id']}"
    status, paused = await _call(client, "PATCH", path, ops, {"active": False})
    assert status == 200
    assert paused == {
        "campaign_id": created["campaign_id"],
        "active": False,
        "cancelled_callbacks": 0,
    }
    assert (await _call(client, "GET", path, ops))[1]["next_run"] is None
    status, body = await _call(client, "PATCH", path, ops, {"active": "no"})
    assert (status, body["error"]["details"]["field"]) == (400, "active")
    assert (await _call(client, "PATCH", path, ops, {"active": True}))[1]["active"] is True


async def test_given_a_callback_request_with_reason_campaign_then_400_names_reason(
    client: Client, ops: str
) -> None:
    body = {
        "customer_number": "13800138000",
        "reason": "campaign",
        "reference_time": datetime.now(UTC).isoformat(),
    }
    status, answer = await _call(client, "POST", "/api/callbacks", ops, body)
    assert status == 400
    assert answer["error"]["details"]["field"] == "reason"


# ----------------------------------------------------------------------- CLI --


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ivr_agent.cli", "campaigns", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_given_the_cli_then_campaigns_are_created_from_files_listed_and_shown(
    migrated_database_url: URL, cli_env: dict[str, str], tmp_path: Path
) -> None:
    cli_env["IVR_AGENT_DATABASE_URL"] = migrated_database_url.render_as_string(hide_password=False)
    listed_csv = tmp_path / "customers.csv"
    listed_csv.write_bytes("电话,姓名\n13800138000,张三\n13900139000,李四\n".encode("utf-8-sig"))
    created = _cli(
        cli_env,
        "create",
        "--name",
        "一号回访",
        "--days",
        "1,15",
        "--customers",
        str(listed_csv),
        "--windows",
        "10:00-11:00",
    )
    assert created.returncode == 0, created.stderr
    campaign_id = created.stdout.strip()
    assert "2 customers, days 1,15" in created.stderr
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["number", "name"])
    sheet.append(["+8613700137000", "王五"])
    workbook = tmp_path / "customers.xlsx"
    book.save(workbook)
    assert (
        _cli(
            cli_env, "create", "--name", "xlsx", "--days", "31", "--customers", str(workbook)
        ).returncode
        == 0
    )
    listing = _cli(cli_env, "list")
    assert listing.returncode == 0, listing.stderr
    header, first, second = listing.stdout.splitlines()
    assert header.startswith("campaign_id\tname\tdays")
    assert first.split("\t")[:6] == [campaign_id, "一号回访", "1,15", "10:00-11:00", "active", "2"]
    assert second.split("\t")[1:6] == ["xlsx", "31", "(settings)", "active", "1"]
    shown = _cli(cli_env, "show", campaign_id)
    assert shown.returncode == 0, shown.stderr
    assert '"name": "一号回访"' in shown.stdout
    assert '"formula"' in shown.stdout
    paused = _cli(cli_env, "pause", campaign_id)
    assert paused.returncode == 0, paused.stderr
    assert "paused" in paused.stdout


def test_given_a_list_with_bad_rows_then_the_cli_names_them_and_stores_nothing(
    migrated_database_url: URL, cli_env: dict[str, str], tmp_path: Path
) -> None:
    cli_env["IVR_AGENT_DATABASE_URL"] = migrated_database_url.render_as_string(hide_password=False)
    bad = tmp_path / "bad.csv"
    bad.write_text("number,name\n13800138000,ok\n123,short\n", encoding="utf-8")
    result = _cli(cli_env, "create", "--name", "bad", "--days", "1", "--customers", str(bad))
    assert result.returncode == 1
    assert "row 3: must have 5 to 20 digits (has 3)" in result.stderr
    assert _cli(cli_env, "list").stdout.splitlines()[1:] == []
    wrong_days = _cli(cli_env, "create", "--name", "x", "--days", "32", "--customers", str(bad))
    assert wrong_days.returncode == 2
    assert "--days '32'" in wrong_days.stderr
