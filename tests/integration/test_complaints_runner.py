"""The complaint runner against a real PostgreSQL, on a clock the test moves: the silent
department is chased after the chase time and its management and quality management told
after the escalation time, each step stored once even with two agents racing, each
delivery a ``notified`` event; feedback restarts the clock; the customer's answer on the
resolved complaint's callback confirms or reopens it (actor ``callback``); a service
callback answered "not solved" opens one complaint."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from ivr_agent.callbacks import CallbackRequest, callback_config, create_callback
from ivr_agent.complaints.model import Actor
from ivr_agent.complaints.runner import Chaser
from ivr_agent.complaints.store import NewComplaint, get_complaint, register, transition
from ivr_agent.core.complaints import ChaseSettings
from ivr_agent.db.database import Database
from ivr_agent.db.models import AuditLogRow, CallbackRow, ComplaintRow
from ivr_agent.notify import Contacts, Delivery, Department, Directory, Notification
from ivr_agent.settings import load_settings

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SETTINGS = ChaseSettings(chase_after=timedelta(days=3), escalate_after=timedelta(hours=24))
SUPERVISOR = Actor("token:test", "ops")
DIRECTORY = Directory(
    departments={
        "billing": Department(
            "billing",
            "Billing 计费部",
            Contacts(emails=("billing@example.test",), webhook="http://hooks.test/billing"),
            Contacts(emails=("billing-head@example.test",)),
        )
    },
    quality=Contacts(emails=("quality@example.test",)),
)


class RecordingNotifier:
    """Keeps what it was asked to send; every target delivered except ``fail``."""

    def __init__(self, fail: frozenset[str] = frozenset()) -> None:
        self.sent: list[Notification] = []
        self.fail = fail

    async def send(self, notification: Notification) -> list[Delivery]:
        self.sent.append(notification)
        deliveries = []
        for contacts in notification.to:
            for address in contacts.emails:
                ok = address not in self.fail
                deliveries.append(Delivery("email", address, ok, None if ok else "refused"))
            if contacts.webhook:
                deliveries.append(Delivery("webhook", contacts.webhook, True))
        return deliveries


class Clock:
    def __init__(self, now: datetime) -> None:
        self.moment = now

    def __call__(self) -> datetime:
        return self.moment


def chaser(db: Database, clock: Clock, notifier: RecordingNotifier) -> Chaser:
    return Chaser(db, DIRECTORY, notifier, SETTINGS, zone=UTC, now=clock, every=3600)


async def assigned_complaint(db: Database, **changes: Any) -> str:
    new = NewComplaint(
        summary="账单多扣费",
        customer_number="13900139000",
        customer_name="王女士",
        department_id="billing",
        **changes,
    )
    return (await register(db, new, SUPERVISOR, now=T0)).complaint_id


async def kinds(db: Database, complaint_id: str) -> list[str]:
    complaint = await get_complaint(db, complaint_id)
    assert complaint is not None
    return [e.kind for e in complaint.timeline]


async def test_given_a_silent_department_then_it_is_chased_then_escalated_once_each(
    db: Database,
) -> None:
    complaint_id = await assigned_complaint(db)
    clock = Clock(T0 + timedelta(days=3) - timedelta(seconds=1))
    notifier = RecordingNotifier(fail=frozenset({"quality@example.test"}))
    runner = chaser(db, clock, notifier)
    await runner.round()
    assert notifier.sent == []
    assert runner.stats.open == 1
    assert runner.stats.overdue == 0

    clock.moment = T0 + timedelta(days=3, minutes=1)
    await runner.round()
    await runner.round()  # nothing more is due at the same time
    assert [n.kind for n in notifier.sent] == ["complaint_chase"]
    chase = notifier.sent[0]
    assert chase.to == (DIRECTORY.departments["billing"].contacts,)
    assert "账单多扣费" in chase.text
    assert "13900139000" in chase.text
    assert chase.data["complaint_id"] == complaint_id
    assert await kinds(db, complaint_id) == [
        "registered",
        "assigned",
        "chased",
        "notified",
        "notified",
    ]
    assert runner.stats.overdue == 1

    clock.moment = T0 + timedelta(days=4, minutes=1)
    await runner.round()
    await runner.round()
    assert [n.kind for n in notifier.sent] == ["complaint_chase", "complaint_escalation"]
    escalation = notifier.sent[1]
    assert escalation.to == (
        DIRECTORY.departments["billing"].management,
        DIRECTORY.quality,
    )
    complaint = await get_complaint(db, complaint_id)
    assert complaint is not None
    assert [e.kind for e in complaint.timeline][5:] == ["escalated", "notified", "notified"]
    delivered = [e.details for e in complaint.timeline if e.kind == "notified"]
    assert [(d["step"], d["target"], d["ok"]) for d in delivered] == [
        ("chase", "billing@example.test", True),
        ("chase", "http://hooks.test/billing", True),
        ("escalate", "billing-head@example.test", True),
        ("escalate", "quality@example.test", False),
    ]
    assert complaint.timeline[-1].note == "refused"
    assert complaint.row.chased_at == T0 + timedelta(days=3, minutes=1)
    assert complaint.row.escalated_at == T0 + timedelta(days=4, minutes=1)
    # Nothing more: one chase and one escalation per silence.
    clock.moment = T0 + timedelta(days=30)
    await runner.round()
    assert len(notifier.sent) == 2
    assert runner.stats.open_escalated == 1
    async with db.transaction("audit") as session:
        actions = list(
            await session.scalars(
                select(AuditLogRow.action)
                .where(AuditLogRow.object == complaint_id)
                .order_by(AuditLogRow.audit_id)
            )
        )
    assert actions == ["complaint.register", "complaint.chase", "complaint.escalate"]


async def test_given_feedback_then_the_chase_waits_three_days_from_it(db: Database) -> None:
    complaint_id = await assigned_complaint(db)
    feedback_at = T0 + timedelta(days=2)
    await transition(db, complaint_id, "feedback", SUPERVISOR, now=feedback_at, note="在查")
    clock = Clock(T0 + timedelta(days=4))
    notifier = RecordingNotifier()
    runner = chaser(db, clock, notifier)
    await runner.round()
    assert notifier.sent == []
    clock.moment = feedback_at + timedelta(days=3)
    await runner.round()
    assert [n.kind for n in notifier.sent] == ["complaint_chase"]


async def test_given_two_agents_racing_then_each_step_is_stored_and_sent_once(
    db: Database,
) -> None:
    ids = [await assigned_complaint(db) for _ in range(5)]
    clock = Clock(T0 + timedelta(days=3, hours=1))
    first, second = RecordingNotifier(), RecordingNotifier()
    await asyncio.gather(chaser(db, clock, first).round(), chaser(db, clock, second).round())
    sent = [n.data["complaint_id"] for n in first.sent + second.sent]
    assert sorted(sent) == sorted(ids)
    for complaint_id in ids:
        assert (await kinds(db, complaint_id)).count("chased") == 1


async def test_given_an_unknown_department_then_the_failure_is_on_the_timeline(
    db: Database,
) -> None:
    complaint_id = await assigned_complaint(db)
    async with db.transaction("rename") as session:
        await session.execute(
            update(ComplaintRow)
            .where(ComplaintRow.complaint_id == complaint_id)
            .values(department_id="gone")
        )
    notifier = RecordingNotifier()
    await chaser(db, Clock(T0 + timedelta(days=3)), notifier).round()
    assert notifier.sent == []
    complaint = await get_complaint(db, complaint_id)
    assert complaint is not None
    assert [e.kind for e in complaint.timeline][-2:] == ["chased", "notified"]
    assert complaint.timeline[-1].details["ok"] is False
    assert "directory" in complaint.timeline[-1].note


async def test_given_the_customers_answer_on_the_callback_then_the_complaint_follows_it(
    db: Database, tmp_path: Any
) -> None:
    config = callback_config(load_settings(_env_file=None, data_dir=tmp_path))
    complaint_id = await assigned_complaint(db)
    resolved = await transition(
        db, complaint_id, "resolve", SUPERVISOR, now=datetime.now(UTC), callbacks=config
    )
    first_callback = resolved.row.callback_id
    assert first_callback is not None
    clock = Clock(datetime.now(UTC))
    runner = chaser(db, clock, RecordingNotifier())
    await runner.round()  # no answer yet: nothing happens
    assert (await kinds(db, complaint_id))[-1] == "resolved"

    async def answer(callback_id: str, solved: bool) -> None:
        async with db.transaction("answer") as session:
            await session.execute(
                update(CallbackRow)
                .where(CallbackRow.callback_id == callback_id)
                .values(problem_solved=solved, status="completed")
            )

    await answer(first_callback, False)
    await runner.round()
    await runner.round()
    complaint = await get_complaint(db, complaint_id)
    assert complaint is not None
    assert complaint.row.state == "reopened"
    reopened = complaint.timeline[-1]
    assert (reopened.kind, reopened.actor) == ("reopened", "callback")
    assert reopened.details["callback_id"] == first_callback
    assert runner.stats.reopened == 1
    # Reopened: the department is being waited for again, from now.
    assert complaint.row.silent_since == clock.moment

    again = await transition(
        db, complaint_id, "resolve", SUPERVISOR, now=datetime.now(UTC), callbacks=config
    )
    second_callback = again.row.callback_id
    assert second_callback not in (None, first_callback)
    await runner.round()
    assert (await kinds(db, complaint_id))[-1] == "resolved"  # the old "no" is not reused
    assert second_callback is not None
    await answer(second_callback, True)
    await runner.round()
    complaint = await get_complaint(db, complaint_id)
    assert complaint is not None
    assert (complaint.row.state, complaint.timeline[-1].actor) == ("confirmed", "callback")
    assert runner.stats.confirmed == 1


async def test_given_an_agent_died_before_sending_then_a_later_round_sends_it_once(
    db: Database,
) -> None:
    complaint_id = await assigned_complaint(db)
    clock = Clock(T0 + timedelta(days=3))
    # The step is stored, then the agent dies before telling anyone.
    assert await chaser(db, clock, RecordingNotifier()).take_step(complaint_id) is not None
    first, second = RecordingNotifier(), RecordingNotifier()
    clock.moment += timedelta(minutes=5)  # maybe still sending: left alone
    await asyncio.gather(chaser(db, clock, first).round(), chaser(db, clock, second).round())
    assert first.sent + second.sent == []
    clock.moment += timedelta(minutes=6)
    await asyncio.gather(chaser(db, clock, first).round(), chaser(db, clock, second).round())
    assert [n.kind for n in first.sent + second.sent] == ["complaint_chase"]
    complaint = await get_complaint(db, complaint_id)
    assert complaint is not None
    notified = [e.details for e in complaint.timeline if e.kind == "notified"]
    assert [(d["target"], d.get("resent")) for d in notified] == [
        ("billing@example.test", True),
        ("http://hooks.test/billing", True),
    ]
    await chaser(db, clock, first).round()
    assert len(first.sent + second.sent) == 1


async def test_given_a_service_callback_answered_not_solved_then_one_complaint_opens(
    db: Database, tmp_path: Any
) -> None:
    settings = load_settings(_env_file=None, data_dir=tmp_path)
    now = datetime.now(UTC)
    config = callback_config(settings)
    requests = [
        ("13900139011", "张先生", False),  # not solved: a complaint
        ("13900139012", "李女士", True),  # solved: none
        ("13900139013", None, None),  # not answered yet: none
    ]
    ids = {}
    for number, name, solved in requests:
        created = await create_callback(
            db, CallbackRequest(number, name, "service_completed", now), config, now
        )
        ids[number] = created.callback_id
        async with db.transaction("answer") as session:
            await session.execute(
                update(CallbackRow)
                .where(CallbackRow.callback_id == created.callback_id)
                .values(problem_solved=solved)
            )
    clock = Clock(now)
    first, second = chaser(db, clock, RecordingNotifier()), chaser(db, clock, RecordingNotifier())
    # Two agents' rounds at once, then again: one complaint for the one "not solved".
    await asyncio.gather(first.round(), second.round())
    await first.round()
    assert first.stats.opened_by_callbacks + second.stats.opened_by_callbacks == 1
    async with db.transaction("read") as session:
        (row,) = await session.scalars(select(ComplaintRow))
    assert (row.source_callback_id, row.state) == (ids["13900139011"], "registered")
    assert (row.customer_number, row.customer_name) == ("13900139011", "张先生")
    assert "回访未解决" in row.summary
    complaint = await get_complaint(db, str(row.complaint_id))
    assert complaint is not None
    (registered,) = complaint.timeline
    assert (registered.kind, registered.actor) == ("registered", "callback")
    assert registered.details == {"source_callback_id": ids["13900139011"]}
