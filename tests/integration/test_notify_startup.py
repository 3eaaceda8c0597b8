"""Start-up with a departments file: a wrong one stops `ivr-agent run` naming the file and
line; a good one is on the app for the features, with the notifier."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ivr_agent.app import build_app
from ivr_agent.notify import Contacts, MailAndWebhookNotifier
from ivr_agent.platform.keys import DIRECTORY, NOTIFIER
from ivr_agent.settings import load_settings

DEPARTMENTS = """\
[quality]
emails = ["quality@example.com"]

[[department]]
id = "billing"
name = "账务部"
emails = ["billing@example.com"]
"""


def test_given_a_wrong_departments_file_when_run_then_it_stops_naming_file_and_line(
    tmp_path: Path,
) -> None:
    departments = tmp_path / "departments.toml"
    departments.write_text(DEPARTMENTS.replace('emails = ["billing', 'emial = ["billing'))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IVR_AGENT_")},
        "IVR_AGENT_DATA_DIR": str(tmp_path / "var"),
        "IVR_AGENT_DEPARTMENTS_FILE": str(departments),
        "IVR_AGENT_SMTP_HOST": "127.0.0.1",
        "IVR_AGENT_SMTP_FROM": "ivr-agent@example.com",
    }
    done = subprocess.run(
        [sys.executable, "-m", "ivr_agent.cli", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert (
        f"ivr-agent run: IVR_AGENT_DEPARTMENTS_FILE {departments}, line 7: unknown key 'emial'"
        in done.stderr
    )
    assert "Traceback" not in done.stderr


def test_given_a_good_departments_file_then_the_app_carries_it_and_the_notifier(
    tmp_path: Path,
) -> None:
    departments = tmp_path / "departments.toml"
    departments.write_text(DEPARTMENTS)
    settings = load_settings(
        data_dir=tmp_path / "var",
        departments_file=departments,
        smtp_host="127.0.0.1",
        smtp_from="ivr-agent@example.com",
    )
    app = build_app(settings)
    assert app[DIRECTORY].quality == Contacts(emails=("quality@example.com",))
    assert app[DIRECTORY].departments["billing"].name == "账务部"
    assert isinstance(app[NOTIFIER], MailAndWebhookNotifier)
