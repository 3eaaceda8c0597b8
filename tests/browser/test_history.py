"""The history page in a real browser: a date range and a grouping chosen in the form, one
line chart per figure with one point per bucket, the values of
``GET /api/metrics/history`` for the same range. Screenshots go to test-artifacts/."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ivr_agent.calls.store import save_outcome
from ivr_agent.db.database import Database
from ivr_agent.db.tokens import create_token
from ivr_agent.settings import load_settings
from tests.support.agent import serving_agent
from tests.support.artifacts import ARTIFACTS
from tests.support.outcomes import SHANGHAI, sample_outcome

pytestmark = pytest.mark.postgres

#: Monday 2026-11-02 … Sunday 2026-11-15 (Shanghai): calls on four of its fourteen days.
FIRST = datetime(2026, 11, 2, 10, 0, tzinfo=SHANGHAI)
CALL_DAYS = {0: 2, 3: 1, 7: 3, 13: 1}

POINTS = """name => [...document.querySelectorAll(
  `figure[data-figure=${name}] circle.point`)].map(c => Number(c.dataset.value))"""


async def _api_history(base: str, token: str, **query: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base}/api/metrics/history", params=query, headers=headers) as response,
    ):
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


async def test_given_a_range_and_a_grouping_then_each_chart_has_a_point_per_bucket(
    browser: Any, db: Database, tmp_path: Path
) -> None:
    for day, calls in CALL_DAYS.items():
        for n in range(calls):
            start = FIRST + timedelta(days=day, minutes=7 * n)
            await save_outcome(db, sample_outcome(f"h{day}.{n}", start=start))
    token = await create_token(db, "ops")
    errors: list[str] = []
    async with serving_agent(load_settings(data_dir=tmp_path / "var"), db) as (_app, base):
        page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-US")
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{base}/login#token={token}")
        await page.wait_for_url(f"{base}/")
        await page.click("a[href='/history']")
        await page.wait_for_selector("form.history-range")
        # The range and the grouping, chosen in the form.
        await page.fill("input[name=from]", "2026-11-02")
        await page.fill("input[name=to]", "2026-11-15")
        await page.select_option("select[name=group_by]", "day")
        await page.click("form.history-range button[type=submit]")
        await page.wait_for_url("**/history?*group_by=day*")
        charts = page.locator("figure.history-chart")
        assert await charts.count() == 8
        offered = await page.evaluate(POINTS, "offered")
        assert offered == [CALL_DAYS.get(day, 0) for day in range(14)]
        # A ratio has a point only where there were calls: the line has gaps.
        assert len(await page.evaluate(POINTS, "service_level")) == len(CALL_DAYS)
        api = await _api_history(base, token, **{"from": "2026-11-02", "to": "2026-11-16"})
        assert await page.evaluate(POINTS, "asa_seconds") == [
            p["figures"]["asa_seconds"]
            for p in api["points"]
            if p["figures"]["asa_seconds"] is not None
        ]
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "history-by-day.png"), full_page=True)
        # Per week (from Monday): two points, the calls of each week.
        await page.select_option("select[name=group_by]", "week")
        await page.click("form.history-range button[type=submit]")
        await page.wait_for_url("**/history?*group_by=week*")
        assert await page.evaluate(POINTS, "offered") == [3, 4]
        assert errors == []
        # A bad range is refused, naming the field.
        response = await page.goto(f"{base}/history?from=2026-11-15&to=2026-11-02")
        assert response is not None
        assert response.status == 400
        assert "to:" in await page.inner_text("main")
