"""The notification settings: read from the environment, refused naming the variable,
secrets never shown; and a departments file the settings cannot reach is refused."""

from __future__ import annotations

import pytest

from ivr_agent.notify import Contacts, Department, Directory, DirectoryError, check_reachable
from ivr_agent.settings import SettingsError, load_settings

PASSWORD = "smtp-pass-Xy7"
KEY = "webhook-key-0123456789abcdef"


def test_given_smtp_from_the_environment_then_it_is_read_with_the_mode_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IVR_AGENT_SMTP_HOST", "smtp.example.com")
    monkeypatch.setenv("IVR_AGENT_SMTP_FROM", "ivr@example.com")
    monkeypatch.setenv("IVR_AGENT_SMTP_TLS", "tls")
    monkeypatch.setenv("IVR_AGENT_SMTP_USERNAME", "ivr")
    monkeypatch.setenv("IVR_AGENT_SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("IVR_AGENT_WEBHOOK_SECRET", KEY)
    monkeypatch.setenv("IVR_AGENT_REPORTS_MAIL_TO", " boss@example.com, 质检@example.com ")
    with pytest.raises(SettingsError, match=r"IVR_AGENT_REPORTS_MAIL_TO: '质检@example\.com'"):
        load_settings()
    monkeypatch.setenv("IVR_AGENT_REPORTS_MAIL_TO", " boss@example.com, qa@example.cn ")
    settings = load_settings()
    assert settings.smtp_port_or_default == 465
    assert settings.reports_mail_to == ("boss@example.com", "qa@example.cn")
    for text in (repr(settings), settings.model_dump_json()):
        assert PASSWORD not in text
        assert KEY not in text
    assert {PASSWORD, KEY} <= set(settings.secrets())


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"smtp_host": "smtp.example.com"}, "IVR_AGENT_SMTP_FROM must be set"),
        ({"smtp_host": "smtp example"}, "IVR_AGENT_SMTP_HOST: 'smtp example' is not a host"),
        ({"smtp_from": "ivr-at-example.com"}, "IVR_AGENT_SMTP_FROM: 'ivr-at-example.com'"),
        ({"smtp_tls": "ssl"}, "IVR_AGENT_SMTP_TLS"),
        ({"smtp_port": 70000}, "IVR_AGENT_SMTP_PORT"),
        ({"smtp_username": "ivr"}, "IVR_AGENT_SMTP_USERNAME and IVR_AGENT_SMTP_PASSWORD go"),
        (
            {
                "smtp_host": "smtp.example.com",
                "smtp_from": "ivr@example.com",
                "smtp_tls": "none",
                "smtp_username": "ivr",
                "smtp_password": PASSWORD,
            },
            "IVR_AGENT_SMTP_TLS=none would send the password in clear",
        ),
        ({"reports_mail_to": "boss@example.com"}, "IVR_AGENT_REPORTS_MAIL_TO needs"),
        ({"webhook_secret": "short"}, "IVR_AGENT_WEBHOOK_SECRET: must be at least 16"),
        ({"notify_attempts": 0}, "IVR_AGENT_NOTIFY_ATTEMPTS"),
        (
            {"smtp_tls": "none", "smtp_ca_file": "/etc/ivr-agent/ca.pem"},
            "IVR_AGENT_SMTP_CA_FILE needs IVR_AGENT_SMTP_TLS starttls or tls",
        ),
        ({"smtp_timeout_seconds": 500}, "IVR_AGENT_SMTP_TIMEOUT_SECONDS"),
        ({"webhook_timeout_seconds": 0}, "IVR_AGENT_WEBHOOK_TIMEOUT_SECONDS"),
    ],
)
def test_given_a_bad_notification_setting_then_the_error_names_it(
    values: dict[str, object], expected: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(**values)
    assert expected in str(raised.value)
    assert PASSWORD not in str(raised.value)


def test_given_a_directory_the_settings_cannot_reach_then_it_is_refused() -> None:
    billing = Department(
        "billing",
        "账务部",
        Contacts(emails=("billing@example.com",)),
        Contacts(webhook="https://hooks.example.com/h"),
    )
    directory = Directory(departments={"billing": billing})
    with pytest.raises(DirectoryError) as raised:
        check_reachable(directory, load_settings(departments_file="/etc/d.toml"))
    assert str(raised.value).splitlines() == [
        "IVR_AGENT_DEPARTMENTS_FILE /etc/d.toml: names e-mail addresses but there is no "
        "e-mail: IVR_AGENT_SMTP_HOST is not set",
        "IVR_AGENT_DEPARTMENTS_FILE /etc/d.toml: names webhooks but there are no webhooks: "
        "IVR_AGENT_WEBHOOK_SECRET is not set",
    ]
    check_reachable(
        directory,
        load_settings(
            smtp_host="smtp.example.com", smtp_from="ivr@example.com", webhook_secret=KEY
        ),
    )
    check_reachable(Directory(), load_settings())
