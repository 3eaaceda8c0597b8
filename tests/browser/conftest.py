"""Browser tests: Playwright's Python driver steering Debian's Chromium (``/usr/bin/chromium``,
installed by ``./dev`` with apt — never a browser downloaded by ``playwright install``).

Without Chromium or the driver the tests skip locally; under ``CI=true`` the project's
conftest turns that skip into a failure. PostgreSQL comes from the project-wide fixtures.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("IVR_AGENT_TEST_CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Debian's Chromium; skips (fails in CI) when it is not installed."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (./dev test does)")
    return CHROMIUM


@pytest.fixture
async def browser(chromium_path: Path) -> AsyncIterator[Any]:
    """A headless Chromium driven by Playwright."""
    playwright_api = pytest.importorskip("playwright.async_api")
    async with playwright_api.async_playwright() as playwright:
        # Root (the sandbox's tests run as root) cannot use Chromium's own sandbox.
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        launched = await playwright.chromium.launch(
            executable_path=str(chromium_path), headless=True, args=args
        )
        try:
            yield launched
        finally:
            await launched.close()
