"""The pages in a real browser, in each language: a Chromium set to zh-CN or en-US signs in
and gets the dashboard, the QA list and the QA replay page in its language — ``<html
lang>``, headings, the core's breach, figure and index labels, the replay's lanes and the
dashboard's live state (texts the scripts take from the page) — with no script error.
Screenshots go to test-artifacts/ (``dashboard-zh-CN.png``, ``qa-list-en-US.png``, …).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ivr_agent.calls.store import save_outcome
from ivr_agent.db.database import Database
from ivr_agent.db.tokens import create_token
from ivr_agent.settings import load_settings
from tests.integration.qa_support import stored_call
from tests.support.agent import serving_agent
from tests.support.artifacts import ARTIFACTS
from tests.support.outcomes import SHANGHAI, sample_outcome

pytestmark = pytest.mark.postgres


@dataclass(frozen=True)
class Expected:
    """What a page in one language must show (exact texts of known elements)."""

    sign_in: str
    heading_prefix: str
    live: str
    service_level: str
    per_hour: str
    long_hold: str
    qa_title: str
    attitude: str
    holds_lane: str
    hang_up: str


EXPECTED = {
    "zh-CN": Expected(
        sign_in="登录",
        heading_prefix="今日热线 · ",
        live="实时",
        service_level="服务水平",
        per_hour="每小时服务水平",
        long_hold="保持超时",
        qa_title="质检回放",
        attitude="服务态度",
        holds_lane="保持",
        hang_up="挂机",
    ),
    "en-US": Expected(
        sign_in="Sign in",
        heading_prefix="Hotline today · ",
        live="live",
        service_level="Service level",
        per_hour="Service level per hour",
        long_hold="long hold",
        qa_title="QA replay",
        attitude="Service attitude",
        holds_lane="holds",
        hang_up="hang-up",
    ),
}


async def _text(page: Any, selector: str) -> str:
    """The text of the first element ``selector`` finds, as written (not as CSS shows it)."""
    text: str = await page.locator(selector).first.text_content()
    return text.strip()


@pytest.mark.parametrize("language", ["zh-CN", "en-US"])
async def test_given_a_browser_language_then_dashboard_and_qa_pages_speak_it(
    browser: Any, db: Database, tmp_path: Path, language: str
) -> None:
    want = EXPECTED[language]
    data_dir = tmp_path / "var"
    now = datetime.now(SHANGHAI)
    first = max(now - timedelta(minutes=40), now.replace(hour=0, minute=0, second=1))
    for n in range(3):
        # Late answers, a long hold (every sample has one) and a long call: every kind of tag.
        late = n == 1
        await save_outcome(
            db,
            sample_outcome(
                f"8.{n}",
                start=first + timedelta(minutes=n),
                operator_id=f"00{n + 1}",
                answered_within_standard=not late,
                ring_seconds=21.0 if late else 11.75,
                rings=5 if late else 3,
                over_max_duration=n == 2,
            ),
        )
    call = await stored_call(db, data_dir, "8.9", seconds=190.0, start=first + timedelta(minutes=5))
    token = await create_token(db, "qa")
    settings = load_settings(_env_file=None, data_dir=data_dir)
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    async with serving_agent(settings, db) as (_app, base):
        context = await browser.new_context(
            locale=language, viewport={"width": 1600, "height": 1000}
        )
        page = await context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        # Sign-in, by hand.
        await page.goto(f"{base}/login")
        assert await page.get_attribute("html", "lang") == language
        assert await _text(page, "h1") == want.sign_in
        await page.screenshot(path=str(ARTIFACTS / f"login-{language}.png"))
        await page.fill("#token", token)
        await page.click("#login-form button[type=submit]")
        await page.wait_for_url(f"{base}/")

        # The dashboard: headings, the core's labels, the live state the script wrote.
        await page.wait_for_selector("#live-state.live")
        assert await page.get_attribute("html", "lang") == language
        assert (await _text(page, "header .heading")).startswith(want.heading_prefix)
        assert await _text(page, "#live-state") == want.live
        label = "#panels [data-figure=service_level] .label"
        assert await _text(page, label) == want.service_level
        assert want.per_hour in await page.locator("#panels h2").all_text_contents()
        assert await _text(page, "ul.breaches .tag.long_hold") == want.long_hold
        await page.screenshot(path=str(ARTIFACTS / f"dashboard-{language}.png"), full_page=True)

        # The QA list and the replay page of the recorded call.
        await page.goto(f"{base}/qa")
        assert await page.get_attribute("html", "lang") == language
        assert await _text(page, "main h1") == want.qa_title
        assert await page.locator(f"tr[data-call-id='{call.call_id}']").count() == 1
        assert await _text(page, ".qa-list .badge.long_hold") == want.long_hold
        await page.screenshot(path=str(ARTIFACTS / f"qa-list-{language}.png"), full_page=True)
        await page.click(f"tr[data-call-id='{call.call_id}'] a")
        await page.wait_for_url(f"{base}/qa/calls/{call.call_id}")
        await page.wait_for_selector("body[data-ready='1']")
        await page.wait_for_selector("#waveform[data-peaks]")
        assert await page.get_attribute("html", "lang") == language
        assert await _text(page, "fieldset[data-index=attitude] legend") == want.attitude
        assert await _text(page, ".lane[data-lane=holds] .name") == want.holds_lane
        hang_up = page.locator("#lanes .marker[data-kind=hangup]")
        assert await hang_up.get_attribute("data-label") == want.hang_up
        await page.screenshot(path=str(ARTIFACTS / f"qa-call-{language}.png"), full_page=True)
        await context.close()
    assert errors == []
