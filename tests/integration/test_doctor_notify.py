"""`ivr-agent doctor`'s notification checks: the departments file as `run` loads it, and a
real SMTP server answering (aiosmtpd) or not; neither check appears when not configured."""

from __future__ import annotations

from pathlib import Path

from ivr_agent.doctor import Status
from ivr_agent.doctor.probes import notify_checks
from ivr_agent.settings import load_settings
from tests.support.net import free_port
from tests.support.smtp import (
    accept_login,
    local_smtp_server,
    self_signed_certificate,
    server_tls,
)

DEPARTMENTS = '[[department]]\nid = "billing"\nname = "账务部"\nemails = ["b@example.com"]\n'


async def test_given_nothing_configured_then_there_is_no_notification_check() -> None:
    assert await notify_checks(load_settings()) == []


async def test_given_a_good_file_and_a_live_server_then_both_are_ok(tmp_path: Path) -> None:
    departments = tmp_path / "departments.toml"
    departments.write_text(DEPARTMENTS)
    async with local_smtp_server() as mail:
        settings = load_settings(
            departments_file=departments,
            smtp_host=mail.host,
            smtp_port=mail.port,
            smtp_tls="none",
            smtp_from="ivr-agent@example.com",
        )
        file_check, smtp_check = await notify_checks(settings)
    assert (file_check.name, file_check.status) == ("departments file", Status.OK)
    assert file_check.found == f"1 department(s) in {departments}"
    assert (smtp_check.name, smtp_check.status) == ("smtp server", Status.OK)
    assert smtp_check.found == f"127.0.0.1:{mail.port} (none, no login) answers"
    assert mail.received == []  # the doctor logs in, it sends nothing


async def test_given_a_wrong_file_and_no_server_then_both_fail_with_the_fix(
    tmp_path: Path,
) -> None:
    departments = tmp_path / "departments.toml"
    departments.write_text(DEPARTMENTS.replace('name = "账务部"\n', ""))
    port = free_port()
    settings = load_settings(
        departments_file=departments,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_tls="none",
        smtp_from="ivr-agent@example.com",
    )
    file_check, smtp_check = await notify_checks(settings)
    assert file_check.status is Status.FAIL
    assert f"{departments}, line 1: department 'billing' without name" in file_check.found
    assert "fix the named line" in file_check.fix
    assert smtp_check.status is Status.FAIL
    assert f"127.0.0.1:{port}" in smtp_check.found
    assert "IVR_AGENT_SMTP_HOST and IVR_AGENT_SMTP_PORT" in smtp_check.fix


async def test_given_starttls_required_but_not_offered_then_the_tls_mode_is_the_fix() -> None:
    async with local_smtp_server() as mail:
        settings = load_settings(
            smtp_host=mail.host,
            smtp_port=mail.port,
            smtp_tls="starttls",
            smtp_from="ivr-agent@example.com",
        )
        [smtp_check] = await notify_checks(settings)
    assert smtp_check.status is Status.FAIL
    assert "IVR_AGENT_SMTP_TLS" in smtp_check.fix


async def test_given_starttls_and_a_login_then_ok_and_a_wrong_password_names_the_fix(
    tmp_path: Path,
) -> None:
    cert, key = self_signed_certificate(tmp_path)
    async with local_smtp_server(
        tls_context=server_tls(cert, key),
        require_starttls=True,
        auth_required=True,
        authenticator=accept_login("ivr", "smtp-pass-Xy7"),
    ) as mail:
        common = {
            "smtp_host": mail.host,
            "smtp_port": mail.port,
            "smtp_from": "ivr-agent@example.com",
            "smtp_ca_file": cert,
            "smtp_username": "ivr",
        }
        [ok] = await notify_checks(load_settings(**common, smtp_password="smtp-pass-Xy7"))
        [wrong] = await notify_checks(load_settings(**common, smtp_password="wrong-pass"))
    assert ok.status is Status.OK
    assert ok.found == f"127.0.0.1:{mail.port} (starttls, login ivr) answers"
    assert wrong.status is Status.FAIL
    assert "535" in wrong.found
    assert "smtp-pass-Xy7" not in wrong.found
    assert wrong.fix == "check IVR_AGENT_SMTP_USERNAME and IVR_AGENT_SMTP_PASSWORD"
