"""The wrap-up form in a real browser (Playwright driving Debian's Chromium) on stored calls:
an operator signs in, lands on its own calls without a record (not another operator's),
opens one, is told which field is wrong, enters the record in time and corrects it; the
store keeps both versions. In Chinese, the page speaks Chinese. Screenshots go to
test-artifacts/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from ivr_agent.calls.store import save_outcome
from ivr_agent.db.database import Database
from ivr_agent.db.tokens import create_token
from ivr_agent.settings import load_settings
from tests.support.agent import serving_agent
from tests.support.artifacts import ARTIFACTS
from tests.support.outcomes import sample_outcome

pytestmark = pytest.mark.postgres


def _ended_ago(linkedid: str, minutes: float, operator: str) -> Any:
    start = datetime.now(UTC) - timedelta(minutes=minutes, seconds=200.000001)
    return sample_outcome(linkedid, start=start, operator_id=operator)


async def test_given_an_operator_then_it_enters_and_corrects_its_calls_record(
    browser: Any, db: Database, tmp_path: Path
) -> None:
    own = await save_outcome(db, _ended_ago("4.1", 2, "007"))
    others = await save_outcome(db, _ended_ago("4.2", 3, "008"))
    operator = await create_token(db, "operator", "operator 007", operator_id="007")
    errors: list[str] = []
    settings = load_settings(_env_file=None, data_dir=tmp_path / "var", timezone="Asia/Shanghai")
    async with serving_agent(settings, db) as (_app, base):
        page = await browser.new_page(viewport={"width": 1400, "height": 1000}, locale="en-US")
        # The refused form (400) and another's call (404) are answers this test asks for;
        # the browser logs them as failed loads, which are not the page's errors.
        page.on(
            "console",
            lambda m: (
                errors.append(m.text)
                if m.type == "error" and not m.text.startswith("Failed to load resource")
                else None
            ),
        )
        page.on("pageerror", lambda e: errors.append(str(e)))
        # An operator's sign-in lands on its wrap-up list: its own call only.
        await page.goto(f"{base}/login#token={operator}")
        await page.wait_for_url(f"{base}/wrap-up")
        assert await page.locator(f"#pending tr[data-call-id='{own}']").count() == 1
        assert await page.locator(f"#pending tr[data-call-id='{others}']").count() == 0
        await page.click(f"#pending tr[data-call-id='{own}'] a")
        await page.wait_for_url(f"{base}/calls/{own}/wrap-up")
        assert await page.locator("#no-record").count() == 1
        assert await page.get_attribute("#wrap-up-state", "data-late") == "false"
        # The caller's number is offered as the contact; a wrong one is refused, named.
        assert await page.input_value("input[name=contact_number]") == "13800138000"
        await page.select_option("select[name=type]", "consultation")
        await page.fill("textarea[name=summary]", "问账单 how to pay")
        await page.fill("input[name=contact_number]", "12ab")
        await page.click("#record-form button[type=submit]")
        error = await page.locator("#record-error").text_content()
        assert error == "The contact number must have 5 to 20 digits."
        # The form keeps what was typed.
        assert await page.input_value("textarea[name=summary]") == "问账单 how to pay"
        await page.fill("input[name=contact_number]", "13900139000")
        await page.fill("input[name=expected_completion]", "2026-12-10T15:30")
        await page.click("#record-form button[type=submit]")
        await page.wait_for_selector("#record-history tr[data-version='1']")
        assert await page.get_attribute("#wrap-up-state", "data-late") == "false"
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "wrap-up.png"), full_page=True)
        # A correction: a complaint now, in progress.
        await page.select_option("select[name=type]", "complaint")
        await page.select_option("select[name=status]", "in_progress")
        await page.click("#record-form button[type=submit]")
        await page.wait_for_selector("#record-history tr[data-version='2']")
        assert await page.locator("#record-history tr.superseded").count() == 1
        # Another operator's call is not found for this one.
        response = await page.goto(f"{base}/calls/{others}/wrap-up")
        assert response is not None
        assert response.status == 404
        await page.close()

        chinese = await browser.new_page(locale="zh-CN")
        await chinese.goto(f"{base}/login?next=/calls/{own}/wrap-up#token={operator}")
        await chinese.wait_for_url(f"{base}/calls/{own}/wrap-up")
        assert await chinese.locator("h1").text_content() == "来电记录"
        assert await chinese.locator("select[name=type] option:checked").text_content() == "投诉"
        await chinese.close()

    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT version, type, status, contact_number, expected_completion "
                    "FROM call_records WHERE call_id = :call ORDER BY version"
                ),
                {"call": own},
            )
        ).all()
    shanghai = datetime(2026, 12, 10, 7, 30, tzinfo=UTC)  # 15:30 in Asia/Shanghai
    assert [tuple(r) for r in rows] == [
        (1, "consultation", "open", "13900139000", shanghai),
        (2, "complaint", "in_progress", "13900139000", shanghai),
    ]
    assert errors == []
