"""login.js checks ``next`` itself (defence in depth, issue 14 finding 4): even if a page
reached the browser with an off-site ``next`` in its form, the auto-submitted sign-in posts
``/`` instead, and the browser stays on our origin. Not a sandbox test: no PBX needed."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from ivr_agent.db.database import Database
from ivr_agent.db.tokens import create_token
from ivr_agent.settings import load_settings
from tests.support.agent import serving_agent

pytestmark = pytest.mark.postgres

#: What login.js must refuse, put into the form as if the server had let it through.
OFFSITE = [
    "//evil.example/",
    "/\\evil.example",
    "/\t/evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "/%2F%2Fevil.example",
    "/a/../..//evil.example",
    "/\uff0f\uff0fevil.example",
]
SERVER_NEXT = '<input type="hidden" name="next" value="/">'


async def _sign_in_with_next(browser: Any, base: str, token: str, forged: str) -> tuple[str, str]:
    """Open ``/login#token=…`` whose form says ``next=forged``; (posted next, final URL)."""
    page = await browser.new_page()
    posted: list[str] = []
    forged_pages: list[str] = []

    async def forge(route: Any) -> None:
        if route.request.method == "POST":
            posted.extend(parse_qs(route.request.post_data or "").get("next", [""]))
            await route.continue_()
            return
        response = await route.fetch()
        body = await response.text()
        assert SERVER_NEXT in body  # the server itself never hands out an off-site next
        forged_input = SERVER_NEXT.replace('value="/"', f'value="{html.escape(forged)}"')
        await route.fulfill(response=response, body=body.replace(SERVER_NEXT, forged_input))
        forged_pages.append(forged)

    await page.route(lambda url: urlsplit(url).path == "/login", forge)
    await page.goto(f"{base}/login#token={token}")
    await page.wait_for_url(lambda url: "/login" not in url)
    url = page.url
    await page.close()
    assert forged_pages == [forged]
    assert len(posted) == 1
    return posted[0], url


async def test_given_an_offsite_next_in_the_form_then_login_js_posts_home(
    browser: Any, db: Database, tmp_path: Path
) -> None:
    token = await create_token(db, "ops")
    settings = load_settings(_env_file=None, data_dir=tmp_path / "var")
    async with serving_agent(settings, db) as (_app, base):
        for forged in OFFSITE:
            posted, url = await _sign_in_with_next(browser, base, token, forged)
            assert (posted, url) == ("/", f"{base}/"), forged
        posted, url = await _sign_in_with_next(browser, base, token, "/dashboard/panels")
        assert (posted, url) == ("/dashboard/panels", f"{base}/dashboard/panels")
