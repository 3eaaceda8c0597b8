"""Webhooks: a JSON POST signed with HMAC-SHA256, which the receiver checks.

The request::

    POST <url>
    Content-Type: application/json; charset=utf-8
    X-IVR-Agent-Event: complaint_escalation
    X-IVR-Agent-Delivery: 6f1c…            (one id per notification and URL, kept on retries)
    X-IVR-Agent-Timestamp: 1796212345      (Unix seconds when this try was signed)
    X-IVR-Agent-Signature: sha256=<hex of HMAC-SHA256(secret, timestamp + "." + body)>

    {"kind": "complaint_escalation", …}

The signature covers the timestamp, so a receiver that refuses timestamps older than a few
minutes also refuses a captured request replayed later (:func:`verify` is the recipe in
Python; README: Notifications gives it for a shell). Redirects are not followed: a signed
body must not be handed on to wherever a 3xx points.

A refused connection, a timeout, 429 and 5xx are transient (tried again, freshly signed);
any other status is final.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

import aiohttp

from ivr_agent.notify.retry import DeliveryFailed

SIGNATURE_HEADER = "X-IVR-Agent-Signature"
TIMESTAMP_HEADER = "X-IVR-Agent-Timestamp"
EVENT_HEADER = "X-IVR-Agent-Event"
DELIVERY_HEADER = "X-IVR-Agent-Delivery"
#: What a receiver should accept between the timestamp and its own clock.
DEFAULT_TOLERANCE_SECONDS = 300
#: Most of a refusing receiver's answer quoted in the error.
QUOTED_BODY = 200


def body_of(kind: str, data: Mapping[str, Any]) -> bytes:
    """The JSON body of a notification: ``{"kind": kind, **data}`` in UTF-8 (Chinese kept as
    is, not ``\\u`` escaped)."""
    return json.dumps({"kind": kind, **data}, ensure_ascii=False, default=str).encode("utf-8")


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The signature header's value: ``sha256=`` + HMAC-SHA256 of ``timestamp.body``."""
    digest = hmac.new(secret, str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify(
    secret: bytes,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver checks: the signature over the raw body and a fresh timestamp."""
    raw = headers.get(TIMESTAMP_HEADER, "")
    if not raw.isdigit():
        return False
    timestamp = int(raw)
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(headers.get(SIGNATURE_HEADER, ""), sign(secret, timestamp, body))


class WebhookSender:
    """Posts signed JSON bodies (see the module docstring)."""

    def __init__(self, secret: bytes, *, timeout: float = 10.0) -> None:
        self._secret = secret
        self.timeout = timeout

    async def post(self, url: str, kind: str, body: bytes, delivery_id: str) -> None:
        """One try; raises :class:`DeliveryFailed` (transient or not) unless answered 2xx."""
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            EVENT_HEADER: kind,
            DELIVERY_HEADER: delivery_id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
        }
        shown = redacted(url)
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session,
                session.post(url, data=body, headers=headers, allow_redirects=False) as response,
            ):
                if 200 <= response.status < 300:
                    return
                answer = (await response.content.read(QUOTED_BODY)).decode("utf-8", "replace")
                if 300 <= response.status < 400:
                    raise DeliveryFailed(
                        f"{shown} answered {response.status}, a redirect (to "
                        f"{response.headers.get('Location', '?')}), which is not followed: "
                        "configure the final URL",
                        transient=False,
                    )
                raise DeliveryFailed(
                    f"{shown} answered {response.status} {answer.strip()}".rstrip(),
                    transient=response.status == 429 or response.status >= 500,
                )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise DeliveryFailed(f"{shown}: {exc or type(exc).__name__}", transient=True) from None


def redacted(url: str) -> str:
    """The URL without its path and query, which often carry a token: for the log."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0]
    return f"{scheme}://{host}/…" if rest[len(host) :] not in ("", "/") else f"{scheme}://{host}/"
