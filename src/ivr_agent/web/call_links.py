"""A call's links on the pages (S8): the original call a return call or specialist
call-back follows up, and the calls placed for an original call — as (where, text) pairs
in the page's language, from the links the calls store adds (``calls.links``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ivr_agent.core.outcome import CALL_KIND_LABELS
from ivr_agent.web.i18n import PageLocale


@dataclass(frozen=True)
class CallLink:
    """A link to a related call: ``rel`` is ``original`` or ``follow-up`` (the browser tests
    and the styles read it)."""

    href: str
    text: str
    rel: str


def kind_text(links: Mapping[str, Any], t: PageLocale) -> str | None:
    """What kind of callback placed the call (``return call`` …), or None for a call no
    callback of ours placed."""
    placed = links.get("callback")
    if not placed:
        return None
    kind = placed["kind"]
    return t.gettext(CALL_KIND_LABELS[kind]) if kind in CALL_KIND_LABELS else kind


def related_calls(links: Mapping[str, Any], t: PageLocale, base: str) -> tuple[CallLink, ...]:
    """The links of a call to its original call and to the calls placed for it; ``base``:
    the page path a call id is appended to (``/calls/`` or ``/qa/calls/``)."""
    found = []
    placed = links.get("callback")
    if placed and placed.get("original_call_id"):
        found.append(
            CallLink(base + placed["original_call_id"], t.gettext("original call"), "original")
        )
    for follow_up in links.get("follow_up_calls", ()):
        kind = follow_up["kind"]
        label = t.gettext(CALL_KIND_LABELS[kind]) if kind in CALL_KIND_LABELS else kind
        found.append(CallLink(base + follow_up["call_id"], label, "follow-up"))
    return tuple(found)
