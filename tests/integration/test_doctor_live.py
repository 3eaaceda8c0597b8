"""`ivr-agent doctor` against the sandbox PBX: all OK as the sandbox configures it; each
problem named against deliberately misconfigured setups.

The misconfigurations are made per test and undone: a second AMI user of the lane's PBX
(wrong classes, no event filter) in a ``manager.d/`` file of its own, removed afterwards;
an agent prompts directory the PBX does not see; an IVR_AGENT_ARI_APP the PBX's hooks do
not name; a hooks file with a context the PBX lacks; a database at an old revision;
wrong AMI and ARI passwords; an unreachable database. What is global to the PBX
(``timestampevents``, loaded modules, its clock) is judged from faked facts in
tests/unit/test_doctor_checks.py.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Connection

from ivr_agent.db.database import connect
from ivr_agent.db.migrate import alembic_config, head_revision
from ivr_agent.sim import sandbox
from tests.integration.sandbox_support import running_sandbox
from tests.support.net import free_port

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]

_LINE = re.compile(r"^(OK|WARN|FAIL|SKIP)\s+(\S.*?)\s{2,}(.*)$")


def doctor(env: dict[str, str], *args: str) -> tuple[int, dict[str, tuple[str, str]], str]:
    """Run ``ivr-agent doctor``: exit status, {check: (status, found)}, the whole output."""
    done = subprocess.run(
        [sys.executable, "-m", "ivr_agent.cli", "doctor", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    print(done.stdout)  # shown when a test fails
    lines = {}
    for line in done.stdout.splitlines():
        match = _LINE.match(line)
        if match:
            lines[match.group(2)] = (match.group(1), match.group(3))
    return done.returncode, lines, done.stdout


def _url(url: URL) -> str:
    return url.render_as_string(hide_password=False)


@pytest.fixture
def pbx_env(cli_env: dict[str, str]) -> dict[str, str]:
    """The agent's settings against this lane's PBX, as the sandbox deploys it; its HTTP
    address a free port (where the doctor stands in for it with http prompt delivery)."""
    box = running_sandbox()
    env = sandbox.load_credentials(box).env()
    cli_env.update({k: v for k, v in env.items() if not k.startswith("IVR_AGENT_SIM_")})
    cli_env["IVR_AGENT_HTTP_LISTEN"] = f"127.0.0.1:{free_port()}"
    return cli_env


@pytest.fixture
def misconfigured_ami_user() -> Iterator[str]:
    """IVR_AGENT_AMI_URL of a second AMI user on the lane's PBX with wrong read and write
    classes and no event filter; removed (and manager.conf reloaded) afterwards."""
    box = running_sandbox()
    users = box.root / box.pbx.etc_dir.lstrip("/") / "manager.d"
    path = users / "zz-doctor-test.conf"
    secret = secrets.token_urlsafe(12)
    path.write_text(
        f"[doctor-test]\nsecret = {secret}\n"
        "deny = 0.0.0.0/0.0.0.0\npermit = 127.0.0.1/255.255.255.255\n"
        "read = call,user,system\nwrite = call,user,originate,system\n"
    )
    sibling = (users / "ivr-agent.conf").stat()
    os.chown(path, sibling.st_uid, sibling.st_gid)
    path.chmod(sibling.st_mode & 0o777)
    try:
        sandbox.cli(box, box.pbx, "manager reload")
        yield f"ami://doctor-test:{secret}@127.0.0.1:{box.pbx.ami_port}"
    finally:
        path.unlink(missing_ok=True)
        sandbox.cli(box, box.pbx, "manager reload")


async def _at_revision(url: URL, revision: str) -> None:
    def upgrade(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with connect(url) as db, db.engine.begin() as conn:
        await conn.run_sync(upgrade)


def test_given_the_sandbox_pbx_as_configured_then_every_check_is_ok(
    pbx_env: dict[str, str], migrated_database_url: URL
) -> None:
    pbx_env["IVR_AGENT_DATABASE_URL"] = _url(migrated_database_url)
    # The shipped hooks run the agent's MixMonitor: the recorder that needs them checks OK.
    pbx_env["IVR_AGENT_INBOUND_RECORDER"] = "mixmonitor"
    status, checks, output = doctor(pbx_env)
    assert status == 0
    assert len(checks) == 16
    assert {name for name, (state, _) in checks.items() if state != "OK"} == set()
    assert checks["inbound recorder"][1] == "mixmonitor: the ivr-agent-inbound hook records callers"
    assert output.rstrip().endswith("16 OK")


async def test_given_a_misconfigured_pbx_and_agent_then_each_problem_is_named(
    pbx_env: dict[str, str],
    misconfigured_ami_user: str,
    database_url: URL,
    tmp_path: Path,
) -> None:
    await _at_revision(database_url, "0003")
    hooks = tmp_path / "my-hooks.conf"
    hooks.write_text(
        "[ivr-agent-inbound]\nexten => s,1,Return()\n"
        "[ivr-agent-inbound-v2]\nexten => s,1,Return()\n"
    )
    (tmp_path / "prompts").mkdir()
    pbx_env.update(
        {
            "IVR_AGENT_AMI_URL": misconfigured_ami_user,
            "IVR_AGENT_PROMPTS_DELIVERY": "directory",
            "IVR_AGENT_PROMPTS_DIR": str(tmp_path / "prompts"),
            "IVR_AGENT_ARI_APP": "ivr-agent-other",
            "IVR_AGENT_DATABASE_URL": _url(database_url),
            "IVR_AGENT_AUTO_MIGRATE": "false",
        }
    )
    status, checks, _ = doctor(pbx_env, "--hooks", str(hooks))
    assert status == 1
    failed = {name: found for name, (state, found) in checks.items() if state == "FAIL"}
    assert failed.keys() == {
        "ami write classes",
        "ami read classes",
        "ami event filter",
        "ari app",
        "dialplan hooks",
        "prompt files",
        "prompts on the pbx",
        "database",
    }
    assert failed["ami write classes"] == "doctor-test has originate,system, which it must not"
    assert failed["ami read classes"].startswith(
        "read = call,system,user: lacks agent,dtmf,reporting"
    )
    assert "BridgeCreate" in failed["ami event filter"]
    assert failed["ari app"] == (
        "the PBX's hooks hand calls to Stasis(ivr-agent), the agent is ivr-agent-other"
    )
    assert failed["dialplan hooks"] == f"missing on the PBX: ivr-agent-inbound-v2 (from {hooks})"
    assert failed["prompts on the pbx"].startswith(f"a file written to {tmp_path / 'prompts'}")
    # Revisions after 0003 on the chain to the head (ids need not be consecutive).
    script = ScriptDirectory.from_config(alembic_config())
    behind = len(list(script.iterate_revisions(head_revision(), "0003")))
    assert f"revision 0003, {behind} migration(s) behind {head_revision()}" in failed["database"]
    assert not list((tmp_path / "prompts").iterdir())  # the probe file is gone
    # What stayed right is still said so.
    for name in ("ami login", "ami timestamps", "ari login", "talk detection", "recordings"):
        assert checks[name][0] == "OK", name


def test_given_wrong_passwords_and_no_database_then_logins_fail_and_the_rest_is_skipped(
    pbx_env: dict[str, str],
) -> None:
    box = running_sandbox()
    pbx_env.update(
        {
            "IVR_AGENT_AMI_URL": f"ami://ivr-agent:wrong@127.0.0.1:{box.pbx.ami_port}",
            "IVR_AGENT_ARI_URL": f"http://ivr-agent:wrong@127.0.0.1:{box.pbx.http_port}",
            "IVR_AGENT_DATABASE_URL": "postgresql://agent:pw@127.0.0.1:1/nowhere",
        }
    )
    status, checks, output = doctor(pbx_env)
    assert status == 1
    assert checks["ami login"] == (
        "FAIL",
        f"ivr-agent@127.0.0.1:{box.pbx.ami_port}: login refused or failed",
    )
    assert checks["ari login"][0] == "FAIL"
    assert "401" in checks["ari login"][1]
    assert checks["database"][0] == "FAIL"
    assert "ConnectionRefusedError" in checks["database"][1]
    assert checks["prompt files"][0] == "OK"  # the agent's own files are there
    skipped = {name for name, (state, _) in checks.items() if state == "SKIP"}
    assert "ami write classes" in skipped
    assert "recordings" in skipped
    assert "wrong" not in output
    assert "pw@" not in output


def test_given_http_prompts_at_an_address_the_pbx_cannot_reach_then_it_says_so(
    pbx_env: dict[str, str], migrated_database_url: URL
) -> None:
    pbx_env.update(
        {
            "IVR_AGENT_DATABASE_URL": _url(migrated_database_url),
            "IVR_AGENT_PROMPTS_DELIVERY": "http",
            "IVR_AGENT_PROMPTS_URL": f"http://127.0.0.1:{free_port()}",
        }
    )
    status, checks, _ = doctor(pbx_env)
    assert status == 1
    state, found = checks["prompts on the pbx"]
    assert state == "FAIL"
    assert found.startswith(f"the PBX gets no answer from {pbx_env['IVR_AGENT_PROMPTS_URL']}")
    # Where the agent would listen, the PBX does reach the doctor standing in for it.
    del pbx_env["IVR_AGENT_PROMPTS_URL"]
    status, checks, _ = doctor(pbx_env)
    assert checks["prompts on the pbx"][0] == "OK"
    assert "no agent runs: the doctor listened in its place" in checks["prompts on the pbx"][1]
    assert status == 0
