"""Issue 15 end to end against the real sandbox (S7, S8), time-scaled.

Two real calls are answered and end. The operator of one wraps it up at once as a
complaint (a complaint opens by itself, for the caller's number); the other's operator only
after the wrap-up time: a ``late_wrap_up``, in the breaches and the summary's figures (with
the complaint rate). The supervisor assigns the complaint to the
network department of a departments file; the department stays silent, so the agent chases
it, then escalates to its management and to quality management — each an e-mail received by
a real local SMTP server, with the complaint's details. Resolving it schedules the
``complaint_resolved`` callback; the agent dials it, the simulated customer says the problem
is NOT solved, and the complaint runner reopens the complaint from that answer (actor
``callback``), as stored by the dialer, not by the test.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from ivr_agent.callbacks.queries import get_callback
from ivr_agent.complaints.runner import Chaser
from ivr_agent.complaints.store import get_complaint
from ivr_agent.core.complaints import ChaseSettings
from ivr_agent.db.database import Database
from ivr_agent.db.tokens import create_token
from ivr_agent.notify import Contacts, Department, Directory
from ivr_agent.sim import runner
from ivr_agent.sim import scenario as scenarios
from tests.integration.sandbox_support import progress, running_sandbox
from tests.integration.test_callbacks_live import (
    SURVEY_NUMBER,
    _settings_for,
    customers,
    dial_while_customers_wait,
    driven_dialer,
)
from tests.support.agent import serving_agent, stored_outcome
from tests.support.smtp import ReceivedMail, local_smtp_server

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]

#: Time-scaled S7/S8: wrap up within 9 s (not 10 min), chase after 6 s of the department's
#: silence (not 3 days), escalate 5 s after the chase (not 24 h), look every second.
SCALED: dict[str, Any] = {
    "wrap_up_minutes": 0.15,
    "complaint_chase_days": 6 / 86400,
    "complaint_escalation_hours": 5 / 3600,
    "complaint_check_seconds": 1.0,
    "callback_complaint_min_hours": 0.0,  # the callback may be placed at once
}
DEPARTMENTS = """\
[quality]
emails = ["qm@example.com"]

[[department]]
id = "network"
name = "网络部"
emails = ["network@example.com"]
management = { emails = ["network-head@example.com"] }
"""
SUMMARY = "宽带三天没修好,客户要求赔偿"


async def _send(
    http: aiohttp.ClientSession, method: str, url: str, token: str, body: Any = None
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.request(method, url, json=body, headers=headers) as response:
        return response.status, await response.json()


def _addressed(mail: list[ReceivedMail]) -> dict[str, ReceivedMail]:
    return {to: m for m in mail for to in m.recipients}


async def test_a_complaint_from_its_wrap_up_to_its_chase_escalation_callback_and_reopening(
    db: Database, tmp_path: Path
) -> None:
    box = running_sandbox()
    departments = tmp_path / "departments.toml"
    departments.write_text(DEPARTMENTS, encoding="utf-8")
    base = scenarios.load("answered_1_ring").calls[0]
    # The late one ends first (short talk); the complaint's caller is the number the
    # callback's simulated customer answers on.
    late = replace(base, id="complaint_late", caller="13800138911", operator="003", talk=5.0)
    complaint_call = replace(
        base, id="complaint_call", caller=SURVEY_NUMBER, operator="004", talk=10.0
    )
    plan = scenarios.Scenario(name="complaint_live", calls=(late, complaint_call))
    config = runner.RunnerConfig.from_env_file(box.credentials_file)
    ops = await create_token(db, "ops")

    async with local_smtp_server() as mail:
        settings = _settings_for(
            box,
            tmp_path / "var",
            departments_file=departments,
            smtp_host=mail.host,
            smtp_port=mail.port,
            smtp_tls="none",
            smtp_from="ivr-agent@example.com",
            **SCALED,
        )
        async with (
            serving_agent(settings, db) as (_app, base_url),
            aiohttp.ClientSession() as http,
        ):
            truths = await runner.run(plan, config, progress)
            assert all(t["completed"] for t in truths), [t["errors"] for t in truths]

            # --- S8: the wrap-up, in time as a complaint, and late -----------------------
            call = await stored_outcome(db, settings.pbx_id, complaint_call.caller)
            operator = await create_token(db, "operator", operator_id=call["operator_id"])
            record = {"type": "complaint", "summary": SUMMARY, "status": "open"}
            url = f"{base_url}/api/calls/{call['call_id']}/record"
            status, body = await _send(http, "POST", url, operator, record)
            assert status == 201, body
            assert body["wrap_up"]["late"] is False
            late_call = await stored_outcome(db, settings.pbx_id, late.caller)
            due = datetime.fromisoformat(late_call["ended_at"]) + timedelta(minutes=9 / 60)
            await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 0.5)
            late_operator = await create_token(db, "operator", operator_id=late_call["operator_id"])
            url = f"{base_url}/api/calls/{late_call['call_id']}/record"
            status, body = await _send(
                http, "POST", url, late_operator, {**record, "type": "consultation"}
            )
            assert status == 201, body
            assert body["wrap_up"]["late"] is True
            start = datetime.fromisoformat(truths[0]["offered_at"]) - timedelta(minutes=1)
            window = f"from={quote(start.isoformat())}"
            status, summary = await _send(
                http, "GET", f"{base_url}/api/metrics/summary?{window}", ops
            )
            figures = summary["figures"]
            assert figures["answered"]["value"] == 2
            assert figures["late_wrap_ups"]["value"] == 1
            assert figures["late_wrap_up_rate"]["formula"] == "late_wrap_ups / answered = 1 / 2"
            assert figures["complaint_rate"]["value"] == 0.5
            assert "= 1 / 2 (target < 3 %" in figures["complaint_rate"]["formula"]
            status, breaches = await _send(
                http, "GET", f"{base_url}/api/metrics/breaches?{window}", ops
            )
            late_ones = [b["call_id"] for b in breaches["breaches"] if "late_wrap_up" in b["kinds"]]
            assert late_ones == [late_call["call_id"]]

            # --- S7: the complaint opened by itself; assigned; chased; escalated ----------
            status, listed = await _send(http, "GET", f"{base_url}/api/complaints", ops)
            assert status == 200, listed
            (complaint,) = listed["complaints"]
            complaint_id = complaint["complaint_id"]
            assert (complaint["call_id"], complaint["summary"]) == (call["call_id"], SUMMARY)
            assert complaint["customer_number"] == SURVEY_NUMBER
            events = f"{base_url}/api/complaints/{complaint_id}/events"
            assign = {"transition": "assign", "department_id": "network", "note": "请网络部处理"}
            status, body = await _send(http, "POST", events, ops, assign)
            assert status == 201, body
            assigned_at = datetime.now(UTC)

            chase = (await mail.wait_for(1, timeout=30))[0]
            chased_after = (datetime.now(UTC) - assigned_at).total_seconds()
            assert chase.recipients == ["network@example.com"]
            assert chase.message["Subject"].startswith("催办")
            assert complaint_id in chase.message.get_content()
            assert SUMMARY in chase.message.get_content()
            escalation = _addressed(await mail.wait_for(3, timeout=30))
            assert set(escalation) == {
                "network@example.com",
                "network-head@example.com",
                "qm@example.com",
            }
            for to in ("network-head@example.com", "qm@example.com"):
                assert escalation[to].message["Subject"].startswith("上报")
                assert SUMMARY in escalation[to].message.get_content()
            progress(f"chased {chased_after:.1f} s after the assignment (due after 6 s)")
            assert chased_after >= 6.0

            status, shown = await _send(
                http, "GET", f"{base_url}/api/complaints/{complaint_id}", ops
            )
            kinds = [e["kind"] for e in shown["timeline"]]
            assert kinds[:4] == ["registered", "assigned", "chased", "notified"], kinds
            assert "escalated" in kinds

            # --- resolving it schedules the complaint_resolved callback --------------------
            resolve = {"transition": "resolve", "note": "已派人修复"}
            status, resolved = await _send(http, "POST", events, ops, resolve)
            assert status == 201, resolved
            callback_id = resolved["callback_id"]
            assert callback_id is not None

    # --- the agent dials it; the customer consents (1), NOT solved (2), five scores ----------
    async with driven_dialer(settings, db) as dialer:
        survey = customers("callback_survey", digits=["1", "2", "5", "4", "5", "5", "4"])
        phones = await dial_while_customers_wait(dialer, survey)
    (truth,) = phones.results
    assert truth["completed"], truth["errors"]
    stored = await get_callback(db, callback_id, UTC)
    assert stored is not None
    assert (stored["reason"], stored["problem_solved"]) == ("complaint_resolved", False)

    # --- the runner reopens the complaint from the stored answer ----------------------------
    directory = Directory(
        departments={"network": Department("network", "网络部", Contacts(), Contacts())}
    )
    chaser = Chaser(
        db,
        directory,
        _Silent(),
        ChaseSettings(chase_after=timedelta(days=3)),
        zone=UTC,
        now=lambda: datetime.now(UTC),
    )
    await chaser.round()
    reopened = await get_complaint(db, complaint_id)
    assert reopened is not None
    assert reopened.row.state == "reopened"
    last = reopened.timeline[-1]
    assert (last.kind, last.actor) == ("reopened", "callback")
    assert last.details["callback_id"] == callback_id


class _Silent:
    """The reopening round sends nothing: the department was told already."""

    async def send(self, notification: object) -> list[object]:
        raise AssertionError(f"nothing is sent while reopening: {notification}")
