"""S8 against the real sandbox: two real calls are answered and end; the operator of the one
that ends last records it at once (in time), the other's operator only after the wrap-up
time (a few seconds here, ``IVR_AGENT_WRAP_UP_MINUTES`` scaled down) — a ``late_wrap_up``,
in the breaches list and the summary's figures."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from ivr_agent.db.database import Database
from ivr_agent.db.tokens import create_token
from ivr_agent.settings import Settings
from ivr_agent.sim import runner
from ivr_agent.sim import scenario as scenarios
from tests.integration.sandbox_support import progress, running_sandbox
from tests.support.agent import serving_agent, stored_outcome

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]

#: The wrap-up time of this test: 9 s instead of 10 min.
WRAP_UP_MINUTES = 0.15
RECORD = {"type": "complaint", "summary": "账单多扣费", "status": "open"}


async def _post(
    http: aiohttp.ClientSession, url: str, token: str, body: Any
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.post(url, json=body, headers=headers) as response:
        return response.status, await response.json()


async def test_given_two_answered_calls_then_the_late_record_is_a_late_wrap_up(
    agent_settings: Settings, db: Database
) -> None:
    settings = agent_settings.model_copy(update={"wrap_up_minutes": WRAP_UP_MINUTES})
    base = scenarios.load("answered_1_ring").calls[0]
    # The late one ends first (short talk); the timely one ends last and is recorded at once.
    late = replace(base, id="wrap_up_late", caller="13800138901", operator="003", talk=5.0)
    timely = replace(base, id="wrap_up_timely", caller="13800138902", operator="004", talk=12.0)
    plan = scenarios.Scenario(name="wrap_up_live", calls=(late, timely))
    config = runner.RunnerConfig.from_env_file(running_sandbox().credentials_file)
    ops = await create_token(db, "ops")
    async with serving_agent(settings, db) as (_app, base_url), aiohttp.ClientSession() as http:
        truths = await runner.run(plan, config, progress)
        assert all(t["completed"] for t in truths), [t["errors"] for t in truths]
        timely_call = await stored_outcome(db, settings.pbx_id, timely.caller)
        operator = await create_token(db, "operator", operator_id=timely_call["operator_id"])
        url = f"{base_url}/api/calls/{timely_call['call_id']}/record"
        status, body = await _post(http, url, operator, RECORD)
        assert status == 201, body
        assert body["wrap_up"]["late"] is False
        assert body["record"]["contact_number"] == timely.caller

        late_call = await stored_outcome(db, settings.pbx_id, late.caller)
        due = datetime.fromisoformat(late_call["ended_at"]) + timedelta(minutes=WRAP_UP_MINUTES)
        await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 0.5)
        operator = await create_token(db, "operator", operator_id=late_call["operator_id"])
        url = f"{base_url}/api/calls/{late_call['call_id']}/record"
        status, body = await _post(http, url, operator, RECORD)
        assert status == 201, body
        assert body["wrap_up"]["late"] is True

        start = datetime.fromisoformat(truths[0]["offered_at"]) - timedelta(minutes=1)
        window = f"from={quote(start.isoformat())}"
        headers = {"Authorization": f"Bearer {ops}"}
        async with http.get(f"{base_url}/api/metrics/summary?{window}", headers=headers) as r:
            figures = (await r.json())["figures"]
        assert figures["answered"]["value"] == 2
        assert figures["late_wrap_ups"]["value"] == 1
        assert figures["late_wrap_up_rate"]["formula"] == "late_wrap_ups / answered = 1 / 2"
        async with http.get(f"{base_url}/api/metrics/breaches?{window}", headers=headers) as r:
            breaches = (await r.json())["breaches"]
        late_ones = [b["call_id"] for b in breaches if "late_wrap_up" in b["kinds"]]
        assert late_ones == [late_call["call_id"]]
