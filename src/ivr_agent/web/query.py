"""Query parameters parsed one way for every route: a bad value is a 400 naming it.

Why not ``raw.isdigit()`` then ``int(raw)``: ``str.isdigit`` is true for digits ``int``
refuses (superscripts such as ``²``: ``ValueError``, a 500) and for digits ``int`` accepts
but no client means (``٣``, full-width ``１``); and ``int`` refuses strings of more than
4,300 digits (CPython's integer-string limit), another ``ValueError``. So a count is ASCII
digits only, of bounded length, checked before ``int`` ever sees it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ivr_agent.web.errors import bad_parameter

#: ASCII digits only (``\d`` would match every Unicode decimal digit), at most 18 of them:
#: any such string fits a 64-bit integer and every bound of ours is far below it.
_COUNT = re.compile(r"[0-9]{1,18}")


def int_parameter(query: Mapping[str, str], name: str, *, default: int, low: int, high: int) -> int:
    """The integer ``query[name]`` (``default`` when absent), from ``low`` to ``high``.

    Anything else — empty, a sign, spaces, non-ASCII digits, too many digits, out of range —
    raises the 400 :class:`~ivr_agent.web.errors.ApiError` whose ``details.field`` is
    ``name``.
    """
    raw = query.get(name)
    if raw is None:
        return default
    if _COUNT.fullmatch(raw) is None or not low <= int(raw) <= high:
        raise bad_parameter(name, f"must be an integer from {low} to {high}")
    return int(raw)


def bool_parameter(query: Mapping[str, str], name: str) -> bool | None:
    """``query[name]`` as ``true``/``false`` (None when absent); anything else raises the
    400 :class:`~ivr_agent.web.errors.ApiError` whose ``details.field`` is ``name``."""
    raw = query.get(name)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise bad_parameter(name, "must be true or false")
    return raw == "true"
