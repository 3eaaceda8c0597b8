"""The wheel works anywhere (issue 17): built from this checkout, installed into a fresh venv
in a folder outside it, and then, from that folder, as an admin would: ``ivr-agent migrate``
(against a given PostgreSQL and the embedded one), ``ivr-agent dialplan`` and ``ivr-agent run``
against the sandbox PBX until ``/readyz`` says AMI, ARI and the database are up.

Nothing of the checkout is importable there: the venv has no system site-packages (where the
checkout is installed editable), and no PYTHONPATH is passed on. The dependencies come from
the package index like any install (pip's cache keeps a warm run at about 15 s).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from ivr_agent.sim import sandbox
from tests.integration.sandbox_support import running_sandbox
from tests.support.net import free_port, get_json

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "ivr_agent"
#: Translation sources: the wheel ships what they compile to (``*.mo``), not them.
NOT_SHIPPED = {".po", ".pot"}


def _run(*command: str | Path, cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stderr}"
    return done.stdout


def _clean_env(home: Path) -> dict[str, str]:
    """This environment without anything pointing into the checkout or its venv."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("IVR_AGENT_")}
    checkout_bins = {str(ROOT / ".venv" / "bin"), str(Path(sys.executable).parent)}
    env["PATH"] = os.pathsep.join(
        part for part in env.get("PATH", "").split(os.pathsep) if part not in checkout_bins
    )
    env["IVR_AGENT_LOG_FORMAT"] = "json"
    env["HOME"] = env.get("HOME", str(home))
    return env


def _build_wheel(tmp_path: Path, env: dict[str, str]) -> Path:
    # From a copy of what the Docker build copies (pyproject, README, src): building in the
    # checkout would leave build/ there, shared by every test process.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "src",
        source / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
    )
    dist = tmp_path / "dist"
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "-w",
        dist,
        source,
        cwd=tmp_path,
        env=env,
    )
    (wheel,) = dist.glob("ivr_agent-*.whl")
    return wheel


def _package_files() -> list[str]:
    """The package's files, as the wheel names them (``ivr_agent/…``): git's list when this
    is a clone, else what is on disk."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "src/ivr_agent"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            timeout=30,
        ).stdout.decode()
        paths = [ROOT / name for name in listed.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        paths = [p for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return sorted(
        str(path.relative_to(ROOT / "src"))
        for path in paths
        if path.is_file() and path.suffix not in NOT_SHIPPED and path.suffix != ".pyc"
    )


def _wait_ready(agent: subprocess.Popen[str], url: str, timeout: float) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    body: dict[str, object] = {}
    while time.monotonic() < deadline:
        assert agent.poll() is None, agent.communicate()[1]
        try:
            status, body = get_json(url)
        except (ConnectionError, urllib.error.URLError):
            status = 0
        if status == 200:
            return body
        time.sleep(0.25)
    pytest.fail(f"the installed agent was not ready within {timeout:g} s: {body}")


def test_given_the_wheel_in_a_fresh_venv_elsewhere_then_migrate_dialplan_and_run_work(
    tmp_path: Path, database_url: URL
) -> None:
    box = running_sandbox()
    env = _clean_env(tmp_path)

    wheel = _build_wheel(tmp_path, env)
    shipped = set(zipfile.ZipFile(wheel).namelist())
    missing = [name for name in _package_files() if name not in shipped]
    assert not missing, f"files of src/ivr_agent the wheel does not ship: {missing}"

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path, env=env)
    _run(
        venv / "bin" / "python",
        "-m",
        "pip",
        "install",
        "-q",
        wheel,
        cwd=tmp_path,
        env=env,
        timeout=600,
    )

    # The admin's folder: no checkout, no source tree, the default data dir ./var.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ivr_agent = venv / "bin" / "ivr-agent"
    where = _run(
        venv / "bin" / "python",
        "-c",
        "import ivr_agent; print(ivr_agent.__file__)",
        cwd=elsewhere,
        env=env,
    )
    assert Path(where.strip()).is_relative_to(venv), where

    # A PostgreSQL given by URL (the test server's fresh, empty database).
    given = {**env, "IVR_AGENT_DATABASE_URL": database_url.render_as_string(hide_password=False)}
    out = _run(ivr_agent, "migrate", cwd=elsewhere, env=given)
    assert "empty ->" in out, out
    assert "(head)" in out, out

    # The embedded PostgreSQL (no URL): the package's own server under ./var.
    out = _run(ivr_agent, "migrate", cwd=elsewhere, env=env)
    assert "empty ->" in out, out
    assert "(head)" in out, out
    assert (elsewhere / "var" / "postgres" / "PG_VERSION").is_file()

    comment, _, hooks = _run(ivr_agent, "dialplan", cwd=elsewhere, env=env).partition("\n")
    assert comment.startswith(";")
    assert '#include "ivr-agent-hooks.conf"' in comment
    shipped_hooks = PACKAGE / "share" / "dialplans" / "ivr-agent-hooks.conf"
    assert hooks == shipped_hooks.read_text(encoding="utf-8")

    port = free_port()
    # The sandbox lane's AMI and ARI URLs and prompt directory, as its agent.env holds them.
    pbx = sandbox.load_credentials(box).env()
    run_env = {**env, **pbx, "IVR_AGENT_HTTP_LISTEN": f"127.0.0.1:{port}"}
    agent = subprocess.Popen(
        [str(ivr_agent), "run"],
        cwd=elsewhere,
        env=run_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        body = _wait_ready(agent, f"http://127.0.0.1:{port}/readyz", timeout=60)
        components = body["components"]
        assert isinstance(components, dict)
        for name in ("database", "ami", "ari"):
            assert components[name]["state"] == "up", components
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            _, stderr = agent.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            agent.kill()
            raise
    assert agent.returncode == 0, stderr
    assert not list((elsewhere / "var").rglob("postmaster.pid")), "embedded server left running"
