"""E-mail over SMTP (aiosmtplib): one plain-text UTF-8 message to one address, with any
attachments (reports).

Each message is built with :class:`email.message.EmailMessage` (the standard library's
modern API): a Chinese subject is RFC 2047-encoded, the body is UTF-8 in base64 (no server
needs 8BITMIME or SMTPUTF8 for it), a Chinese attachment name is RFC 2231-encoded.

Faults are sorted for the retry (:mod:`.retry`): a refused or broken connection, a timeout
and an SMTP 4xx reply are transient; a 5xx reply (address unknown, message refused, login
refused), a server without STARTTLS when it is required and an untrusted certificate are
not.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal

import aiosmtplib

from ivr_agent.notify import Attachment
from ivr_agent.notify.retry import DeliveryFailed
from ivr_agent.settings import Settings


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how e-mail is sent. ``repr`` never shows the password."""

    host: str
    port: int
    tls: Literal["none", "starttls", "tls"]
    sender: str
    timeout: float = 10.0
    username: str | None = None
    password: str | None = None
    #: PEM certificate authorities to check the server against (None: the system's).
    ca_file: str | None = None

    def __repr__(self) -> str:
        login = f"{self.username}:**********@" if self.username else ""
        return f"SmtpConfig({login}{self.host}:{self.port}, tls={self.tls}, from={self.sender})"

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig | None:
        """The ``IVR_AGENT_SMTP_*`` settings; None when ``IVR_AGENT_SMTP_HOST`` is unset."""
        if settings.smtp_host is None or settings.smtp_from is None:
            return None
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port_or_default,
            tls=settings.smtp_tls,
            sender=settings.smtp_from,
            timeout=settings.smtp_timeout_seconds,
            username=settings.smtp_username,
            ca_file=str(settings.smtp_ca_file) if settings.smtp_ca_file else None,
            password=(
                settings.smtp_password.get_secret_value()
                if settings.smtp_password is not None
                else None
            ),
        )


def build_message(
    sender: str, to: str, subject: str, text: str, attachments: Sequence[Attachment] = ()
) -> EmailMessage:
    """The message as sent: plain text in UTF-8, each attachment with its content type."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    message.set_content(text, charset="utf-8", cte="base64" if not text.isascii() else "7bit")
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            attachment.content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=attachment.filename,
        )
    return message


class SmtpSender:
    """Sends one message per call over a connection of its own (e-mail is rare: a chase,
    an escalation, a report; a kept connection would mostly be one the server closed)."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    async def send(
        self, to: str, subject: str, text: str, attachments: Sequence[Attachment] = ()
    ) -> None:
        """Deliver to the SMTP server; raises :class:`DeliveryFailed` (transient or not)."""
        config = self.config
        message = build_message(config.sender, to, subject, text, attachments)
        try:
            # The whole try, connection to the server's acceptance, within the timeout: the
            # notifier's bound on a target (tries × timeout + waits) then holds.
            async with asyncio.timeout(config.timeout):
                await aiosmtplib.send(
                    message,
                    hostname=config.host,
                    port=config.port,
                    username=config.username,
                    password=config.password,
                    use_tls=config.tls == "tls",
                    # starttls: required (the password and the message never go in clear);
                    # none: never tried, even when offered.
                    start_tls=config.tls == "starttls",
                    cert_bundle=config.ca_file,
                    timeout=config.timeout,
                )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            raise DeliveryFailed(
                f"{to} refused: {detail}", transient=all(400 <= c < 500 for c in codes)
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryFailed(
                f"SMTP {config.host}:{config.port} answered {exc.code} {exc.message}",
                transient=400 <= exc.code < 500,
            ) from None
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryFailed(
                f"SMTP {config.host}:{config.port}: {exc}", transient=False
            ) from None
        except (
            aiosmtplib.SMTPServerDisconnected,
            aiosmtplib.SMTPConnectError,
            aiosmtplib.SMTPTimeoutError,
            OSError,
        ) as exc:
            # Refused, reset, timed out, name not resolved: the network's fault, may pass.
            reason = str(exc) or (
                f"no answer within {config.timeout:g} s"
                if isinstance(exc, TimeoutError)
                else type(exc).__name__
            )
            raise DeliveryFailed(
                f"SMTP {config.host}:{config.port}: {reason}", transient=True
            ) from None
        except aiosmtplib.SMTPException as exc:
            # No STARTTLS offered, no AUTH offered: no retry will change that.
            raise DeliveryFailed(
                f"SMTP {config.host}:{config.port}: {exc}", transient=False
            ) from None
