"""`ivr-agent demo` end to end: the real console command against the real sandbox.

The demo runs as a subprocess exactly as the README starts it (small batches), against the
shared sandbox (``--keep-sandbox`` leaves it up for the other tests) and a fresh real
PostgreSQL database. The test checks what a watcher sees: the banner with a token, the agent
ready on AMI *and* ARI, calls stored with the greeting the agent played through ARI, a
callback the agent dialled and a simulated customer answered (survey completed), and a clean
stop on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.engine import URL

from ivr_agent.db.database import connect
from ivr_agent.db.models import CallbackAttemptRow, CallbackRow
from tests.integration.sandbox_support import ARTIFACTS, running_sandbox
from tests.support.net import free_port

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]

#: The number of batch 1's service_completed callback (``demo.service_customer``).
SERVICE_NUMBER = "13700010001"
COMMAND = [sys.executable, "-m", "ivr_agent.cli", "demo", "--batch", "8", "--rate", "0.5"]
COMMAND += ["--keep-sandbox"]  # the other tests keep using the shared sandbox


async def _wait_for(what: str, seconds: float, probe: Any, demo: subprocess.Popen[str]) -> Any:
    """Poll ``probe()`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + seconds
    while True:
        assert demo.poll() is None, f"the demo exited ({demo.returncode}) waiting for {what}"
        result = await probe()
        if result:
            return result
        assert time.monotonic() < deadline, f"no {what} within {seconds:.0f} s"
        await asyncio.sleep(1.0)


async def test_given_the_demo_runs_then_calls_get_greetings_and_callbacks_are_answered(
    tmp_path: Path, database_url: URL
) -> None:
    running_sandbox()  # up, and this test process holds the sandbox for its run
    port = free_port()
    env = {
        **os.environ,
        # The demo finds the sandbox through the data dir (shared with running_sandbox);
        # its database is a fresh one of the test server instead of the embedded one.
        "IVR_AGENT_DATABASE_URL": database_url.render_as_string(hide_password=False),
        "IVR_AGENT_HTTP_LISTEN": f"127.0.0.1:{port}",
        "IVR_AGENT_LOG_FORMAT": "json",
    }
    log_path = tmp_path / "demo.log"
    started = datetime.now(UTC) - timedelta(seconds=5)
    with log_path.open("w") as log_file:
        demo = subprocess.Popen(  # noqa: ASYNC220 - started once, never awaited on
            COMMAND,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            text=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:

        async def banner() -> str | None:
            found = re.search(r"ops token:\s+(\S+)", log_path.read_text())
            return found.group(1) if found else None

        token = await _wait_for("banner", 120, banner, demo)
        text = log_path.read_text()
        assert "the demo widens the calling windows" in text
        assert "00:00-12:00,12:00-00:00" in text

        auth = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession() as http:

            async def ready() -> dict[str, Any] | None:
                async with http.get(f"{base}/readyz") as response:
                    body: dict[str, Any] = await response.json()
                parts = body["components"]
                up = parts["ami"]["state"] == "up" and parts["ari"]["state"] == "up"
                return body if up else None

            await _wait_for("ami and ari up", 30, ready, demo)

            async def greeted_call() -> dict[str, Any] | None:
                query = {"since": started.isoformat(), "limit": "500"}
                async with http.get(f"{base}/api/calls", params=query, headers=auth) as response:
                    assert response.status == 200, await response.text()
                    body = await response.json()
                for call in body["calls"]:
                    prompts = [p["prompt"] for p in call.get("prompts_played", [])]
                    if any(p.startswith("greeting") for p in prompts):
                        return dict(call)
                return None

            call = await _wait_for("stored call with a greeting", 120, greeted_call, demo)
            assert call["caller_number"].startswith("138")

        async with connect(database_url) as db:

            async def finished_attempt() -> CallbackAttemptRow | None:
                async with db.transaction("test read") as session:
                    query = (
                        select(CallbackAttemptRow)
                        .join(
                            CallbackRow, CallbackRow.callback_id == CallbackAttemptRow.callback_id
                        )
                        .where(CallbackRow.customer_number == SERVICE_NUMBER)
                        .where(CallbackAttemptRow.ended_at.is_not(None))
                    )
                    return (await session.scalars(query)).first()

            attempt = await _wait_for("finished callback attempt", 120, finished_attempt, demo)
            # The simulated customer answered and pressed 1 and five scores: a full survey.
            assert attempt.outcome == "completed", attempt.outcome
    finally:
        started_stop = time.monotonic()
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(timeout=20)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
            pytest.fail("the demo did not stop within 20 s of Ctrl-C")
    output = log_path.read_text()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "demo.log").write_text(output)
    assert demo.returncode == 0, output[-3000:]
    assert time.monotonic() - started_stop < 20
    credentials = running_sandbox().credentials_file.read_text()
    for secret in re.findall(r"://[^:]+:([^@]+)@", credentials):
        assert secret not in output, "a sandbox secret reached the demo's output"
