"""`ivr-agent run`: serves health routes, reports its parts, stops cleanly, leaks no secret.

Runs the real console script against the embedded PostgreSQL (pgserver) in a temporary data
dir, exactly as an operator would start it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.net import free_port, get_json

SECRET = "Zq9-very-secret-ami-pass"


@pytest.mark.postgres
def test_given_the_agent_runs_when_sigterm_then_it_stops_cleanly_without_leaking_secrets(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IVR_AGENT_")},
        "IVR_AGENT_DATA_DIR": str(tmp_path / "var"),
        "IVR_AGENT_HTTP_LISTEN": f"127.0.0.1:{port}",
        # A PBX that is not there: the agent must run, report it, and never log the secret.
        "IVR_AGENT_AMI_URL": f"ami://agent:{SECRET}@127.0.0.1:{free_port()}",
        "IVR_AGENT_LOG_FORMAT": "json",
        "IVR_AGENT_LOG_LEVEL": "debug",
    }
    agent = subprocess.Popen(
        [sys.executable, "-m", "ivr_agent.cli", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert agent.poll() is None, agent.communicate()[1]
            try:
                status, body = get_json(f"http://127.0.0.1:{port}/healthz")
                break
            except (ConnectionError, urllib.error.URLError):
                assert time.monotonic() < deadline, "agent did not start within 60 s"
                time.sleep(0.2)
        assert (status, body) == (200, {"status": "ok"})

        status, body = get_json(f"http://127.0.0.1:{port}/readyz")
        components = body["components"]
        assert isinstance(components, dict)
        assert components["database"]["state"] == "up"
        assert components["outbox"]["state"] == "up"
        assert components["ari"]["state"] == "disabled"
        # AMI is configured but unreachable: the agent is running but not ready.
        assert components["ami"]["state"] != "up"
        assert status == 503
        assert body["ready"] is False
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            _, stderr = agent.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            agent.kill()
            raise
    assert agent.returncode == 0, stderr
    assert SECRET not in stderr
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any(line["event"] == "agent stopped" for line in lines)
    # The embedded PostgreSQL was stopped with the agent.
    assert not list((tmp_path / "var").rglob("postmaster.pid"))
