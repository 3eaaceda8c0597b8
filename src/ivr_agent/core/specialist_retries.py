"""When a specialist call-back is tried again within its due time (S8: the specialist contacts
the customer within 3 minutes, 他会在3分钟内与您联系) — pure: times are passed in.

A specialist call-back whose attempt failed (the specialist did not answer, the customer did
not answer or was busy, the agent restarted mid-call) is not left to the usual retry interval
of S5 (30 minutes, inside the calling windows): the promise was a call within minutes. It is
tried again ``gap`` after the failed attempt ended, as long as that moment is not past the
call-back's deadline (the request + the due time); never at once (the phones need a moment
to free up, and an immediate redial is what S5 forbids). Past that, the usual rules apply
(one overdue attempt, then given up). ``max_attempts`` still bounds the attempts.
"""

from __future__ import annotations

from datetime import datetime, timedelta


def specialist_retry_at(ended_at: datetime, deadline: datetime, gap: timedelta) -> datetime | None:
    """The moment to retry a specialist call-back whose attempt ended (failed) at
    ``ended_at``: ``gap`` later, if that is at or before ``deadline``; None when the due time
    leaves no room (the usual retry rules decide). ``ValueError`` for a gap that is not
    positive."""
    if gap <= timedelta(0):
        raise ValueError("the specialist retry gap must be positive (never an immediate redial)")
    at = ended_at + gap
    return at if at <= deadline else None
