"""Where sign-in may send a browser afterwards: a path on this site, nothing else.

``/login?next=…`` comes from anyone's link, and ``/login#token=…`` signs in without a click,
so an unchecked ``next`` is an open redirect with a valid session behind it. The trap is
that the value is parsed again after we look at it: yarl (and every browser, per WHATWG
URL) drops tabs and newlines, so ``/\\t/evil.example`` becomes ``//evil.example`` — another
host — and browsers read ``\\`` as ``/``. So :func:`same_origin_path` admits only plain
printable ASCII and re-checks the percent-decoded form and what yarl will write into the
``Location`` header; anything doubtful falls back to ``/``.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit

from yarl import URL

HOME = "/"
#: Longer than any path of ours (a call page is under 60 characters).
MAX_LENGTH = 2048
#: Printable ASCII without space: no control character, whitespace or Unicode lookalike.
_PRINTABLE = re.compile(r"[\x21-\x7e]+")
#: A "." or ".." path segment (browsers remove them: "/a/..//x" is path "//x").
_DOT_SEGMENT = re.compile(r"/\.{1,2}(?:[/?#]|$)")


def _plain(value: str) -> bool:
    return (
        _PRINTABLE.fullmatch(value) is not None
        and value.startswith("/")
        and "//" not in value
        and "\\" not in value
        and _DOT_SEGMENT.search(value) is None
    )


def same_origin_path(raw: str | None) -> str:
    """``raw`` if it is an absolute path on this site, else ``/``.

    Admitted: one leading ``/``, then printable ASCII (percent-escapes for the rest), no
    ``//``, no ``\\``, no ``.``/``..`` segment — checked on the value and on its
    percent-decoded forms (``/%2F%2Fevil`` is refused: nothing of ours has an encoded slash,
    and a proxy that decodes it would see ``//evil``) — with no scheme or authority when
    parsed by urllib and by yarl, and a ``Location`` (as aiohttp writes it with yarl) that is
    a path on this site.
    """
    if not raw or len(raw) > MAX_LENGTH:
        return HOME
    decoded, previous = raw, ""
    for _ in range(4):  # "%252F" is "%2F" once decoded: follow until nothing changes
        if not _plain(decoded):
            return HOME
        try:
            previous, decoded = decoded, unquote(decoded, errors="strict")
        except UnicodeDecodeError:  # "%FF": not UTF-8, not a path of ours
            return HOME
        if decoded == previous:
            break
    else:
        return HOME
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc:
        return HOME
    url = URL(raw)
    location = str(url)
    if url.is_absolute() or url.host is not None or not _plain(location):
        return HOME
    return raw


def login_location(path: str) -> str:
    """``/login`` with ``next`` set to ``path`` (if it is a path on this site, else ``/``),
    percent-encoded as a query value (``/`` kept, so ``/login?next=/qa`` stays readable)."""
    return "/login?next=" + quote(same_origin_path(path), safe="/")
