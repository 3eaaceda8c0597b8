"""The QA replay page in a real browser (Playwright driving Debian's Chromium) on a real
sandbox call: a QA user signs in, finds the call in the QA list, opens it, sees its hold and
prompts on the timeline at the right offsets (±0.5 s from the recording's start, against
the simulator's ground truth measured on the phones side), clicks the hold and the player
seeks there, and submits a score that is stored. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from ivr_agent.db.database import Database
from ivr_agent.db.tokens import create_token
from ivr_agent.qa.scores import score_history
from ivr_agent.settings import load_settings
from ivr_agent.sim import runner
from ivr_agent.sim import scenario as scenarios
from tests.integration.qa_support import stored_call
from tests.integration.sandbox_support import progress, running_sandbox
from tests.support.agent import recording_of, sandbox_settings, serving_agent, stored_outcome
from tests.support.artifacts import ARTIFACTS

pytestmark = pytest.mark.postgres

TOLERANCE = 0.5
MARKERS = """() => [...document.querySelectorAll('#lanes .marker')].map(b => ({
  kind: b.dataset.kind, label: b.dataset.label, start: Number(b.dataset.start),
  end: b.dataset.end === undefined ? null : Number(b.dataset.end),
  left: b.getBoundingClientRect().left, width: b.getBoundingClientRect().width}))"""


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value)


@pytest.mark.sandbox
async def test_given_a_sandbox_call_then_qa_replays_it_on_its_timeline_and_scores_it(
    browser: Any, db: Database, tmp_path: Path
) -> None:
    settings = sandbox_settings(running_sandbox(), tmp_path / "var", "qa")
    plan = scenarios.load("hold_12s")
    config = runner.RunnerConfig.from_env_file(running_sandbox().credentials_file)
    qa = await create_token(db, "qa", "browser reviewer")
    errors: list[str] = []
    async with serving_agent(settings, db) as (_app, base):
        (truth,) = await runner.run(plan, config, progress)
        assert truth["completed"], truth["errors"]
        call = await stored_outcome(db, settings.pbx_id, truth["caller_number"])
        recording = await recording_of(db, call["call_id"])
        assert recording.status == "ok", recording.reason
        origin = recording.started_at

        page = await browser.new_page(viewport={"width": 1600, "height": 1000}, locale="en-US")
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{base}/login?next=/qa#token={qa}")
        await page.wait_for_url(f"{base}/qa")
        # The list, filtered to this operator and the long-hold breach, shows the call.
        await page.select_option("select[name=operator]", call["operator_id"])
        await page.select_option("select[name=breach]", "long_hold")
        await page.click("form.filters button")
        await page.wait_for_url("**/qa?**")
        row = page.locator(f"tr[data-call-id='{call['call_id']}']")
        assert await row.count() == 1
        await row.locator("a").click()
        await page.wait_for_url(f"{base}/qa/calls/{call['call_id']}")
        await page.wait_for_selector("body[data-ready='1']")
        await page.wait_for_selector("#waveform[data-peaks]")

        markers = await page.evaluate(MARKERS)
        # The hold, where the phones side measured it.
        (hold,) = [m for m in markers if m["kind"] == "hold"]
        (true_hold,) = truth["holds"]
        assert hold["start"] == pytest.approx(
            (_t(true_hold["started_at"]) - origin).total_seconds(), abs=TOLERANCE
        )
        assert hold["end"] == pytest.approx(
            (_t(true_hold["ended_at"]) - origin).total_seconds(), abs=TOLERANCE
        )
        # Every prompt the call stored is drawn at its offset; the first one after the
        # answer starts where the caller started hearing it.
        prompts = [m for m in markers if m["kind"] == "prompt"]
        stored = sorted(call["prompts_played"], key=lambda p: p["at"])
        assert [m["label"].split(" ")[0] for m in prompts] == [p["prompt"] for p in stored]
        for marker, prompt in zip(prompts, stored, strict=True):
            assert marker["start"] == pytest.approx(
                (_t(prompt["at"]) - origin).total_seconds(), abs=TOLERANCE
            )
        (intro,) = [m for m in prompts if m["label"] == "operator_intro"]
        first_heard = truth["heard_after_answer"][0]
        assert intro["start"] == pytest.approx(
            (_t(first_heard["started_at"]) - origin).total_seconds(), abs=TOLERANCE
        )
        # Drawn where its offset says: the hold's left edge over the waveform's width.
        stage = await page.locator("#lanes .lane[data-lane='holds']").bounding_box()
        seconds = recording.seconds
        expected_left = stage["x"] + stage["width"] * hold["start"] / max(
            seconds, *(m["end"] or m["start"] for m in markers)
        )
        assert hold["left"] == pytest.approx(expected_left, abs=stage["width"] * 0.01)

        # The waveform and the lanes share one time axis.
        wave = await page.locator("#waveform").bounding_box()
        assert wave["x"] == pytest.approx(stage["x"], abs=3)
        assert wave["width"] == pytest.approx(stage["width"], abs=3)

        # Clicking the hold seeks the player to it.
        await page.click("#lanes .marker[data-kind='hold']")
        await page.wait_for_function(
            f"Math.abs(document.getElementById('player').currentTime - {hold['start']}) < 0.3"
        )
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "qa-replay.png"), full_page=True)

        # Score it.
        picks = {"skill": 5, "attitude": 4, "timeliness": 3, "parts": 4, "overall": 5}
        for name, value in picks.items():
            await page.check(f"fieldset[data-index='{name}'] input[value='{value}']")
        await page.fill("textarea[name=comment]", "Hold announced, apology played. 很好")
        await page.click("#score-form button[type=submit]")
        await page.wait_for_selector("#score-history tr[data-version='1']")
        await page.screenshot(path=str(ARTIFACTS / "qa-scored.png"), full_page=True)
        await page.close()

    (score,) = await score_history(db, call["call_id"])
    assert score.scores == picks
    assert score.satisfaction_index == pytest.approx(4.2)
    assert score.comment == "Hold announced, apology played. 很好"
    assert score.scorer_role == "qa"
    async with db.engine.connect() as conn:
        plays = (
            await conn.execute(
                text("SELECT count(*) FROM audit_log WHERE action = 'recording.play'")
            )
        ).scalar()
    assert plays is not None
    assert plays >= 1  # the browser's audio requests were audited
    assert errors == []


async def test_given_a_stored_call_then_the_form_stores_a_score_and_a_correction(
    browser: Any, db: Database, tmp_path: Path
) -> None:
    data_dir = tmp_path / "var"
    call = await stored_call(db, data_dir, seconds=190.0)
    qa = await create_token(db, "qa")
    errors: list[str] = []
    async with serving_agent(load_settings(_env_file=None, data_dir=data_dir), db) as (_app, base):
        page = await browser.new_page(viewport={"width": 1600, "height": 1000}, locale="en-US")
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        await page.goto(f"{base}/login?next=/qa/calls/{call.call_id}#token={qa}")
        await page.wait_for_url(f"{base}/qa/calls/{call.call_id}")
        await page.wait_for_selector("#waveform[data-peaks]")
        wave = await page.locator("#waveform").bounding_box()
        lane = await page.locator("#lanes .lane").first.bounding_box()
        assert wave["x"] == pytest.approx(lane["x"], abs=3)
        assert wave["width"] == pytest.approx(lane["width"], abs=3)
        for version, value in ((1, 2), (2, 4)):
            for name in ("skill", "attitude", "timeliness", "parts", "overall"):
                await page.check(f"fieldset[data-index='{name}'] input[value='{value}']")
            await page.click("#score-form button[type=submit]")
            await page.wait_for_selector(f"#score-history tr[data-version='{version}']")
        await page.close()
    history = await score_history(db, call.call_id)
    assert [(s.version, s.superseded, s.satisfaction_index) for s in history] == [
        (1, True, 2.0),
        (2, False, 4.0),
    ]
    assert errors == []
