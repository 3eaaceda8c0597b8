"""A resolved complaint's callback against the real sandbox (S7): resolving schedules the
``complaint_resolved`` callback, the agent dials it, the simulated customer answers the
survey saying the problem is NOT solved — and the complaint runner reopens the complaint
from that answer (actor ``callback``), as stored by the dialer, not by the test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr_agent.callbacks import callback_config
from ivr_agent.callbacks.queries import get_callback
from ivr_agent.complaints.model import Actor
from ivr_agent.complaints.runner import Chaser
from ivr_agent.complaints.store import NewComplaint, get_complaint, register, transition
from ivr_agent.core.complaints import ChaseSettings
from ivr_agent.db.database import Database
from ivr_agent.notify import Directory
from tests.integration.sandbox_support import running_sandbox
from tests.integration.test_callbacks_live import (
    SURVEY_NUMBER,
    _settings_for,
    customers,
    dial_while_customers_wait,
    driven_dialer,
)

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]


class NobodyToTell:
    async def send(self, notification: object) -> list[object]:
        raise AssertionError("nothing is chased in this test")


async def test_given_a_resolved_complaint_when_the_customer_says_not_solved_then_it_reopens(
    db: Database, tmp_path: Path
) -> None:
    # The callback may be placed at once (no 24 h wait) in a window open all day.
    settings = _settings_for(running_sandbox(), tmp_path / "var", callback_complaint_min_hours=0.0)
    supervisor = Actor("token:test", "ops")
    new = NewComplaint(
        summary="宽带三天没修好", customer_number=SURVEY_NUMBER, department_id="network"
    )
    complaint_id = (await register(db, new, supervisor, now=datetime.now(UTC))).complaint_id
    resolved = await transition(
        db,
        complaint_id,
        "resolve",
        supervisor,
        now=datetime.now(UTC),
        note="已派人修复",
        callbacks=callback_config(settings),
    )
    callback_id = resolved.row.callback_id
    assert callback_id is not None
    async with driven_dialer(settings, db) as dialer:
        # Consents (1), NOT solved (2), then the five scores.
        plan = customers("callback_survey", digits=["1", "2", "5", "4", "5", "5", "4"])
        phones = await dial_while_customers_wait(dialer, plan)
    (truth,) = phones.results
    assert truth["completed"], truth["errors"]
    stored = await get_callback(db, callback_id, UTC)
    assert stored is not None
    # The answer is kept whatever became of the rest of the call (S5: a "no" needs acting on).
    assert (stored["reason"], stored["problem_solved"]) == ("complaint_resolved", False)
    runner = Chaser(
        db,
        Directory(),
        NobodyToTell(),  # type: ignore[arg-type]
        ChaseSettings(chase_after=timedelta(days=3)),
        zone=UTC,
        now=lambda: datetime.now(UTC),
    )
    await runner.round()
    complaint = await get_complaint(db, complaint_id)
    assert complaint is not None
    assert complaint.row.state == "reopened"
    reopened = complaint.timeline[-1]
    assert (reopened.kind, reopened.actor) == ("reopened", "callback")
    assert reopened.details["callback_id"] == callback_id
    assert [e.kind for e in complaint.timeline] == [
        "registered",
        "assigned",
        "resolved",
        "reopened",
    ]
