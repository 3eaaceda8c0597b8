"""The complaint runner: chases and escalates (S7), and settles resolved complaints by what
the customer answered on their callback.

Every ``every`` seconds (:class:`Chaser.run`):

1. **Callback answers.** A resolved complaint whose ``complaint_resolved`` callback has a
   ``problem_solved`` answer is confirmed ("solved") or reopened ("not solved"), actor
   ``callback``; a service callback answered "not solved" opens a complaint
   (``complaints/from_callbacks.py``). Read here from the callbacks table rather than
   pushed by a hook from the dialer: callbacks stay unaware of complaints (layering), the
   dialer may run in another agent than this runner, and an answer stored while no runner
   ran is still acted on at the next round — the database holds the state, nothing is
   lost in memory.
2. **Chase and escalation.** Each complaint being handled whose department has been silent
   for the chase time is evaluated with :func:`ivr_agent.core.complaints.due_step`. The step
   due is stored (``chased``/``escalated`` event, ``chased_at``/``escalated_at``, audit) in a
   transaction that holds the complaint's row lock, taken with ``SKIP LOCKED`` and the
   timeline re-read under it: two agents sharing the database store each step once. Then
   the message goes out through the :class:`~ivr_agent.notify.Notifier` (after the commit,
   so a slow mail server holds no lock), and each delivery is stored as a ``notified``
   event. An agent that dies between the two leaves a step without ``notified`` events;
   :data:`RESEND_AFTER` later a round sends it (:meth:`Chaser.resend_interrupted`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from sqlalchemy import Exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from ivr_agent.complaints.from_callbacks import CALLBACK, open_from_unsolved_services
from ivr_agent.complaints.model import Actor, entry_of
from ivr_agent.complaints.notices import KINDS, notification
from ivr_agent.complaints.queries import overdue_sql
from ivr_agent.complaints.store import add_event, apply_transition, audit, timeline_of
from ivr_agent.core.complaints import (
    HANDLED,
    OPEN,
    RESOLVED,
    ChaseSettings,
    EventKind,
    Step,
    Transition,
    due_step,
)
from ivr_agent.db.database import Database
from ivr_agent.db.errors import StoreError
from ivr_agent.db.models import CallbackRow, ComplaintEventRow, ComplaintRow
from ivr_agent.notify import Delivery, Directory, Notification, Notifier
from ivr_agent.platform.logging import get_logger

log = get_logger(__name__)

CHASER = Actor("chaser", "agent")
NOTIFIER = "notifier"
#: A step stored this long ago without any delivery recorded after it was interrupted (its
#: agent died before sending): far longer than any send takes, so never one still going.
RESEND_AFTER = timedelta(minutes=10)
#: The event each step stores.
STEP_EVENTS: dict[Step, EventKind] = {"chase": "chased", "escalate": "escalated"}


@dataclass
class ChaserStats:
    """The runner's counters since start, and the complaints as last counted (gauges)."""

    chased: int = 0
    escalated: int = 0
    deliveries_ok: int = 0
    deliveries_failed: int = 0
    confirmed: int = 0
    reopened: int = 0
    #: Complaints opened by a service callback's "not solved" (complaints/from_callbacks).
    opened_by_callbacks: int = 0
    #: Gauges over the whole database: every complaint; resolved or confirmed; not
    #: resolved yet; of those, overdue; and escalated.
    registered: int = 0
    resolved: int = 0
    open: int = 0
    overdue: int = 0
    open_escalated: int = 0


GAUGES = frozenset({"registered", "resolved", "open", "overdue", "open_escalated"})


@dataclass(frozen=True)
class TakenStep:
    """A step stored for a complaint: what to tell, about which complaint (as locked)."""

    step: Step
    row: ComplaintRow


class Chaser:
    """Runs the rounds; ``directory`` names who is told, ``notifier`` tells them."""

    def __init__(
        self,
        db: Database,
        directory: Directory,
        notifier: Notifier,
        settings: ChaseSettings,
        *,
        zone: tzinfo,
        now: Callable[[], datetime],
        every: float = 60.0,
    ) -> None:
        self.db = db
        self.directory = directory
        self.notifier = notifier
        self.settings = settings
        self.zone = zone
        self.now = now
        self.every = every
        self.stats = ChaserStats()

    async def run(self) -> None:
        """Round after round, forever; a database outage is logged once and retried."""
        failing = False
        while True:
            try:
                await self.round()
            except StoreError as exc:
                if not failing:
                    log.warning("complaint round failed", error=str(exc))
                failing = True
            except Exception:
                # A bug must not stop chasing for good: said once, tried again next round.
                if not failing:
                    log.exception("complaint round failed")
                failing = True
            else:
                failing = False
            await asyncio.sleep(self.every)

    async def round(self) -> None:
        """One round: callback answers, every step due, interrupted notifications, then the
        gauges."""
        await self.settle_callbacks()
        opened = await open_from_unsolved_services(self.db, now=self.now())
        self.stats.opened_by_callbacks += len(opened)
        for complaint_id in await self._candidates():
            taken = await self.take_step(complaint_id)
            if taken is not None:
                await self._tell(taken)
        await self.resend_interrupted()
        await self._count()

    # --- callback answers ------------------------------------------------------------------

    async def settle_callbacks(self) -> None:
        """Confirm or reopen each resolved complaint whose callback has an answer."""
        query = (
            select(ComplaintRow.complaint_id)
            .join(CallbackRow, CallbackRow.callback_id == ComplaintRow.callback_id)
            .where(ComplaintRow.state == "resolved", CallbackRow.problem_solved.is_not(None))
        )
        async with self.db.transaction("answered complaint callbacks") as session:
            ids = list(await session.scalars(query))
        for complaint_id in ids:
            async with self.db.transaction("settle complaint by callback") as session:
                await self._settle(session, str(complaint_id))

    async def _settle(self, session: AsyncSession, complaint_id: str) -> None:
        row = await _lock(session, complaint_id)
        if row is None or row.state != "resolved" or row.callback_id is None:
            return  # another agent settled it, or it moved on meanwhile
        solved = await session.scalar(
            select(CallbackRow.problem_solved).where(CallbackRow.callback_id == row.callback_id)
        )
        if solved is None:
            return
        move: Transition = "confirm" if solved else "reopen"
        note = "the customer said on the callback that the problem is " + (
            "solved" if solved else "not solved"
        )
        await apply_transition(
            session,
            row,
            move,
            CALLBACK,
            now=self.now(),
            note=note,
            details={"callback_id": str(row.callback_id), "problem_solved": solved},
        )
        if solved:
            self.stats.confirmed += 1
        else:
            self.stats.reopened += 1

    # --- chase and escalation ------------------------------------------------------------

    async def _candidates(self) -> list[str]:
        # Silent for the chase time, not escalated in this silence, and not chased in it
        # less than the escalation time ago: the rest is decided per complaint under its
        # lock, from its timeline (so old escalated complaints cost nothing each round).
        now = self.now()
        c = ComplaintRow
        query = select(c.complaint_id).where(
            c.state.in_(sorted(HANDLED)),
            c.silent_since <= now - self.settings.chase_after,
            or_(c.escalated_at.is_(None), c.escalated_at < c.silent_since),
            or_(
                c.chased_at.is_(None),
                c.chased_at < c.silent_since,
                c.chased_at <= now - self.settings.escalate_after,
            ),
        )
        async with self.db.transaction("complaints to chase") as session:
            return [str(i) for i in await session.scalars(query)]

    async def take_step(self, complaint_id: str) -> TakenStep | None:
        """Store the step due for the complaint, once: ``None`` when nothing is due or
        another agent holds it."""
        async with self.db.transaction("chase complaint") as session:
            row = await _lock(session, complaint_id)
            if row is None:
                return None
            now = self.now()
            timeline = [entry_of(e).core() for e in await timeline_of(session, complaint_id)]
            due = due_step(timeline, now, self.settings)
            if due.step is None:
                return None
            details = {
                "department_id": row.department_id,
                "silent_since": row.silent_since.isoformat(),
                "next_step": due.next_step,
                "next_at": due.next_at.isoformat() if due.next_at else None,
            }
            kind = STEP_EVENTS[due.step]
            add_event(session, complaint_id, kind, CHASER.name, now, "", details)
            if due.step == "chase":
                row.chased_at = now
                self.stats.chased += 1
            else:
                row.escalated_at = now
                self.stats.escalated += 1
            row.updated_at = now
            audit(session, CHASER, due.step, complaint_id, details)
            await session.flush()
            return TakenStep(due.step, row)

    async def _tell(self, taken: TakenStep) -> None:
        deliveries = await self._send(taken)
        async with self.db.transaction("complaint notified") as session:
            self._store_deliveries(session, taken, deliveries)

    async def _send(self, taken: TakenStep) -> list[Delivery]:
        message = self._message(taken)
        if not message.to:
            return [Delivery("email", "", False, "no contacts in the directory")]
        try:
            return await self.notifier.send(message)
        except Exception as exc:  # the contract says it never raises; keep the record
            log.exception("notifier raised", complaint_id=str(taken.row.complaint_id))
            return [Delivery("email", "", False, f"notifier failed: {exc}")]

    def _message(self, taken: TakenStep) -> Notification:
        days = self.settings.chase_after / timedelta(days=1)
        return notification(taken.step, taken.row, self.directory, self.zone, days)

    def _store_deliveries(
        self,
        session: AsyncSession,
        taken: TakenStep,
        deliveries: list[Delivery],
        *,
        resent: bool = False,
    ) -> None:
        kind = KINDS[taken.step]
        for delivery in deliveries:
            details = {
                "step": taken.step,
                "kind": kind,
                "channel": delivery.channel,
                "target": delivery.target,
                "ok": delivery.ok,
                "error": delivery.error,
            }
            if resent:
                details["resent"] = True
            note = "" if delivery.ok else (delivery.error or "failed")
            add_event(
                session,
                str(taken.row.complaint_id),
                "notified",
                NOTIFIER,
                self.now(),
                note,
                details,
            )
            if delivery.ok:
                self.stats.deliveries_ok += 1
            else:
                self.stats.deliveries_failed += 1

    # --- steps whose notification was interrupted -----------------------------------------

    async def resend_interrupted(self) -> None:
        """Send what an agent that died between storing a step and storing its deliveries
        never sent: a chase or escalation older than :data:`RESEND_AFTER` with no
        ``notified`` event after it. Rare, so done simply: under the complaint's row lock,
        sent and recorded in one transaction (a crash here sends it again: at least once)."""
        e = ComplaintEventRow
        query = select(e.complaint_id, e.event_id).where(
            e.kind.in_(sorted(STEP_EVENTS.values())),
            e.at <= self.now() - RESEND_AFTER,
            ~_notified_after(e),
        )
        async with self.db.transaction("interrupted notifications") as session:
            pending = (await session.execute(query)).all()
        for complaint_id, event_id in pending:
            async with self.db.transaction("resend notification") as session:
                row = await _lock(session, str(complaint_id))
                step_event = await session.get(ComplaintEventRow, event_id)
                if row is None or step_event is None:
                    continue
                still = await session.scalar(
                    select(_notified_after(e)).where(e.event_id == event_id)
                )
                if still:
                    continue  # another agent resent it meanwhile
                step: Step = "chase" if step_event.kind == "chased" else "escalate"
                taken = TakenStep(step, row)
                deliveries = await self._send(taken)
                self._store_deliveries(session, taken, deliveries, resent=True)

    async def _count(self) -> None:
        c = ComplaintRow
        is_open = c.state.in_(sorted(OPEN))
        query = select(
            func.count(),
            func.count().filter(c.state.in_(sorted(RESOLVED))),
            func.count().filter(is_open),
            func.count().filter(overdue_sql(self.now(), self.settings.chase_after)),
            func.count().filter(is_open, c.escalated_at.is_not(None)),
        )
        async with self.db.transaction("count complaints") as session:
            counts = (await session.execute(query)).one()
        stats = self.stats
        stats.registered, stats.resolved, stats.open, stats.overdue, stats.open_escalated = counts


def _notified_after(step: type[ComplaintEventRow]) -> Exists:
    """SQL: the step event ``step`` has a ``notified`` event after it (its own delivery, or
    a later step's)."""
    later = aliased(ComplaintEventRow)
    return (
        select(later.event_id)
        .where(
            later.complaint_id == step.complaint_id,
            later.event_id > step.event_id,
            later.kind == "notified",
        )
        .exists()
    )


async def _lock(session: AsyncSession, complaint_id: str) -> ComplaintRow | None:
    """The complaint's row locked for this transaction; ``None`` if another holds it."""
    return await session.scalar(
        select(ComplaintRow)
        .where(ComplaintRow.complaint_id == complaint_id)
        .with_for_update(skip_locked=True)
    )
