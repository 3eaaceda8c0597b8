"""Settings: defaults follow STANDARDS.md; bad values are named; secrets never shown."""

from __future__ import annotations

import subprocess
import sys
from datetime import time

import pytest

from ivr_agent.settings import SettingsError, TimeWindow, load_settings

SECRET = "s3cr3t-Pa55word"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("IVR_AGENT_"):
            monkeypatch.delenv(name)


def test_given_no_environment_then_defaults_are_the_handbook_numbers() -> None:
    s = load_settings()
    assert (s.ring_cycle_seconds, s.max_rings, s.apology_min_rings) == (5.0, 3, 5)
    assert s.service_level_seconds == 15.0
    assert (s.hold_reminder_seconds, s.hold_reminder_repeat_seconds) == (10.0, 20.0)
    assert s.hold_severe_seconds == 60.0
    assert (s.silence_prompt_seconds, s.silence_hangup_seconds) == (5.0, 5.0)
    assert (s.call_target_seconds, s.call_max_seconds) == (180.0, 300.0)
    assert s.callback_windows == (
        TimeWindow(time(10, 30), time(11, 30)),
        TimeWindow(time(15, 0), time(17, 30)),
    )
    assert s.callback_working_days == frozenset({0, 1, 2, 3, 4})
    assert (s.callback_retry_minutes, s.callback_max_attempts) == (30, 3)
    assert str(s.http_listen) == "127.0.0.1:8080"
    assert s.ari_app == "ivr-agent"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("IVR_AGENT_HTTP_LISTEN", "nonsense", "HOST:PORT"),
        ("IVR_AGENT_HTTP_LISTEN", "127.0.0.1:70000", "1-65535"),
        ("IVR_AGENT_RING_CYCLE_SECONDS", "-1", "greater than 0"),
        ("IVR_AGENT_MAX_RINGS", "three", "integer"),
        ("IVR_AGENT_CALLBACK_WINDOWS", "10:30-25:00", "not a valid time"),
        ("IVR_AGENT_CALLBACK_WORKING_DAYS", "mon,funday", "days are"),
        ("IVR_AGENT_TIMEZONE", "Mars/Olympus", "IANA"),
        ("IVR_AGENT_CALLBACK_DIAL", "PJSIP/trunk", "{number}"),
        ("IVR_AGENT_AMI_URL", "http://u:p@h:5038", "scheme"),
        ("IVR_AGENT_DATABASE_URL", "mysql://u:p@h/db", "PostgreSQL"),
        ("IVR_AGENT_LOG_FORMAT", "xml", "json"),
    ],
)
def test_given_a_bad_value_then_the_error_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert variable in message
    assert expected in message


def test_given_secrets_then_neither_errors_nor_repr_show_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IVR_AGENT_AMI_URL", f"ami://agent:{SECRET}@127.0.0.1")
    monkeypatch.setenv("IVR_AGENT_ARI_URL", f"http://agent:{SECRET}@127.0.0.1:8088")
    monkeypatch.setenv("IVR_AGENT_DATABASE_URL", f"postgresql://u:{SECRET}@db/ivr")
    s = load_settings()
    assert s.ami_url is not None
    assert s.ami_url.password.get_secret_value() == SECRET
    assert s.ami_url.port == 5038
    for text in (repr(s), str(s), s.model_dump_json(), repr(s.ami_url)):
        assert SECRET not in text
    assert SECRET in s.secrets()

    monkeypatch.setenv("IVR_AGENT_AMI_URL", f"ami://agent:{SECRET}@")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "IVR_AGENT_AMI_URL" in str(raised.value)
    assert SECRET not in str(raised.value)


def test_given_a_plain_postgres_url_then_the_asyncpg_driver_is_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IVR_AGENT_DATABASE_URL", "postgresql://u:p@db:5432/ivr")
    s = load_settings()
    assert s.database_url is not None
    assert s.database_url.get_secret_value() == "postgresql+asyncpg://u:p@db:5432/ivr"


def test_given_windows_across_midnight_and_day_ranges_then_they_parse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IVR_AGENT_CALLBACK_WINDOWS", "22:00-02:00")
    monkeypatch.setenv("IVR_AGENT_CALLBACK_WORKING_DAYS", "fri-mon")
    s = load_settings()
    assert s.callback_windows == (TimeWindow(time(22, 0), time(2, 0)),)
    assert s.callback_working_days == frozenset({4, 5, 6, 0})


def test_given_complaint_min_above_max_then_both_are_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IVR_AGENT_CALLBACK_COMPLAINT_MIN_HOURS", "80")
    with pytest.raises(SettingsError, match="IVR_AGENT_CALLBACK_COMPLAINT_MAX_HOURS"):
        load_settings()


def test_given_the_complaint_times_then_s7s_three_days_are_the_chase(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = load_settings()
    assert (s.complaint_chase_days, s.complaint_escalation_hours) == (3.0, 24.0)
    # The old name is refused with the new one, not silently ignored.
    monkeypatch.setenv("IVR_AGENT_COMPLAINT_ESCALATION_DAYS", "5")
    with pytest.raises(SettingsError, match="renamed IVR_AGENT_COMPLAINT_CHASE_DAYS"):
        load_settings()


def test_given_no_prompt_settings_then_the_pbx_fetches_them_from_where_the_agent_listens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IVR_AGENT_DATA_DIR", "/srv/ivr")
    s = load_settings()
    assert s.prompts_delivery == "http"
    assert s.prompts_base_url == "http://127.0.0.1:8080"
    assert str(s.prompts_dir) == "/srv/ivr/prompts"  # the agent's own data
    monkeypatch.setenv("IVR_AGENT_HTTP_LISTEN", "[::1]:9000")
    assert load_settings().prompts_base_url == "http://[::1]:9000"
    monkeypatch.setenv("IVR_AGENT_PROMPTS_URL", "https://agent.example:8443/ivr/")
    assert load_settings().prompts_base_url == "https://agent.example:8443/ivr"
    monkeypatch.setenv("IVR_AGENT_PROMPTS_DELIVERY", "directory")
    directory = load_settings()
    assert str(directory.prompts_dir) == "/usr/share/asterisk/sounds/ivr-agent"
    monkeypatch.setenv("IVR_AGENT_PROMPTS_DIR", "/mnt/pbx-sounds/ivr-agent")
    assert str(load_settings().prompts_dir) == "/mnt/pbx-sounds/ivr-agent"


def test_given_http_delivery_on_every_address_without_a_url_then_the_error_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IVR_AGENT_HTTP_LISTEN", "0.0.0.0:8080")
    with pytest.raises(SettingsError, match="IVR_AGENT_PROMPTS_URL must be set") as raised:
        load_settings()
    assert "0.0.0.0:8080" in str(raised.value)
    monkeypatch.setenv("IVR_AGENT_PROMPTS_URL", "http://10.0.0.5:8080")
    assert load_settings().prompts_base_url == "http://10.0.0.5:8080"
    monkeypatch.delenv("IVR_AGENT_PROMPTS_URL")
    monkeypatch.setenv("IVR_AGENT_PROMPTS_DELIVERY", "directory")
    assert load_settings().prompts_base_url is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("ftp://10.0.0.5/", "http:// or https://"),
        ("10.0.0.5:8080", "http:// or https://"),
        ("http://user:pw@10.0.0.5:8080", "user or password"),
        ("http://10.0.0.5:8080/?x=1", "no query"),
        ("http://10.0.0.5:99999", "port"),
        ("http://10.0.0.5:8080/a,b", "comma"),
    ],
)
def test_given_a_bad_prompts_url_then_the_error_names_it(
    monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    monkeypatch.setenv("IVR_AGENT_PROMPTS_URL", value)
    with pytest.raises(SettingsError, match="IVR_AGENT_PROMPTS_URL") as raised:
        load_settings()
    assert problem in str(raised.value)


def test_given_a_bad_setting_when_the_cli_starts_then_it_exits_2_naming_it() -> None:
    env = {"IVR_AGENT_HTTP_LISTEN": "nonsense", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "ivr_agent.cli", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "IVR_AGENT_HTTP_LISTEN" in done.stderr
    assert "HOST:PORT" in done.stderr
