"""One event of a call's timeline: what QA replay shows, stored beside the outcome.

The tracker produces these while it follows a call (raw PBX events reduced to what a
person reviewing the call needs: who rang, who answered, holds, prompts, talk, hang-up).
Pure data, no I/O: the store writes them in the same transaction as the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ivr_agent.core.outcome import iso


@dataclass(frozen=True)
class TimelineEvent:
    """Something that happened in a call at ``at`` (zone-aware), on ``channel`` if any.

    ``kind`` is a short name (``offered``, ``ring``, ``answer``, ``hold``, ``prompt``,
    ``hangup``…); ``details`` holds JSON-ready values only (str, numbers, bools, None,
    lists, dicts), so storing and reading back gives an equal event.
    """

    at: datetime
    kind: str
    channel: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("timeline times must carry a zone")
        if not self.kind:
            raise ValueError("timeline event kind must not be empty")

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict: ``at`` (ISO 8601 with zone), ``kind``, ``channel``, ``details``."""
        return {
            "at": iso(self.at),
            "kind": self.kind,
            "channel": self.channel,
            "details": dict(self.details),
        }
