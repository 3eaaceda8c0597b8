"""The guards of a page's form posted with the sign-in cookie (which the API never accepts
for a change): a per-session form token, and a same-origin check.

The form token is an HMAC of what the form acts on, keyed by the session's token, so a page
of another session, or of another object, cannot be replayed. The origin check refuses a
post a browser says came from elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web


def form_token(session_token: str, purpose: str) -> str:
    """The anti-forgery token of the form for ``purpose`` (e.g. ``complaint:<id>``)."""
    return hmac.new(session_token.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def valid_form_token(given: str, session_token: str, purpose: str) -> bool:
    """Whether ``given`` is the form token of ``purpose`` for this session (constant time)."""
    return hmac.compare_digest(given, form_token(session_token, purpose))


def cross_site(request: web.Request) -> bool:
    """Whether the browser says the post came from another site.

    Our pages send no referrer, so browsers post with ``Origin: null``; a real other
    origin, or a ``Sec-Fetch-Site`` other than same-origin, is cross-site.
    """
    origin = request.headers.get("Origin")
    fetch_site = request.headers.get("Sec-Fetch-Site")
    return (origin not in (None, "null", f"{request.scheme}://{request.host}")) or (
        fetch_site is not None and fetch_site not in ("same-origin", "none")
    )
