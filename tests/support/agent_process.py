"""The agent as its own process (``ivr-agent run``, as deployed) against a sandbox lane:
started with leader election on, asked over HTTP, SIGKILLed or stopped. Shared by the
failover tests (one PBX, two agents; two PBXs, three agents).
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
from typing import Any

from sqlalchemy.engine import URL

from ivr_agent.sim import sandbox
from tests.support.net import free_port

SRC = Path(__file__).resolve().parents[2] / "src"
IVR_AGENT = [sys.executable, "-m", "ivr_agent.cli"]


class AgentProcess:
    """``ivr-agent run`` as its own process, its log in ``log``."""

    def __init__(self, env: dict[str, str], log: Path, port: int) -> None:
        self.env = env
        self.log = log
        #: SIGTERM sent (a second one is never sent).
        self.terminated = False
        self.url = f"http://127.0.0.1:{port}"
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*IVR_AGENT, "run"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def request(
        self, path: str, token: str, body: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """``GET`` (or ``POST`` with ``body``) ``path``: the status and the JSON body; 0 and
        nothing when the agent does not answer."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())
        except (urllib.error.URLError, OSError):
            return 0, {}

    def role(self, token: str) -> str | None:
        """``active`` or ``standby`` (``/readyz``); None when it does not answer."""
        status, body = self.request("/readyz", token)
        return str(body.get("role")) if status else None

    def wait_decided(self, timeout: float = 60.0) -> None:
        """Until its log says it leads or stands by (it has tried for the leadership)."""
        deadline = time.monotonic() + timeout
        while not any(line in self.log.read_bytes() for line in (b"leadership", b"standing by")):
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.2)

    def freeze(self) -> None:
        """SIGSTOP: it holds its leadership (its sockets stay open) but does nothing, as an
        agent stuck on a dead disk or a paused VM would; :meth:`kill` ends it."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def kill(self) -> None:
        """SIGKILL: it dies without a word (no lock released, no call stored)."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        """SIGTERM (SIGKILL after 30 s) if it still runs."""
        if self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def terminate(self) -> None:
        """SIGTERM (once) if it still runs, without waiting (:meth:`stop` waits)."""
        if self.proc.poll() is None and not self.terminated:
            self.terminated = True
            self.proc.send_signal(signal.SIGTERM)

    def tail(self) -> str:
        """The end of its log, headed by its name (printed after a test)."""
        return f"--- {self.log.name}\n{self.log.read_text()[-4000:]}\n"


def stop_all(agents: list[AgentProcess]) -> None:
    """Stop ``agents`` side by side: each is told at once, then each is waited for."""
    for agent in agents:
        agent.terminate()
    for agent in agents:
        agent.stop()


def agent_env(
    url: URL, pbx_id: str, data_dir: Path, port: int, box: sandbox.Sandbox
) -> dict[str, str]:
    """The environment of an agent for ``box``'s lane as ``pbx_id``, leader election on, the
    callback dialler on in every hour and day (a busy customer is not called again within a
    test), and nothing else of this process's ``IVR_AGENT_*``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_AGENT_")}
    env.update(sandbox.load_credentials(box).env())
    env.update(
        PYTHONPATH=os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH", "")) if p),
        IVR_AGENT_DATABASE_URL=url.render_as_string(hide_password=False),
        IVR_AGENT_DATA_DIR=str(data_dir),
        IVR_AGENT_PBX_ID=pbx_id,
        IVR_AGENT_HTTP_LISTEN=f"127.0.0.1:{port}",
        IVR_AGENT_LOG_FORMAT="json",
        IVR_AGENT_REPORTS_ENABLED="false",
        IVR_AGENT_LEADER_ELECTION="true",
        IVR_AGENT_LEADER_POLL_SECONDS="1.0",
        IVR_AGENT_TIMEZONE="Asia/Shanghai",
        IVR_AGENT_CALLBACK_DIALER_ENABLED="true",
        IVR_AGENT_CALLBACK_AUTO_FOR_ABANDONED="false",
        IVR_AGENT_CALLBACK_WINDOWS="00:00-12:00,12:00-00:00",
        IVR_AGENT_CALLBACK_WORKING_DAYS="mon-sun",
        IVR_AGENT_HOLIDAYS="",
        # A busy customer is called again only after this: within the test, once means once.
        IVR_AGENT_CALLBACK_RETRY_MINUTES="30",
        IVR_AGENT_CALLBACK_RING_SECONDS="8",
        IVR_AGENT_SANDBOX_LANE=str(box.lane),
    )
    if "IVR_AGENT_SANDBOX_ROOT" in os.environ:
        env["IVR_AGENT_SANDBOX_ROOT"] = os.environ["IVR_AGENT_SANDBOX_ROOT"]
    return env


def start_agents(
    url: URL, workdir: Path, agents: list[tuple[str, str, sandbox.Sandbox]]
) -> list[AgentProcess]:
    """Start agents ``(name, pbx_id, lane)`` side by side (data dir ``workdir/name``, log
    ``workdir/name.log``) and wait until each has tried for the leadership. Agents of one PBX
    started in one call race for it: start a PBX's standby in a later call."""
    started: list[AgentProcess] = []
    try:
        for name, pbx_id, box in agents:
            port = free_port()
            env = agent_env(url, pbx_id, workdir / name, port, box)
            started.append(AgentProcess(env, workdir / f"{name}.log", port))
        for agent in started:
            agent.wait_decided()
    except BaseException:
        for agent in started:
            agent.stop()  # none left running when one never decided
        raise
    return started


def start_agent(
    url: URL, pbx_id: str, box: sandbox.Sandbox, workdir: Path, name: str
) -> AgentProcess:
    """Start an agent (data dir ``workdir/name``, log ``workdir/name.log``) and wait until it
    has tried for the leadership: started one after the other, the first of a PBX leads."""
    return start_agents(url, workdir, [(name, pbx_id, box)])[0]


def bridged_callers(box: sandbox.Sandbox) -> dict[str, str]:
    """Caller number → caller channel of the calls the lane's PBX has bridged to an
    operator."""
    listing = sandbox.cli(box, box.pbx, "core show channels concise")
    # Channel!Context!Exten!Priority!State!Application!Data!CallerID!…!BridgeID!Uniqueid
    found: dict[str, str] = {}
    for line in listing.splitlines():
        fields = line.split("!")
        caller_leg = fields[0].startswith(("PJSIP/phones", "PJSIP/trunk"))
        if caller_leg and len(fields) >= 14 and fields[4] == "Up" and fields[12] and fields[13]:
            found[fields[7]] = fields[0]
    return found
