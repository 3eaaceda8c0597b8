"""The dashboard in a real browser: Chromium signs in with a token, shows the same figures as
``GET /api/metrics/summary`` for today, and updates within 2 s of a sandbox call ending.

The agent runs in-process (as in tests/integration/test_agent_live.py) on a real port, with
a real PostgreSQL; the live test drives one simulator scenario through the Asterisk sandbox.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ivr_agent.app import AMI
from ivr_agent.calls.store import save_outcome
from ivr_agent.core.outcome import CallOutcome
from ivr_agent.core.timeline import TimelineEvent
from ivr_agent.dashboard.live import LIVE
from ivr_agent.db.database import Database
from ivr_agent.db.tokens import create_token, revoke_token
from ivr_agent.settings import load_settings
from ivr_agent.sim import runner, sandbox
from ivr_agent.sim import scenario as scenarios
from ivr_agent.web.i18n import page_locale
from tests.integration.sandbox_support import progress, running_sandbox
from tests.support.agent import serving_agent
from tests.support.artifacts import ARTIFACTS
from tests.support.outcomes import SHANGHAI, sample_outcome

pytestmark = pytest.mark.postgres

#: The figures of the dashboard's tiles, by name, with their raw values.
TILE_FIGURES = """() => Object.fromEntries(
  [...document.querySelectorAll('#panels .kpis [data-figure]')]
    .map(e => [e.dataset.figure, JSON.parse(e.dataset.value)]))"""
OPERATOR_FIGURES = """() => Object.fromEntries(
  [...document.querySelectorAll('#panels tr[data-operator]')].map(row => [
    row.dataset.operator,
    Object.fromEntries([...row.querySelectorAll('[data-figure]')]
      .map(e => [e.dataset.figure, JSON.parse(e.dataset.value)]))]))"""
OFFERED = "Number(document.querySelector('#panels [data-figure=offered]').dataset.value)"
IN_PROGRESS = "Number(document.querySelector('[data-live=in_progress] .value').textContent)"


def _timeline(outcome: CallOutcome) -> list[TimelineEvent]:
    """The main moments of a sample call, as the tracker records them."""
    assert outcome.wait_started_at is not None
    assert outcome.answered_at is not None
    return [
        TimelineEvent(outcome.offered_at, "offered", "PJSIP/trunk-1", {"caller": "13800138000"}),
        TimelineEvent(outcome.wait_started_at, "ring", "PJSIP/op007-1", {"operator": "007"}),
        TimelineEvent(outcome.answered_at, "answer", "PJSIP/op007-1", {"operator": "007"}),
        *(TimelineEvent(h.started_at, "hold", "PJSIP/op007-1") for h in outcome.holds),
        TimelineEvent(outcome.ended_at, "hangup", "PJSIP/trunk-1", {"cause": 16}),
    ]


async def _api_summary(base: str, token: str, **query: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base}/api/metrics/summary", params=query, headers=headers) as response,
    ):
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


async def _sign_in(browser: Any, base: str, token: str, errors: list[str]) -> Any:
    # An English browser (tests/browser/test_languages.py shows both languages).
    page = await browser.new_page(viewport={"width": 1920, "height": 1080}, locale="en-US")
    # Script errors and Content-Security-Policy violations show up as console errors.
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    # The token travels in the fragment: login.js posts it; the server never sees it in a URL.
    await page.goto(f"{base}/login#token={token}")
    await page.wait_for_url(f"{base}/")
    await page.wait_for_selector("#live-state.live")
    assert "token" not in page.url
    return page


async def _assert_same_figures(page: Any, base: str, token: str) -> dict[str, Any]:
    api = await _api_summary(base, token, group_by="operator")
    shown = await page.evaluate(TILE_FIGURES)
    assert shown, "no figures on the page"
    assert shown == {name: api["figures"][name]["value"] for name in shown}
    level = api["figures"]["service_level"]["value"]
    tile = page.locator("#panels [data-figure=service_level] .value")
    assert await tile.inner_text() == page_locale("en-US").percent(level)
    operators = await page.evaluate(OPERATOR_FIGURES)
    expected = {
        g["operator_id"]: {
            name: g["figures"][name]["value"] for name in operators[g["operator_id"]]
        }
        for g in api["groups"]
        if g["operator_id"] is not None
    }
    assert operators == expected
    return api


async def test_given_a_token_then_the_dashboard_shows_the_summary_of_today(
    browser: Any, db: Database, tmp_path: Path
) -> None:
    now = datetime.now(SHANGHAI)
    first = max(now - timedelta(minutes=30), now.replace(hour=0, minute=0, second=1))
    for n in range(3):
        outcome = sample_outcome(f"7.{n}", start=first + timedelta(minutes=n))
        await save_outcome(db, outcome, _timeline(outcome))
    settings = load_settings(data_dir=tmp_path / "var")
    token = await create_token(db, "ops")
    errors: list[str] = []
    async with serving_agent(settings, db) as (_app, base):
        page = await _sign_in(browser, base, token, errors)
        api = await _assert_same_figures(page, base, token)
        assert api["figures"]["offered"]["value"] == 3
        breaches = page.locator("ul.breaches a")
        assert await breaches.count() == 3
        await breaches.first.click()
        await page.wait_for_selector("table.timeline")
        assert "/calls/" in page.url
        assert await page.locator("table.timeline tbody tr").count() == 6
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "call-timeline.png"), full_page=True)
        await page.go_back()
        await page.wait_for_selector("#panels")
        await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    assert errors == []


async def test_given_a_revoked_token_when_the_live_stream_ends_then_the_page_asks_to_sign_in(
    browser: Any, db: Database, tmp_path: Path
) -> None:
    # The server ends the stream with a last ``closed`` event; the browser used to retry
    # (refused each time) and show "reconnecting" for ever.
    settings = load_settings(data_dir=tmp_path / "var")
    token = await create_token(db, "ops")
    errors: list[str] = []
    async with serving_agent(settings, db) as (app, base):
        app[LIVE].recheck_seconds = 0.2
        page = await _sign_in(browser, base, token, errors)
        await revoke_token(db, token)
        await page.wait_for_url(f"{base}/login?next=/", timeout=10_000)
        await page.wait_for_load_state("networkidle")
        # Judged while the agent still serves: once it stops, any request the open page
        # makes is refused (a CI run caught one), which says nothing about the sign-out.
        seen = [e for e in errors if "401" not in e]
        await page.close()
    assert seen == []


@pytest.mark.sandbox
async def test_given_a_sandbox_call_when_it_ends_then_the_dashboard_updates_within_2_s(
    browser: Any, db: Database, tmp_path: Path
) -> None:
    box = running_sandbox()
    env = sandbox.load_credentials(box).env()
    settings = load_settings(
        ami_url=env["IVR_AGENT_AMI_URL"],
        data_dir=tmp_path / "var",
        pbx_id=f"browser-{uuid.uuid4().hex[:8]}",
    )
    token = await create_token(db, "ops")
    config = runner.RunnerConfig.from_env_file(box.credentials_file)
    async with serving_agent(settings, db) as (app, base):
        await app[AMI].wait_logged_in(20)
        page = await _sign_in(browser, base, token, errors=[])
        before = await _assert_same_figures(page, base, token)
        offered = before["figures"]["offered"]["value"]
        with app[LIVE].subscribe() as feed:
            call = asyncio.create_task(
                runner.run(scenarios.load("answered_1_ring"), config, progress)
            )
            # While the call rings and talks, the live tiles count it.
            await page.wait_for_function(f"() => {IN_PROGRESS} > 0", timeout=30_000)
            while (event := await asyncio.wait_for(feed.get(), 60)) is not None:
                if event.kind == "call_finished":
                    break
            ended = time.monotonic()
            await page.wait_for_function(f"() => {OFFERED} === {offered + 1}", timeout=5_000)
            shown_after = time.monotonic() - ended
            await call
        assert shown_after < 2.0, f"the dashboard took {shown_after:.2f} s"
        await page.wait_for_function(f"() => {IN_PROGRESS} === 0", timeout=5_000)
        after = await _assert_same_figures(page, base, token)
        assert after["figures"]["answered"]["value"] == before["figures"]["answered"]["value"] + 1
        assert "002" in await page.evaluate(OPERATOR_FIGURES)
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "dashboard-live.png"), full_page=True)
    print(f"dashboard updated {shown_after:.3f} s after the call ended")
