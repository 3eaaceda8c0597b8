"""How the pages show figures and caller numbers: the dashboard's panels, a call's page and
the QA pages format the same way (``—`` where there is nothing to show)."""

from __future__ import annotations

from typing import Any


def percent(value: float | None) -> str:
    """``0.6`` → ``60.0 %``; ``None`` (nothing to divide) → ``—``."""
    return "—" if value is None else f"{value * 100:.1f} %"


def seconds(value: float | None) -> str:
    """Seconds with one decimal, or ``—``."""
    return "—" if value is None else f"{value:.1f} s"


def masked(number: str | None) -> str:
    """A caller number with all but its last four digits hidden (the screen is public)."""
    if not number:
        return "—"
    return "•" * max(0, len(number) - 4) + number[-4:] if len(number) > 4 else number


def count(value: Any) -> str:
    """A count as text, or ``—`` when there is none."""
    return "—" if value is None else str(value)
