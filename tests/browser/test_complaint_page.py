"""The complaint pages in a real browser (Playwright driving Debian's Chromium): a supervisor
finds a complaint opened by a call record in the list, is told what is missing when assigning
without a department, assigns it, records feedback and resolves it — each step appearing on
the timeline, the resolution scheduling the callback; an action the state no longer allows
is not offered; a QA reader sees the page without the actions. In Chinese, the page speaks
Chinese. Screenshots go to test-artifacts/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from ivr_agent.calls.store import save_outcome
from ivr_agent.db.database import Database
from ivr_agent.db.models import ComplaintEventRow, ComplaintRow
from ivr_agent.db.tokens import create_token
from ivr_agent.notify import Contacts, Department, Directory
from ivr_agent.platform.keys import DIRECTORY as COMPLAINT_DIRECTORY
from ivr_agent.settings import load_settings
from tests.support.agent import serving_agent
from tests.support.artifacts import ARTIFACTS
from tests.support.outcomes import sample_outcome

pytestmark = pytest.mark.postgres

DIRECTORY = Directory(
    departments={
        "billing": Department("billing", "计费部 Billing", Contacts(), Contacts()),
        "network": Department("network", "网络部 Network", Contacts(), Contacts()),
    }
)


def _with_directory(app: web.Application) -> None:
    app[COMPLAINT_DIRECTORY] = DIRECTORY


async def test_given_a_supervisor_then_it_moves_a_complaint_on_from_its_page(
    browser: Any, db: Database, tmp_path: Path
) -> None:
    start = datetime.now(UTC) - timedelta(minutes=10)
    call_id = await save_outcome(db, sample_outcome("17.1", start=start))
    operator = await create_token(db, "operator", operator_id="007")
    ops = await create_token(db, "ops", "supervisor")
    qa = await create_token(db, "qa", "qa reader")
    errors: list[str] = []
    settings = load_settings(_env_file=None, data_dir=tmp_path / "var", timezone="Asia/Shanghai")
    async with serving_agent(settings, db, prepare=_with_directory) as (_app, base):
        # The operator's wrap-up record of type complaint opens the complaint.
        page = await browser.new_page(viewport={"width": 1400, "height": 1000}, locale="en-US")
        page.on(
            "console",
            lambda m: (
                errors.append(m.text)
                if m.type == "error" and not m.text.startswith("Failed to load resource")
                else None
            ),
        )
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{base}/login?next=/calls/{call_id}/wrap-up#token={operator}")
        await page.wait_for_url(f"{base}/calls/{call_id}/wrap-up")
        await page.select_option("select[name=type]", "complaint")
        await page.fill("textarea[name=summary]", "账单多扣了 30 元")
        await page.click("#record-form button[type=submit]")
        await page.wait_for_selector("#record-history tr[data-version='1']")
        await page.context.clear_cookies()

        await page.goto(f"{base}/login?next=/complaints#token={ops}")
        await page.wait_for_url(f"{base}/complaints")
        rows = page.locator("#complaints tbody tr")
        assert await rows.count() == 1
        assert await rows.first.get_attribute("data-state") == "registered"
        await rows.first.locator("a").click()
        await page.wait_for_selector("#complaint-state[data-state='registered']")
        assert await page.locator("#complaint-summary").text_content() == "账单多扣了 30 元"
        # Only assigning is possible from registered.
        offered = await page.locator("select[name=transition] option").all_text_contents()
        assert offered == ["Assign to a department"]
        # Without a department: told so, nothing stored.
        await page.click("#action-form button[type=submit]")
        error = await page.locator("#action-error").text_content()
        assert error == "Choose the department that handles the complaint."
        await page.select_option("select[name=department_id]", "billing")
        await page.fill("textarea[name=note]", "转计费部核实")
        await page.click("#action-form button[type=submit]")
        await page.wait_for_selector("#complaint-state[data-state='assigned']")
        await page.select_option("select[name=transition]", "feedback")
        await page.fill("textarea[name=note]", "计费部：已查到重复扣费")
        await page.click("#action-form button[type=submit]")
        await page.wait_for_selector("#timeline tr[data-kind='feedback']")
        await page.select_option("select[name=transition]", "resolve")
        await page.fill("textarea[name=note]", "已退款 30 元")
        await page.click("#action-form button[type=submit]")
        await page.wait_for_selector("#complaint-state[data-state='resolved']")
        kinds = [
            await row.get_attribute("data-kind")
            for row in await page.locator("#timeline tbody tr").all()
        ]
        assert kinds == ["registered", "assigned", "feedback", "resolved"]
        resolved = page.locator("#timeline tr[data-kind='resolved'] td").nth(4)
        assert (await resolved.text_content() or "").startswith("callback ")
        # Resolved: the customer's confirmation or a reopening are what is left.
        offered = await page.locator("select[name=transition] option").all_text_contents()
        assert offered == ["Confirm (the customer agrees)", "Reopen"]
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "complaint.png"), full_page=True)
        await page.goto(f"{base}/complaints?state=resolved")
        assert await page.locator("#complaints tbody tr").count() == 1
        await page.goto(f"{base}/complaints?state=registered")
        assert await page.locator("#no-complaints").count() == 1
        await page.close()

        reader = await browser.new_page(locale="zh-CN")
        await reader.goto(f"{base}/login?next=/complaints#token={qa}")
        await reader.wait_for_url(f"{base}/complaints")
        assert await reader.locator("h1").text_content() == "投诉"
        await reader.locator("#complaints tbody tr a").click()
        await reader.wait_for_selector("#complaint-state[data-state='resolved']")
        assert (await reader.locator("#complaint-state").text_content() or "").strip() == "已解决"
        assert await reader.locator("#action-form").count() == 0  # qa reads, ops acts
        await reader.close()

    async with db.transaction("read") as session:
        complaint = (await session.scalars(select(ComplaintRow))).one()
        notes = list(
            await session.scalars(
                select(ComplaintEventRow.note).order_by(ComplaintEventRow.event_id)
            )
        )
    assert (complaint.state, complaint.department_id) == ("resolved", "billing")
    assert complaint.callback_id is not None
    assert notes == ["", "转计费部核实", "计费部：已查到重复扣费", "已退款 30 元"]
    assert errors == []
