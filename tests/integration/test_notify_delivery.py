"""The notifier against a real SMTP server (aiosmtpd) and a real HTTP receiver (aiohttp):
what arrives, the signature a receiver checks, and what becomes of failing targets."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from ivr_agent.notify import (
    Attachment,
    Contacts,
    Delivery,
    MailAndWebhookNotifier,
    Notification,
    build_notifier,
)
from ivr_agent.notify.webhook import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    TIMESTAMP_HEADER,
    verify,
)
from ivr_agent.settings import Settings, load_settings
from tests.support.net import free_port
from tests.support.smtp import (
    MailServer,
    accept_login,
    local_smtp_server,
    self_signed_certificate,
    server_tls,
)

SECRET = "test-webhook-secret-0123456789"
CSV = "\ufeff工号,接听\r\n001,12\r\n".encode()


@dataclass
class Receiver:
    """A webhook receiver: every request's headers and raw body, and scripted statuses."""

    url: str = ""
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    redirected_to_hit: bool = False


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    seen = Receiver()

    async def hook(request: web.Request) -> web.StreamResponse:
        seen.requests.append((dict(request.headers), await request.read()))
        status = seen.statuses.pop(0) if seen.statuses else 204
        if status == 302:
            raise web.HTTPFound("/elsewhere")
        return web.Response(status=status, text="busy" if status >= 500 else "")

    async def elsewhere(_request: web.Request) -> web.Response:
        seen.redirected_to_hit = True
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook/token-abc", hook)
    app.router.add_route("*", "/elsewhere", elsewhere)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    seen.url = str(server.make_url("/hook/token-abc"))
    try:
        yield seen
    finally:
        await server.close()


def settings_for(mail: MailServer | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "smtp_from": "ivr-agent@example.com",
        "smtp_tls": "none",
        "smtp_timeout_seconds": 5,
        "webhook_secret": SECRET,
        "webhook_timeout_seconds": 5,
        "notify_attempts": 3,
        "notify_retry_seconds": 0.05,
    }
    if mail is not None:
        values |= {"smtp_host": mail.host, "smtp_port": mail.port}
    return load_settings(**(values | overrides))


def escalation(to: tuple[Contacts, ...]) -> Notification:
    return Notification(
        kind="complaint_escalation",
        subject="投诉升级:C-42 账务部三天未处理",
        text="投诉 C-42(客户 138****0000)已超过 3 天未解决。\n请管理层跟进。",
        data={"complaint_id": 42, "department": "billing", "summary": "话费多扣"},
        to=to,
        attachments=(Attachment("日报-2026-12-01.csv", "text/csv", CSV),),
    )


async def test_given_two_parties_when_sent_then_mail_and_a_signed_webhook_arrive(
    receiver: Receiver,
) -> None:
    registry = CollectorRegistry()
    async with local_smtp_server() as mail:
        notifier = build_notifier(settings_for(mail), registry=registry)
        deliveries = await notifier.send(
            escalation(
                (
                    Contacts(emails=("head@example.com",), webhook=receiver.url),
                    Contacts(emails=("quality@example.com", "head@example.com")),
                )
            )
        )
        received = await mail.wait_for(2)

    assert deliveries == [
        Delivery("email", "head@example.com", ok=True),
        Delivery("email", "quality@example.com", ok=True),
        Delivery("webhook", receiver.url, ok=True),
    ]
    assert sorted(r.recipients[0] for r in received) == ["head@example.com", "quality@example.com"]
    message = received[0].message
    assert message["Subject"] == "投诉升级:C-42 账务部三天未处理"
    assert message["From"] == "ivr-agent@example.com"
    body = message.get_body(("plain",))
    assert body is not None
    assert "已超过 3 天未解决" in body.get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "日报-2026-12-01.csv"
    assert attachment.get_content_type() == "text/csv"
    assert attachment.get_payload(decode=True) == CSV

    [(headers, raw)] = receiver.requests
    assert verify(SECRET.encode(), headers, raw)
    assert abs(int(headers[TIMESTAMP_HEADER]) - time.time()) < 30
    assert headers[EVENT_HEADER] == "complaint_escalation"
    assert json.loads(raw) == {
        "kind": "complaint_escalation",
        "complaint_id": 42,
        "department": "billing",
        "summary": "话费多扣",
    }
    assert "话费多扣".encode() in raw  # UTF-8 as is, not \u-escaped
    # A body changed in transit, or the same request replayed an hour later, fails the check.
    assert not verify(SECRET.encode(), headers, raw.replace(b"42", b"43"))
    assert not verify(SECRET.encode(), headers, raw, now=time.time() + 3600)
    assert (
        registry.get_sample_value(
            "ivr_agent_notifications_total", {"channel": "email", "result": "ok"}
        )
        == 2
    )
    assert (
        registry.get_sample_value(
            "ivr_agent_notifications_total", {"channel": "webhook", "result": "ok"}
        )
        == 1
    )


async def test_given_the_smtp_server_down_when_sent_then_delivery_fails_without_raising(
    receiver: Receiver,
) -> None:
    port = free_port()  # nothing listens there
    registry = CollectorRegistry()
    notifier = build_notifier(
        settings_for(None, smtp_host="127.0.0.1", smtp_port=port), registry=registry
    )
    started = time.monotonic()
    deliveries = await notifier.send(
        escalation((Contacts(emails=("head@example.com",), webhook=receiver.url),))
    )
    [mail, hook] = deliveries
    assert mail.channel == "email"
    assert not mail.ok
    assert mail.error is not None
    assert f"127.0.0.1:{port}" in mail.error
    # The webhook is not held back by the failing mail.
    assert hook.ok
    # Three tries with 0.05 s and 0.1 s between them: bounded, not hanging.
    assert time.monotonic() - started < 5
    assert (
        registry.get_sample_value(
            "ivr_agent_notifications_total", {"channel": "email", "result": "failed"}
        )
        == 1
    )


async def test_given_transient_refusals_then_each_target_is_tried_again_until_it_succeeds(
    receiver: Receiver,
) -> None:
    receiver.statuses = [503, 502]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with local_smtp_server() as mail:
        mail.refusals = ["451 4.3.0 try again later"]
        notifier = build_notifier(settings_for(mail), sleep=sleep)
        deliveries = await notifier.send(
            escalation((Contacts(emails=("head@example.com",), webhook=receiver.url),))
        )
        [arrived] = await mail.wait_for(1)

    assert [d.ok for d in deliveries] == [True, True]
    assert arrived.recipients == ["head@example.com"]
    assert len(receiver.requests) == 3
    # Every try signed afresh, all under the same delivery id (receivers deduplicate).
    assert all(verify(SECRET.encode(), h, b) for h, b in receiver.requests)
    assert len({h[DELIVERY_HEADER] for h, _ in receiver.requests}) == 1
    # Doubling waits: one before the mail's 2nd try, two before the webhook's 2nd and 3rd.
    assert sorted(waits) == [0.05, 0.05, 0.1]


async def test_given_final_refusals_then_there_is_no_retry(receiver: Receiver) -> None:
    receiver.statuses = [404]
    async with local_smtp_server() as mail:
        mail.refusals = ["554 5.7.1 rejected"]
        notifier = build_notifier(settings_for(mail))
        [mailed, posted] = await notifier.send(
            escalation((Contacts(emails=("head@example.com",), webhook=receiver.url),))
        )
    assert not mailed.ok
    assert mailed.error is not None
    assert "554" in mailed.error
    assert not posted.ok
    assert posted.error is not None
    assert "404" in posted.error
    assert len(receiver.requests) == 1
    assert mail.received == []


async def test_given_a_redirect_then_it_is_not_followed(receiver: Receiver) -> None:
    receiver.statuses = [302]
    notifier = build_notifier(settings_for(None))
    [posted] = await notifier.send(escalation((Contacts(webhook=receiver.url),)))
    assert not posted.ok
    assert posted.error is not None
    assert "redirect" in posted.error
    assert not receiver.redirected_to_hit
    assert "token-abc" not in posted.error  # the URL's path (often a token) stays out


async def test_given_no_smtp_and_no_secret_then_those_targets_fail_naming_the_setting(
    receiver: Receiver,
) -> None:
    notifier = MailAndWebhookNotifier(mail=None, webhooks=None)
    deliveries = await notifier.send(
        escalation((Contacts(emails=("head@example.com",), webhook=receiver.url),))
    )
    assert [d.error for d in deliveries] == [
        "no e-mail: IVR_AGENT_SMTP_HOST is not set",
        "no webhooks: IVR_AGENT_WEBHOOK_SECRET is not set",
    ]
    assert receiver.requests == []


async def test_given_a_slow_receiver_then_the_timeout_bounds_each_try() -> None:
    async def slow(_request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/", slow)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        notifier = build_notifier(
            settings_for(None, webhook_timeout_seconds=0.2, notify_attempts=2)
        )
        started = time.monotonic()
        [posted] = await notifier.send(escalation((Contacts(webhook=str(server.make_url("/"))),)))
        assert not posted.ok
        assert time.monotonic() - started < 2
    finally:
        await server.close()


async def test_given_starttls_required_but_not_offered_then_no_clear_text_and_no_retry() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with local_smtp_server() as mail:
        notifier = build_notifier(settings_for(mail, smtp_tls="starttls"), sleep=sleep)
        [mailed] = await notifier.send(escalation((Contacts(emails=("head@example.com",)),)))
    assert not mailed.ok
    assert mailed.error is not None
    assert "STARTTLS" in mailed.error
    assert mail.received == []
    assert waits == []


async def test_given_a_slow_smtp_server_then_the_timeout_bounds_each_try() -> None:
    async with local_smtp_server() as mail:
        mail.delay = 3
        notifier = build_notifier(settings_for(mail, smtp_timeout_seconds=0.2, notify_attempts=2))
        started = time.monotonic()
        [mailed] = await notifier.send(escalation((Contacts(emails=("head@example.com",)),)))
        assert time.monotonic() - started < 2
    assert not mailed.ok
    assert mailed.error is not None
    assert "0.2" in mailed.error


async def test_given_starttls_and_a_login_then_the_mail_goes_over_tls_with_the_login(
    tmp_path: Path,
) -> None:
    cert, key = self_signed_certificate(tmp_path)
    async with local_smtp_server(
        tls_context=server_tls(cert, key),
        require_starttls=True,
        auth_required=True,
        authenticator=accept_login("ivr", "smtp-pass-Xy7"),
    ) as mail:
        login = {"smtp_username": "ivr", "smtp_password": "smtp-pass-Xy7"}
        settings = settings_for(mail, smtp_tls="starttls", smtp_ca_file=cert, **login)
        [mailed] = await build_notifier(settings).send(
            escalation((Contacts(emails=("head@example.com",)),))
        )
        assert mailed.ok, mailed.error
        [arrived] = await mail.wait_for(1)
        # A wrong password is refused by the server: final, not retried.
        wrong = settings_for(
            mail, smtp_tls="starttls", smtp_ca_file=cert, smtp_username="ivr", smtp_password="no"
        )
        [refused] = await build_notifier(wrong).send(
            escalation((Contacts(emails=("head@example.com",)),))
        )
    assert arrived.message["Subject"] == "投诉升级:C-42 账务部三天未处理"
    assert not refused.ok
    assert refused.error is not None
    assert "535" in refused.error
    # Without the CA the server's certificate is not trusted: nothing is sent.
    async with local_smtp_server(tls_context=server_tls(cert, key), require_starttls=True) as m:
        [untrusted] = await build_notifier(settings_for(m, smtp_tls="starttls")).send(
            escalation((Contacts(emails=("head@example.com",)),))
        )
        assert m.received == []
    assert not untrusted.ok


async def test_given_implicit_tls_then_the_mail_goes_over_tls(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    async with local_smtp_server(implicit_tls=server_tls(cert, key)) as mail:
        settings = settings_for(mail, smtp_tls="tls", smtp_ca_file=cert)
        [mailed] = await build_notifier(settings).send(
            escalation((Contacts(emails=("head@example.com",)),))
        )
        assert mailed.ok, mailed.error
        [arrived] = await mail.wait_for(1)
    assert arrived.recipients == ["head@example.com"]
