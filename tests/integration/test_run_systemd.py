"""`ivr-agent run` under systemd's notify protocol: READY=1 once it serves (even with its
PBX down), WATCHDOG=1 pings from the event loop, STATUS= naming what is not up, and its
passwords taken from credentials.

The test plays systemd: it binds the ``NOTIFY_SOCKET`` datagram socket, sets
``WATCHDOG_USEC`` and ``CREDENTIALS_DIRECTORY``, and runs the real console script against
the embedded PostgreSQL, exactly as the unit ``ivr-agent systemd-unit`` prints would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.net import free_port, get_json

SECRET = "Zq9-credential-ami-pass"


def _receive(sock: socket.socket, until: float) -> list[str]:
    got: list[str] = []
    while time.monotonic() < until:
        sock.settimeout(max(0.05, until - time.monotonic()))
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            break
    return got


@pytest.mark.postgres
def test_given_systemd_when_the_agent_runs_then_ready_watchdog_and_stopping_arrive(
    tmp_path: Path,
) -> None:
    notify = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify))
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    ami_port = free_port()
    # A PBX that is not there: the agent must still report READY (it serves), not ready.
    (credentials / "IVR_AGENT_AMI_URL").write_text(f"ami://agent:{SECRET}@127.0.0.1:{ami_port}\n")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IVR_AGENT_")},
        "IVR_AGENT_DATA_DIR": str(tmp_path / "var"),
        "IVR_AGENT_HTTP_LISTEN": f"127.0.0.1:{port}",
        "IVR_AGENT_LOG_FORMAT": "json",
        "NOTIFY_SOCKET": str(notify),
        "WATCHDOG_USEC": "1000000",  # pings every 0.5 s
        "CREDENTIALS_DIRECTORY": str(credentials),
    }
    agent = subprocess.Popen(
        [sys.executable, "-m", "ivr_agent.cli", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        messages: list[str] = []
        while not any("READY=1" in m for m in messages):
            assert agent.poll() is None, agent.communicate()[1]
            assert time.monotonic() < deadline, f"no READY=1 within 90 s: {messages}"
            messages += _receive(sock, time.monotonic() + 0.5)
        ready = next(m for m in messages if "READY=1" in m)
        # READY=1 means it serves: /healthz answers at once.
        assert get_json(f"http://127.0.0.1:{port}/healthz")[0] == 200
        assert "STATUS=serving, not ready: ami " in ready
        # The AMI URL came from the credential: /readyz shows AMI configured (not disabled).
        _, body = get_json(f"http://127.0.0.1:{port}/readyz")
        components = body["components"]
        assert isinstance(components, dict)
        assert components["ami"]["state"] not in ("disabled", "up")
        later = _receive(sock, time.monotonic() + 2.2)
        assert sum("WATCHDOG=1" in m for m in later) >= 3, later
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            _, stderr = agent.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            agent.kill()
            raise
    assert agent.returncode == 0, stderr
    assert SECRET not in stderr
    last = _receive(sock, time.monotonic() + 0.5)
    sock.close()
    assert any("STOPPING=1" in m for m in last), last
