"""Capped exponential backoff with full jitter, shared by every reconnecting part.

Used by the AMI connection, the ARI events websocket and the outbox writer: after a PBX or
database restart many clients retry at once, and full jitter spreads them out; the cap
keeps a long outage from growing the delay without bound.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

#: The shortest delay ever returned: never a tight retry loop.
MIN_DELAY = 0.05


@dataclass
class Backoff:
    """Delay in ``[MIN_DELAY, min(cap, base·2^n)]`` for the n-th consecutive failure."""

    base: float = 0.5
    cap: float = 30.0
    attempt: int = 0

    def next_delay(self) -> float:
        """The delay before the next attempt (and count the attempt)."""
        ceiling = min(self.cap, self.base * 2**self.attempt)
        self.attempt = min(self.attempt + 1, 32)
        # A random delay, not a secret: jitter spreads the retries of many clients.
        return max(MIN_DELAY, random.uniform(0, ceiling))  # noqa: S311

    def reset(self) -> None:
        """Start over after an attempt that worked."""
        self.attempt = 0
