"""Exports of calls and callbacks as CSV (UTF-8 with BOM) and XLSX, streamed, with the
list's filters applied; bad parameters are a 400 naming them."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from openpyxl import load_workbook

from ivr_agent.app import build_app
from ivr_agent.calls.store import save_outcome
from ivr_agent.db.database import Database
from ivr_agent.db.tokens import create_token
from ivr_agent.settings import load_settings
from tests.support.outcomes import SHANGHAI, sample_outcome

pytestmark = pytest.mark.postgres

Client = TestClient[web.Request, web.Application]
AppClient = Callable[[web.Application], Awaitable[Client]]


async def _client(db: Database, aiohttp_client: AppClient, tmp_path: Path) -> Client:
    for n, operator in enumerate(["007", "王芳", "李娜"]):
        start = datetime(2026, 11, 23, 10 + n, 0, tzinfo=SHANGHAI)
        await save_outcome(db, sample_outcome(f"2.{n}", start=start, operator_id=operator))
    settings = load_settings(data_dir=tmp_path / "var", reports_enabled=False)
    return await aiohttp_client(build_app(settings, database=db))


def _csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


async def _fetch(
    client: Client, path: str, token: str, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    async with client.get(path, headers={"Authorization": f"Bearer {token}", **headers}) as r:
        return r.status, dict(r.headers), await r.read()


async def test_given_calls_when_exported_as_csv_then_filtered_streamed_and_chinese_kept(
    db: Database, aiohttp_client: AppClient, tmp_path: Path
) -> None:
    client = await _client(db, aiohttp_client, tmp_path)
    token = await create_token(db, "qa")
    status, headers, body = await _fetch(
        client, "/api/calls?format=csv&since=2026-11-23T11:00", token
    )
    assert status == 200
    assert headers["Content-Type"].startswith("text/csv")
    assert "Transfer-Encoding" in headers  # streamed, not one sized body
    rows = _csv(body)
    column = rows[0].index("operator_id")
    assert [row[column] for row in rows[1:]] == ["王芳", "李娜"]  # the 10:00 call ended before
    # Accept: text/csv asks for the same.
    status, _, same = await _fetch(
        client, "/api/calls?since=2026-11-23T11:00", token, Accept="text/csv"
    )
    assert status == 200
    assert _csv(same) == rows


async def test_given_calls_when_exported_as_xlsx_then_it_opens_with_every_call(
    db: Database, aiohttp_client: AppClient, tmp_path: Path
) -> None:
    client = await _client(db, aiohttp_client, tmp_path)
    token = await create_token(db, "ops")
    status, headers, body = await _fetch(client, "/api/calls?format=xlsx", token)
    assert status == 200
    assert "spreadsheetml" in headers["Content-Type"]
    rows = list(load_workbook(io.BytesIO(body), read_only=True)["calls"].values)
    column = rows[0].index("operator_id")
    assert [row[column] for row in rows[1:]] == ["007", "王芳", "李娜"]


async def _callback(client: Client, token: str, name: str, minutes_ago: int) -> None:
    body = {
        "customer_number": "+8613800138000",
        "customer_name": name,
        "reason": "service_completed",
        "reference_time": (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(),
    }
    headers = {"Authorization": f"Bearer {token}"}
    async with client.post("/api/callbacks", json=body, headers=headers) as response:
        assert response.status == 201, await response.text()


async def test_given_callbacks_when_exported_then_filters_apply_and_chinese_names_round_trip(
    db: Database, aiohttp_client: AppClient, tmp_path: Path
) -> None:
    client = await _client(db, aiohttp_client, tmp_path)
    token = await create_token(db, "ops")
    await _callback(client, token, "张三", 5)
    await _callback(client, token, "赵六", 60)
    status, _, body = await _fetch(client, "/api/callbacks?format=csv&status=pending", token)
    assert status == 200
    rows = _csv(body)
    names = sorted(row[rows[0].index("customer_name")] for row in rows[1:])
    assert names == ["张三", "赵六"]
    status, _, body = await _fetch(client, "/api/callbacks?format=csv&status=completed", token)
    assert _csv(body)[1:] == []
    status, _, body = await _fetch(client, "/api/callbacks?format=xlsx", token)
    sheet = load_workbook(io.BytesIO(body), read_only=True)["callbacks"]
    assert sorted(r[2] for r in list(sheet.values)[1:]) == ["张三", "赵六"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/calls?format=pdf", "format"),
        ("/api/calls?format=csv&since=yesterday", "since"),
        ("/api/callbacks?format=ods", "format"),
        ("/api/callbacks?format=csv&status=lost", "status"),
    ],
)
async def test_given_bad_export_parameters_then_400_naming_them(
    db: Database, aiohttp_client: AppClient, tmp_path: Path, path: str, field: str
) -> None:
    client = await _client(db, aiohttp_client, tmp_path)
    token = await create_token(db, "ops")
    status, _, body = await _fetch(client, path, token)
    assert status == 400
    error: dict[str, Any] = json.loads(body)["error"]
    assert error["details"]["field"] == field


async def test_given_a_name_like_a_formula_then_the_exports_keep_it_as_text(
    db: Database, aiohttp_client: AppClient, tmp_path: Path
) -> None:
    client = await _client(db, aiohttp_client, tmp_path)
    token = await create_token(db, "ops")
    await _callback(client, token, "=HYPERLINK(1)", 5)
    _, _, body = await _fetch(client, "/api/callbacks?format=csv", token)
    rows = _csv(body)
    assert rows[1][rows[0].index("customer_name")] == "'=HYPERLINK(1)"
    assert rows[1][rows[0].index("customer_number")] == "+8613800138000"  # a number stays
    _, _, body = await _fetch(client, "/api/callbacks?format=xlsx", token)
    sheet = load_workbook(io.BytesIO(body))["callbacks"]
    assert (sheet["C2"].value, sheet["C2"].data_type) == ("=HYPERLINK(1)", "s")
