"""Reports (S10) against a real PostgreSQL: a day's XLSX equals ``/api/metrics/summary``,
the CSV keeps Chinese and its BOM, the PDF renders with extractable text, and a period
closing while the agent runs produces its reports without anyone asking (time-scaled)."""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from openpyxl import load_workbook
from sqlalchemy import URL

from ivr_agent.app import build_app
from ivr_agent.calls.store import save_outcome
from ivr_agent.complaints.model import Actor
from ivr_agent.complaints.store import NewComplaint, register
from ivr_agent.db.database import Database
from ivr_agent.db.tokens import create_token
from ivr_agent.reports import PeriodKind, containing, gather, write
from ivr_agent.reports.feature import PRODUCER_CLOCK, ProducerClock
from ivr_agent.settings import Settings, load_settings
from tests.integration.test_api_metrics import OUTCOMES
from tests.support.outcomes import SHANGHAI, sample_outcome

pytestmark = pytest.mark.postgres

Client = TestClient[web.Request, web.Application]
AppClient = Callable[[web.Application], Awaitable[Client]]

DAY = date(2026, 11, 23)
#: Calls of that day answered by an operator with a Chinese name.
CHINESE_OPERATOR = "王芳"


async def _stored(db: Database) -> None:
    for outcome in OUTCOMES:
        await save_outcome(db, outcome)
    at = datetime(2026, 11, 23, 15, 0, tzinfo=SHANGHAI)
    await save_outcome(db, sample_outcome("1.9", start=at, operator_id=CHINESE_OPERATOR))


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": tmp_path / "var", "reports_enabled": False}
    return load_settings(**(values | overrides))


async def _summary(client: Client, token: str, query: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with client.get(f"/api/metrics/summary?{query}", headers=headers) as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


async def test_given_a_day_when_reported_as_xlsx_then_its_figures_equal_the_api(
    db: Database, aiohttp_client: AppClient, tmp_path: Path
) -> None:
    await _stored(db)
    settings = _settings(tmp_path)
    client = await aiohttp_client(build_app(settings, database=db))
    token = await create_token(db, "ops")
    period = containing(PeriodKind.DAY, DAY, settings.zone)
    query = f"from={period.start.isoformat()}&to={period.end.isoformat()}&group_by=operator"
    api = await _summary(client, token, query.replace("+", "%2B"))

    report = await gather(db, settings, period, now=datetime.now(SHANGHAI))
    path = tmp_path / "day.xlsx"
    await write(report, "xlsx", path)

    workbook = load_workbook(path, read_only=True)
    assert workbook.sheetnames == [
        "report",
        "hotline",
        "operators",
        "breaches",
        "callbacks",
        "follow_ups",
        "complaints",
    ]
    hotline = {row[0]: row for row in workbook["hotline"].iter_rows(min_row=2, values_only=True)}
    for name, figure in api["figures"].items():
        if name.startswith(("callbacks_", "return_call", "specialist_")):
            continue
        if name == "satisfaction_index":
            continue
        assert hotline[name][2] == figure["value"], name
        assert hotline[name][3] == figure["formula"], name
    assert hotline["offered"][2] == 7  # the six of the known set and the Chinese operator's
    callbacks = {r[0]: r[2] for r in workbook["callbacks"].iter_rows(min_row=2, values_only=True)}
    assert callbacks["callbacks_due"] == api["figures"]["callbacks_due"]["value"]
    follow_ups = {r[0]: r for r in workbook["follow_ups"].iter_rows(min_row=2, values_only=True)}
    assert set(follow_ups) == {n for n in api["figures"] if n.startswith(("return_", "special"))}
    for name, row in follow_ups.items():
        assert (row[2], row[3]) == (api["figures"][name]["value"], api["figures"][name]["formula"])
    per_operator = {
        (row[0], row[1]): row[3]
        for row in workbook["operators"].iter_rows(min_row=2, values_only=True)
    }
    for group in api["groups"]:
        operator = group["operator_id"] or "(unanswered)"
        for name, figure in group["figures"].items():
            assert per_operator[(operator, name)] == figure["value"], (operator, name)
    breaches = [r[0] for r in workbook["breaches"].iter_rows(min_row=2, values_only=True)]
    bounds = query.split("&group_by")[0].replace("+", "%2B")
    headers = {"Authorization": f"Bearer {token}"}
    async with client.get(f"/api/metrics/breaches?{bounds}&limit=200", headers=headers) as r:
        listed = [b["call_id"] for b in (await r.json())["breaches"]]
    assert breaches == listed[::-1]  # the API's list, oldest first
    assert {OUTCOMES[1].call_id, OUTCOMES[2].call_id} <= set(breaches)


async def test_given_a_month_then_the_report_has_the_assessment_sheet(
    db: Database, tmp_path: Path
) -> None:
    await _stored(db)
    call_of_007 = next(o for o in OUTCOMES if o.operator_id == "007")
    new = NewComplaint(summary="态度不好", call_id=call_of_007.call_id)
    await register(
        db, new, Actor("token:test", "ops"), now=datetime(2026, 11, 23, 16, tzinfo=SHANGHAI)
    )
    settings = _settings(tmp_path)
    period = containing(PeriodKind.MONTH, DAY, settings.zone)
    assert (period.start.day, period.end.month) == (1, 12)
    report = await gather(db, settings, period, now=datetime.now(SHANGHAI))
    path = tmp_path / "month.xlsx"
    await write(report, "xlsx", path)
    sheet = load_workbook(path, read_only=True)["assessment"]
    rows = {row[0]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
    header = next(sheet.iter_rows(max_row=1, values_only=True))
    assert set(rows) == {"007", "008", "009", CHINESE_OPERATOR}  # 009: the next day, same month
    assert rows["007"][header.index("answered")] == 2
    assert rows["007"][header.index("asa_seconds")] == 15.875
    assert "overall_score" not in header  # no weights set: figures only
    # One complaint about one of 007's calls; nobody else's.
    assert rows["007"][header.index("complaints_registered")] == 1
    assert rows["008"][header.index("complaints_registered")] == 0
    assert "late_wrap_ups" in header
    complaints = load_workbook(path, read_only=True)["complaints"]
    by_state = {
        r[1]: r[2] for r in complaints.iter_rows(min_row=2, values_only=True) if r[0] == "state"
    }
    assert by_state["registered"] == 1

    weighted = _settings(tmp_path, assessment_weights="service_level=1,satisfaction_rate=1")
    report = await gather(db, weighted, period, now=datetime.now(SHANGHAI))
    view = report.view("assessment")
    row = next(r for r in view.rows if r[0] == "007")
    score = row[view.header.index("overall_score")]
    assert score == 75.0  # 100 × (service level 0.5 + satisfaction 1/1) / 2
    assert row[view.header.index("overall_score_formula")].endswith("/ 2 = 75")


async def test_given_a_day_when_reported_as_csv_then_bom_and_chinese_round_trip(
    db: Database, tmp_path: Path
) -> None:
    await _stored(db)
    settings = _settings(tmp_path)
    report = await gather(
        db, settings, containing(PeriodKind.DAY, DAY, settings.zone), now=datetime.now(SHANGHAI)
    )
    path = tmp_path / "day.csv"
    await write(report, "csv", path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    sections = [row[0] for row in rows if row and row[0].startswith("# ")]
    assert sections == [
        "# report",
        "# hotline",
        "# operators",
        "# breaches",
        "# callbacks",
        "# follow_ups",
        "# complaints",
    ]
    assert any(row[:2] == [CHINESE_OPERATOR, "offered"] for row in rows)
    offered = next(row for row in rows if row[:1] == ["offered"])
    assert offered[2] == "7"


async def test_given_a_day_when_reported_as_pdf_then_pages_with_extractable_text(
    db: Database, tmp_path: Path
) -> None:
    from pypdf import PdfReader

    await _stored(db)
    settings = _settings(tmp_path)
    report = await gather(
        db, settings, containing(PeriodKind.DAY, DAY, settings.zone), now=datetime.now(SHANGHAI)
    )
    path = tmp_path / "day.pdf"
    await write(report, "pdf", path)
    reader = PdfReader(path)
    assert len(reader.pages) > 0
    text = "".join(page.extract_text() for page in reader.pages)
    assert "Daily report 2026-11-23" in text
    assert "日报" in text
    assert "Hotline" in text
    assert "service_level" in text
    assert "answered_within_standard /" in text  # its formula (a table cell may wrap it)
    assert CHINESE_OPERATOR in text


class ScaledClock:
    """A clock the test moves: starts just before a local midnight."""

    def __init__(self, start: datetime) -> None:
        self.moment = start

    def now(self) -> datetime:
        return self.moment


async def _wait_for(path: Path, seconds: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if await asyncio.to_thread(path.exists):
            return True
        await asyncio.sleep(0.05)
    return await asyncio.to_thread(path.exists)


async def test_given_the_agent_running_when_a_day_closes_then_its_report_appears_and_is_served(
    db: Database, aiohttp_client: AppClient, tmp_path: Path
) -> None:
    await _stored(db)
    settings = _settings(
        tmp_path, reports_enabled=True, reports_formats="xlsx,csv", reports_catch_up_days=1
    )
    app = build_app(settings, database=db)
    clock = ScaledClock(datetime(2026, 11, 23, 23, 59, 58, tzinfo=SHANGHAI))
    app[PRODUCER_CLOCK] = ProducerClock(clock.now, poll_seconds=0.05)
    client = await aiohttp_client(app)
    reports = settings.data_dir / "reports"
    xlsx = reports / "day-2026-11-23.xlsx"
    # Before midnight: the day is open, so no report of it; nor of the day before, which
    # ended before the first stored call (a new install writes no month of empty reports).
    assert not await _wait_for(xlsx, 0.5)
    assert not (reports / "day-2026-11-22.xlsx").exists()

    clock.moment += timedelta(seconds=3)  # 00:00:01 on the 24th: the 23rd has closed
    assert await _wait_for(xlsx, 10)
    assert await _wait_for(reports / "day-2026-11-23.csv", 10)
    written = xlsx.stat().st_mtime_ns
    await asyncio.sleep(0.3)  # more rounds: nothing written twice
    assert xlsx.stat().st_mtime_ns == written

    token = await create_token(db, "qa")
    headers = {"Authorization": f"Bearer {token}"}
    async with client.get("/api/reports", headers=headers) as response:
        assert response.status == 200
        listed = {r["report_id"]: r for r in (await response.json())["reports"]}
    assert listed["day-2026-11-23.xlsx"]["period"] == "day"
    assert listed["day-2026-11-23.xlsx"]["url"] == "/api/reports/day-2026-11-23.xlsx"
    async with client.get("/api/reports/day-2026-11-23.xlsx", headers=headers) as response:
        assert response.status == 200
        body = await response.read()
    hotline = load_workbook(io.BytesIO(body), read_only=True)["hotline"]
    offered = next(r for r in hotline.iter_rows(values_only=True) if r[0] == "offered")
    assert offered[2] == 7


@pytest.mark.parametrize(
    "path",
    [
        "/api/reports/day-2026-11-30.xlsx",  # well-formed, not stored
        "/api/reports/..%2F..%2Fsettings.py",
        "/api/reports/day-2026-11-23.xlsx.partial",
    ],
)
async def test_given_an_unknown_report_id_then_404(
    db: Database, aiohttp_client: AppClient, tmp_path: Path, path: str
) -> None:
    settings = _settings(tmp_path)
    client = await aiohttp_client(build_app(settings, database=db))
    (settings.data_dir / "reports").mkdir(parents=True)
    (settings.data_dir / "reports" / "day-2026-11-23.xlsx.partial").write_bytes(b"x")
    token = await create_token(db, "ops")
    async with client.get(path, headers={"Authorization": f"Bearer {token}"}) as response:
        assert response.status == 404
    async with client.get("/api/reports") as response:
        assert response.status == 401


async def test_given_the_report_command_then_the_file_of_the_dated_week_is_written(
    db: Database, migrated_database_url: URL, cli_env: dict[str, str], tmp_path: Path
) -> None:
    await _stored(db)
    cli_env["IVR_AGENT_DATABASE_URL"] = migrated_database_url.render_as_string(hide_password=False)
    output = tmp_path / "week.xlsx"
    args = ["--period", "week", "--date", "2026-11-26", "--format", "xlsx", "--output"]
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "ivr_agent.cli", "report", *args, str(output)],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "week 2026-W48 [2026-11-23T00:00:00+08:00, 2026-11-30T00:00:00+08:00)" in done.stdout
    hotline = load_workbook(output, read_only=True)["hotline"]
    offered = next(r for r in hotline.iter_rows(values_only=True) if r[0] == "offered")
    assert offered[2] == 8  # the day's seven and the next day's call by 009
