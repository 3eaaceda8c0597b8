"""systemd: the notify protocol over a real AF_UNIX datagram socket, the readiness status
line, credentials from ``$CREDENTIALS_DIRECTORY``, and the unit ``systemd-unit`` prints."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr_agent.cli import main
from ivr_agent.cli.systemd_unit import UnitOptions, unit_text
from ivr_agent.platform import systemd
from ivr_agent.platform.health import Readiness, State
from ivr_agent.platform.systemd import Notifier, readiness_status, running_notifier
from ivr_agent.settings import SystemdEnvironment, load_settings, systemd_environment


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    yield sock, path
    sock.close()


def _messages(sock: socket.socket, timeout: float = 0.2) -> list[str]:
    sock.settimeout(timeout)
    got = []
    try:
        while True:
            got.append(sock.recv(4096).decode())
    except TimeoutError:
        return got


def test_given_a_socket_when_notified_then_one_datagram_carries_the_lines(
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, path = notify_socket
    assert Notifier(path).notify("READY=1", "STATUS=up")
    assert sock.recv(4096) == b"READY=1\nSTATUS=up"


def test_given_an_abstract_socket_name_then_it_is_reached() -> None:
    name = f"ivr-agent-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert Notifier("@" + name).notify("WATCHDOG=1")
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_given_no_socket_or_a_gone_one_then_nothing_is_sent_and_nothing_raises(
    tmp_path: Path,
) -> None:
    assert not Notifier(None).enabled
    assert Notifier(None).notify("READY=1") is False
    assert Notifier(str(tmp_path / "nobody-listens")).notify("READY=1") is False


def test_the_environment_is_read_and_the_watchdog_is_for_this_process_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "/run/systemd/notify")
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    env = systemd_environment()
    assert env == SystemdEnvironment("/run/systemd/notify", 30_000_000, None)
    assert env.watchdog_seconds == 30.0
    assert SystemdEnvironment("x", 30_000_000, os.getpid()).watchdog_seconds == 30.0
    assert SystemdEnvironment("x", 30_000_000, os.getpid() + 1).watchdog_seconds is None
    assert SystemdEnvironment("x", None, None).watchdog_seconds is None


def test_the_status_line_names_the_parts_that_are_not_up() -> None:
    readiness = Readiness()
    readiness.component("database").set(State.UP)
    readiness.component("ami").set(State.DOWN, "refused")
    readiness.component("ari", enabled=False)
    assert readiness_status(readiness) == "serving, not ready: ami down"
    readiness.component("ami").set(State.UP)
    assert readiness_status(readiness) == "ready: database up, ami up"


async def test_given_a_watchdog_then_ready_pings_status_changes_and_stopping_arrive(
    notify_socket: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, path = notify_socket
    monkeypatch.setattr(systemd, "STATUS_SECONDS", 0.05)
    readiness = Readiness()
    ami = readiness.component("ami")
    env = SystemdEnvironment(path, watchdog_usec=100_000)  # pings every 50 ms
    async with running_notifier(env, readiness):
        await asyncio.sleep(0.12)
        ami.set(State.UP)
        await asyncio.sleep(0.12)
    got = await asyncio.to_thread(_messages, sock)
    assert got[0].splitlines()[:2] == ["READY=1", "STATUS=serving, not ready: ami connecting"]
    assert sum("WATCHDOG=1" in m for m in got) >= 3
    assert any("STATUS=ready: ami up" in m for m in got)
    assert got[-1] == "STOPPING=1\nSTATUS=stopping"


def test_given_a_credentials_directory_then_a_credential_named_like_the_variable_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "IVR_AGENT_AMI_URL").write_text("ami://agent:s3cret@10.0.0.2:5038\n")
    monkeypatch.delenv("IVR_AGENT_AMI_URL", raising=False)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    settings = load_settings()
    assert settings.ami_url is not None
    assert settings.ami_url.host == "10.0.0.2"
    assert settings.ami_url.password.get_secret_value() == "s3cret"
    # The environment wins over a credential.
    monkeypatch.setenv("IVR_AGENT_AMI_URL", "ami://agent:other@10.0.0.3:5038")
    settings = load_settings()
    assert settings.ami_url is not None
    assert settings.ami_url.host == "10.0.0.3"


def test_given_a_bad_credential_then_the_error_names_the_variable_and_not_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "IVR_AGENT_ARI_URL").write_text("ftp://x:hunter2@pbx")
    monkeypatch.delenv("IVR_AGENT_ARI_URL", raising=False)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert main(["systemd-unit"]) == 2
    err = capsys.readouterr().err
    assert "IVR_AGENT_ARI_URL" in err
    assert "hunter2" not in err


def _directives(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def test_the_unit_is_notify_with_watchdog_state_directory_credentials_and_hardening() -> None:
    unit = _directives(unit_text(UnitOptions(executable=Path("/opt/ivr-agent/bin/ivr-agent"))))
    assert unit["Type"] == ["notify"]
    assert unit["ExecStart"] == ["/opt/ivr-agent/bin/ivr-agent run"]
    assert int(unit["WatchdogSec"][0]) > 0
    assert unit["StateDirectory"] == ["ivr-agent"]
    assert "IVR_AGENT_DATA_DIR=%S/ivr-agent" in unit["Environment"]
    assert unit["LoadCredential"] == [
        "IVR_AGENT_AMI_URL:/etc/ivr-agent/ami-url",
        "IVR_AGENT_ARI_URL:/etc/ivr-agent/ari-url",
        "IVR_AGENT_DATABASE_URL:/etc/ivr-agent/database-url",
    ]
    # No password in the unit's environment.
    assert not any("URL" in value for value in unit["Environment"])
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "DynamicUser": "yes",
    }.items():
        assert unit[key] == [value], key


def test_the_unit_follows_the_installation() -> None:
    options = UnitOptions(
        executable=Path("/home/ops/venv/bin/ivr-agent"),
        user="ivr",
        etc_dir=Path("/srv/ivr"),
        embedded_database=True,
        writable=(Path("/usr/share/asterisk/sounds/ivr-agent"),),
    )
    unit = _directives(unit_text(options))
    assert unit["User"] == ["ivr"]
    assert "DynamicUser" not in unit
    assert unit["ProtectHome"] == ["read-only"]  # the venv is under /home
    assert unit["ReadWritePaths"] == ["/usr/share/asterisk/sounds/ivr-agent"]
    assert [c.split(":")[0] for c in unit["LoadCredential"]] == [
        "IVR_AGENT_AMI_URL",
        "IVR_AGENT_ARI_URL",
    ]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verifies_the_printed_unit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The unit names a program that exists (verify checks ExecStart).
    program = tmp_path / "ivr-agent"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    assert main(["systemd-unit", "--executable", str(program)]) == 0
    unit = tmp_path / "ivr-agent.service"
    unit.write_text(capsys.readouterr().out)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    ours = [line for line in result.stderr.splitlines() if "ivr-agent" in line]
    assert result.returncode == 0, result.stderr
    assert not ours, "\n".join(ours)
