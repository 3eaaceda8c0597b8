"""The standards numbers the pure core needs, frozen, decoupled from pydantic settings."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class StandardsConfig:
    """Numbers of STANDARDS.md S1–S3 and S6 (defaults are the handbook values).

    Build it from the service settings with :meth:`from_settings`; tests build it directly.
    Every value is validated on construction (``ValueError`` naming the field).
    """

    ring_cycle_seconds: float = 5.0
    max_rings: int = 3
    apology_min_rings: int = 5
    short_abandon_seconds: float = 5.0
    hold_reminder_seconds: float = 10.0
    hold_reminder_repeat_seconds: float = 20.0
    hold_severe_seconds: float = 60.0
    silence_prompt_seconds: float = 5.0
    silence_hangup_seconds: float = 5.0
    call_max_seconds: float = 300.0
    #: Prompts the agent must not ask for (names as in ``core.commands``).
    prompts_disabled: frozenset[str] = frozenset()
    #: A call with no event for this long is given up as incomplete by ``Tracker.tick``
    #: (bounded memory when a Hangup was lost). Not a standard, so not a service setting.
    stale_call_seconds: float = 6 * 3600.0
    #: How many finished linkedids are remembered, so late or duplicated events of a call
    #: that already produced its outcome are dropped instead of opening a second call.
    finished_memory: int = 10_000

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value <= 0:
                raise ValueError(f"StandardsConfig.{f.name} must be > 0, got {value!r}")

    @property
    def service_level_seconds(self) -> float:
        """Answered within standard ⇔ ring time below this (max_rings × ring cycle)."""
        return self.max_rings * self.ring_cycle_seconds

    @classmethod
    def from_settings(cls, settings: Any) -> StandardsConfig:
        """Copy the matching fields of :class:`ivr_agent.settings.Settings` (or any object
        with those attributes); attributes it lacks keep their defaults."""
        values = {
            f.name: getattr(settings, f.name) for f in fields(cls) if hasattr(settings, f.name)
        }
        return cls(**values)
