"""Records a call keeps while it is tracked: its holds, the prompts the IVR layer reported,
and the events it could not accept. Times are event-time microseconds."""

from __future__ import annotations

from dataclasses import dataclass

from .event_types import PromptAudience


@dataclass(slots=True)
class HoldFact:
    """One hold of the caller, in event microseconds."""

    start_us: int
    holder: str
    end_us: int | None = None
    reminders: int = 0
    next_reminder_us: int | None = None  # tick(): the reminder after the pending one


@dataclass(slots=True)
class PromptFact:
    """A prompt reported by the IVR layer."""

    prompt: str
    at_us: int
    played: bool
    finished: bool | None = None
    to: PromptAudience = "caller"


@dataclass(slots=True)
class Anomaly:
    """An event the state machine could not accept, kept for the timeline."""

    at_us: int
    message: str
    channel: str | None
