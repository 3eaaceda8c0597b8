"""How the pages show caller numbers: the dashboard's breaches and the QA pages mask them
alike (``—`` where there is none). Numbers, times and dates are formatted in the page's
language by :class:`ivr_agent.web.i18n.PageLocale`."""

from __future__ import annotations

from ivr_agent.web.i18n import DASH


def masked(number: str | None) -> str:
    """A caller number with all but its last four digits hidden (the screen is public)."""
    if not number:
        return DASH
    return "•" * max(0, len(number) - 4) + number[-4:] if len(number) > 4 else number
