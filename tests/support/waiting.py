"""Waiting on a condition instead of sleeping a guessed time.

A fixed sleep that is long enough on an idle laptop is too short on a CI machine running five
workers beside two PBXs; these helpers poll until the condition holds or the deadline passes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Return once ``condition()`` holds; raise ``TimeoutError`` after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)
