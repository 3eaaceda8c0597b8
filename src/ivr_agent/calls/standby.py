"""A standby agent's calls: tracked in the shadows, stored only once it takes over.

With leader election on, the standby agent of a PBX listens to the same AMI stream as the
active one and feeds its own tracker (and in-flight journal), but stores nothing and acts
on nothing: the tracker's finished calls reach :class:`OutcomeGate`, which keeps the recent
ones aside instead of spooling them, and its commands find no prompt executor or recorder.
Why listen at all: Asterisk replays no AMI event, so an agent that connected only when it
took over would know nothing of the calls in flight at the leader's death, and nothing at
all of the calls that ended between that death and the take-over.

At the take-over (:func:`outcomes_to_store`): every call the gate kept that no row in the
database holds yet — it ended while no agent was active, or the dead leader never wrote it
— is stored, marked ``complete: false``. The calls still in flight go on in the same
tracker, marked ``complete: false`` too. Both for one reason: the dead leader's own prompt
reports are sealed with a key only it had (``pbx.session.ReportSeal``), so the standby
cannot tell them from forgeries and the prompts it played are not in these outcomes.
Nothing is stored twice: a call is one row per ``(pbx_id, linkedid)`` however many agents
save it (``calls.store.save_outcome`` upserts), and the rows already there are left alone.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from ivr_agent.calls.store import stored_linkedids
from ivr_agent.core.tracker import FinishedCall, Tracker
from ivr_agent.db.database import Database
from ivr_agent.db.errors import StoreError
from ivr_agent.platform.logging import get_logger

log = get_logger(__name__)

#: How long a standby keeps the calls it saw finish: longer than the leader normally takes
#: to store one, so that a take-over finds every call its dead leader may not have stored.
LOOKBACK_SECONDS = 60.0


class OutcomeGate:
    """Where the tracker's finished calls go: on to ``deliver`` (the outbox) while this
    agent is active; kept for ``lookback_seconds`` while it stands by."""

    def __init__(
        self,
        deliver: Callable[[FinishedCall], None],
        *,
        active: bool = True,
        lookback_seconds: float = LOOKBACK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.deliver = deliver
        self.active = active
        self.lookback_seconds = lookback_seconds
        self._clock = clock
        self._kept: deque[tuple[float, FinishedCall]] = deque()

    def __call__(self, call: FinishedCall) -> None:
        """The tracker finished ``call``."""
        if self.active:
            self.deliver(call)
            return
        now = self._clock()
        self._kept.append((now, call))
        self._forget_before(now - self.lookback_seconds)

    def stand_by(self) -> None:
        """From now on keep the finished calls aside instead of delivering them."""
        self.active = False

    def take_over(self) -> list[FinishedCall]:
        """From now on deliver; the calls kept within the look-back, oldest first."""
        self.active = True
        self._forget_before(self._clock() - self.lookback_seconds)
        kept = [call for _at, call in self._kept]
        self._kept.clear()
        return kept

    @property
    def kept(self) -> int:
        """How many finished calls are kept aside now."""
        return len(self._kept)

    def _forget_before(self, cutoff: float) -> None:
        while self._kept and self._kept[0][0] < cutoff:
            self._kept.popleft()


#: Why a call a standby saw is ``complete: false`` (see the module docstring).
TAKEOVER_REASON = "agent failover: prompts played by the previous active agent are not known"


def takeover_reason(at: datetime) -> str:
    """:data:`TAKEOVER_REASON` at ``at``, as the tracker words a gap (``… at <time>``)."""
    return f"{TAKEOVER_REASON} at {at.isoformat(timespec='seconds')}"


async def outcomes_to_store(
    db: Database, pbx_id: str, kept: list[FinishedCall], reason: str
) -> list[FinishedCall]:
    """Of the calls a standby kept, those no stored row holds yet, marked ``complete:
    false`` with ``reason``. Raises StoreError when the database cannot be read (then
    the caller stores them all: a second save of a call only rewrites its row)."""
    if not kept:
        return []
    stored = await stored_linkedids(db, pbx_id, [call.outcome.linkedid for call in kept])
    return [_incomplete(call, reason) for call in kept if call.outcome.linkedid not in stored]


def mark_incomplete(calls: list[FinishedCall], reason: str) -> list[FinishedCall]:
    """``calls`` marked ``complete: false`` with ``reason`` (kept with their timelines)."""
    return [_incomplete(call, reason) for call in calls]


def _incomplete(call: FinishedCall, reason: str) -> FinishedCall:
    outcome = call.outcome
    reasons = [r for r in (outcome.incomplete_reason, reason) if r]
    marked = replace(outcome, complete=False, incomplete_reason="; ".join(reasons))
    return replace(call, outcome=marked)


async def take_over_calls(
    gate: OutcomeGate, tracker: Tracker, db: Database, pbx_id: str, now: float
) -> None:
    """This agent becomes the active one at ``now`` (PBX time, epoch seconds): if its gate
    stood by, store the calls it kept that nobody stored and mark the calls in flight
    ``complete: false`` (see the module docstring). Nothing to do for an agent that was
    storing already (the first agent at start, a leader that got its lock back)."""
    if gate.active:
        return
    at = datetime.fromtimestamp(now, UTC)
    reason = takeover_reason(at)
    kept = gate.take_over()
    in_flight = tracker.mark_gap(at, TAKEOVER_REASON)
    try:
        unstored = await outcomes_to_store(db, pbx_id, kept, reason)
    except StoreError:
        unstored = mark_incomplete(kept, reason)  # a second save only rewrites a row
    for call in unstored:
        gate.deliver(call)
    log.warning(
        "took over the calls of the PBX",
        pbx_id=pbx_id,
        calls_in_flight=in_flight,
        calls_seen_finishing=len(kept),
        calls_stored_now=len(unstored),
    )
