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

from multidict import MultiMapping

from ivr_agent.core.ids import check_pbx_id
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


def pbx_ids_parameter(query: MultiMapping[str], name: str = "pbx_id") -> tuple[str, ...] | None:
    """The PBX ids of ``query[name]``, repeated (``?pbx_id=a&pbx_id=b``) or a comma list
    (``?pbx_id=a,b``), each once in the order given; ``None`` when absent (every PBX).

    An empty or malformed id (see :func:`ivr_agent.core.ids.check_pbx_id`) raises the 400
    :class:`~ivr_agent.web.errors.ApiError` whose ``details.field`` is ``name``.
    """
    raws = query.getall(name, [])
    if not raws:
        return None
    found: dict[str, None] = {}
    for raw in raws:
        for part in raw.split(","):
            try:
                found[check_pbx_id(part.strip())] = None
            except ValueError as exc:
                raise bad_parameter(name, f"{part.strip()!r} {exc}") from None
    return tuple(found)
