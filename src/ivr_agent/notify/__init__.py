"""Notifications (S7 chase and escalation, S10 report mail): who is told what, by e-mail over
SMTP and by a signed JSON webhook.

This module states the contract other parts build against; the senders (``smtp``,
``webhook``, composed by ``notifier``) and the contacts directory (``directory``: the
departments, their management, quality management, from the TOML file
``IVR_AGENT_DEPARTMENTS_FILE``) live beside it. The package imports no feature: complaints
and reports hand it a ``Notification`` and get one ``Delivery`` per target back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class Contacts:
    """Where one party is reached: any number of e-mail addresses and at most one webhook."""

    emails: tuple[str, ...] = ()
    webhook: str | None = None

    @property
    def empty(self) -> bool:
        """True when the party cannot be reached at all."""
        return not self.emails and self.webhook is None


@dataclass(frozen=True)
class Department:
    """A department that handles complaints: its own contacts and its management's."""

    id: str
    name: str
    contacts: Contacts
    management: Contacts


@dataclass(frozen=True)
class Directory:
    """The handling departments by id, and quality management (told of every escalation)."""

    departments: Mapping[str, Department] = field(default_factory=dict)
    quality: Contacts = Contacts()

    def chase_to(self, department_id: str) -> tuple[Contacts, ...]:
        """Who a chase (催办) of ``department_id`` goes to: the department itself; nobody
        for an unknown id."""
        department = self.departments.get(department_id)
        return () if department is None else (department.contacts,)

    def escalate_to(self, department_id: str) -> tuple[Contacts, ...]:
        """Who an escalation (升级) goes to: the department's management and quality
        management (only quality management for an unknown id); unreachable parties left
        out."""
        department = self.departments.get(department_id)
        parties = (self.quality,) if department is None else (department.management, self.quality)
        return tuple(p for p in parties if not p.empty)


@dataclass(frozen=True)
class Attachment:
    """A file sent with an e-mail (a report); webhooks carry only ``Notification.data``."""

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class Notification:
    """One message to one or more parties.

    ``kind`` names the occasion (``complaint_chase``, ``complaint_escalation``, ``report``);
    ``text`` is the e-mail's plain-text body; ``data`` is the webhook's JSON payload (sent as
    ``{"kind": kind, **data}``).
    """

    kind: str
    subject: str
    text: str
    data: Mapping[str, Any]
    to: tuple[Contacts, ...]
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class Delivery:
    """What became of a notification at one target (an address or a webhook URL)."""

    channel: Literal["email", "webhook"]
    target: str
    ok: bool
    error: str | None = None


class Notifier(Protocol):
    """Sends notifications. Never raises for a target that fails: its ``Delivery`` says so."""

    async def send(self, notification: Notification) -> list[Delivery]: ...


# The implementations, after the contract they build on (their modules import it from here).
from ivr_agent.notify.directory import DirectoryError, load_directory  # noqa: E402
from ivr_agent.notify.notifier import (  # noqa: E402
    MailAndWebhookNotifier,
    build_notifier,
    check_reachable,
)

__all__ = [
    "Attachment",
    "Contacts",
    "Delivery",
    "Department",
    "Directory",
    "DirectoryError",
    "MailAndWebhookNotifier",
    "Notification",
    "Notifier",
    "build_notifier",
    "check_reachable",
    "load_directory",
]
