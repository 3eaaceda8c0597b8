"""The notifier the agent runs: every notification to every e-mail address and webhook of
its parties, each target on its own, so one that fails costs no other its message.

Targets are sent to at the same time (up to :data:`CONCURRENCY`); each is tried again on
transient faults (:mod:`.retry`). Nothing raises for a target: its :class:`Delivery` says
what became of it, the log says why, and ``ivr_agent_notifications_total{channel,result}``
counts it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Literal

from prometheus_client import CollectorRegistry, Counter

from ivr_agent.notify import Delivery, Directory, Notification
from ivr_agent.notify.directory import DirectoryError, Fault
from ivr_agent.notify.retry import DeliveryFailed, RetryPolicy, attempt
from ivr_agent.notify.smtp import SmtpConfig, SmtpSender
from ivr_agent.notify.webhook import WebhookSender, body_of, redacted
from ivr_agent.platform.logging import get_logger
from ivr_agent.settings import Settings

log = get_logger(__name__)

#: Targets of one notification sent to at the same time.
CONCURRENCY = 4
NO_SMTP = "no e-mail: IVR_AGENT_SMTP_HOST is not set"
NO_WEBHOOK_KEY = "no webhooks: IVR_AGENT_WEBHOOK_SECRET is not set"

Channel = Literal["email", "webhook"]


class MailAndWebhookNotifier:
    """A :class:`~ivr_agent.notify.Notifier` over SMTP and signed webhooks.

    ``mail``/``webhooks``: None when that channel is not configured (its targets then fail
    with the setting to set). ``sleep`` is the wait between tries (tests pass a fast one).
    """

    def __init__(
        self,
        *,
        mail: SmtpSender | None,
        webhooks: WebhookSender | None,
        policy: RetryPolicy | None = None,
        registry: CollectorRegistry | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.mail = mail
        self.webhooks = webhooks
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._counter = Counter(
            "ivr_agent_notifications",
            "Notifications sent, one per target (e-mail address or webhook), by channel and "
            "result (ok, failed: after every try).",
            ["channel", "result"],
            registry=registry,
        )
        for channel in ("email", "webhook"):
            for result in ("ok", "failed"):
                self._counter.labels(channel=channel, result=result)

    async def send(self, notification: Notification) -> list[Delivery]:
        """One :class:`Delivery` per distinct target, e-mail addresses first; never raises
        for a target that fails."""
        emails = list(dict.fromkeys(a for party in notification.to for a in party.emails))
        hooks = list(dict.fromkeys(p.webhook for p in notification.to if p.webhook))
        body = body_of(notification.kind, notification.data)
        gate = asyncio.Semaphore(CONCURRENCY)

        async def email(address: str) -> Delivery:
            async with gate:
                return await self._deliver(
                    "email", address, notification, lambda: self._mail(address, notification)
                )

        async def webhook(url: str) -> Delivery:
            # One id for every try of this notification at this URL: receivers deduplicate.
            delivery_id = uuid.uuid4().hex
            async with gate:
                return await self._deliver(
                    "webhook",
                    url,
                    notification,
                    lambda: self._post(url, notification.kind, body, delivery_id),
                )

        return list(await asyncio.gather(*(email(a) for a in emails), *(webhook(u) for u in hooks)))

    async def _mail(self, address: str, notification: Notification) -> None:
        if self.mail is None:
            raise DeliveryFailed(NO_SMTP, transient=False)
        await self.mail.send(
            address, notification.subject, notification.text, notification.attachments
        )

    async def _post(self, url: str, kind: str, body: bytes, delivery_id: str) -> None:
        if self.webhooks is None:
            raise DeliveryFailed(NO_WEBHOOK_KEY, transient=False)
        await self.webhooks.post(url, kind, body, delivery_id)

    async def _deliver(
        self,
        channel: Channel,
        target: str,
        notification: Notification,
        call: Callable[[], Awaitable[None]],
    ) -> Delivery:
        error, tries = await attempt(call, self.policy, self._sleep)
        shown = target if channel == "email" else redacted(target)
        self._counter.labels(channel=channel, result="ok" if error is None else "failed").inc()
        if error is None:
            log.info(
                "notification sent", kind=notification.kind, channel=channel, to=shown, tries=tries
            )
        else:
            log.warning(
                "notification failed",
                kind=notification.kind,
                channel=channel,
                to=shown,
                tries=tries,
                error=error,
            )
        return Delivery(channel=channel, target=target, ok=error is None, error=error)


def build_notifier(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> MailAndWebhookNotifier:
    """The notifier the settings describe (``IVR_AGENT_SMTP_*``, ``IVR_AGENT_WEBHOOK_*``,
    ``IVR_AGENT_NOTIFY_*``); its counter goes into ``registry``."""
    smtp = SmtpConfig.from_settings(settings)
    secret = settings.webhook_secret
    return MailAndWebhookNotifier(
        mail=SmtpSender(smtp) if smtp is not None else None,
        webhooks=(
            WebhookSender(
                secret.get_secret_value().encode("utf-8"),
                timeout=settings.webhook_timeout_seconds,
            )
            if secret is not None
            else None
        ),
        policy=RetryPolicy(settings.notify_attempts, settings.notify_retry_seconds),
        registry=registry,
        sleep=sleep,
    )


def check_reachable(directory: Directory, settings: Settings) -> None:
    """Refuse a departments file whose parties the settings give no way to reach: e-mail
    addresses without ``IVR_AGENT_SMTP_HOST``, webhooks without ``IVR_AGENT_WEBHOOK_SECRET``
    (every chase and escalation would fail, found out days later)."""
    parties = [directory.quality]
    for department in directory.departments.values():
        parties += [department.contacts, department.management]
    faults = []
    if settings.smtp_host is None and any(p.emails for p in parties):
        faults.append(Fault(None, f"names e-mail addresses but there is {NO_SMTP}"))
    if settings.webhook_secret is None and any(p.webhook for p in parties):
        faults.append(Fault(None, f"names webhooks but there are {NO_WEBHOOK_KEY}"))
    if faults:
        raise DirectoryError(str(settings.departments_file), faults)
