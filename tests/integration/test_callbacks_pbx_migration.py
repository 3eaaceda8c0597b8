"""Migration 0016 gives every stored callback its PBX: its source call's, else its latest
attempt's, else the migrating agent's ``IVR_AGENT_PBX_ID``."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from ivr_agent.db.database import connect
from ivr_agent.db.migrate import upgrade_to, upgrade_to_head

pytestmark = pytest.mark.postgres

CALL = "11111111-1111-1111-1111-111111111111"
FROM_CALL, FROM_ATTEMPT, ORPHAN = (f"{n}{n}{n}{n}0000-0000-0000-0000-000000000000" for n in "abc")

_CALLBACK = (
    "INSERT INTO callbacks (callback_id, customer_number, reason, reference_time, due_at, "
    "deadline, status, next_attempt_at, source_call_id) VALUES "
    "(:id, '13800138000', :reason, now(), now(), now() + interval '3 hours', 'pending', now(), "
    ":call)"
)


async def test_given_callbacks_before_0016_then_each_gets_its_pbx(
    database_url: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    await upgrade_to(database_url, "0015")
    async with connect(database_url) as db, db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO calls (call_id, pbx_id, linkedid, direction, offered_at, ended_at, "
                "abandoned, short_abandon, hold_over_limit, silence, duration_seconds, "
                "over_max_duration, complete) VALUES (:call, 'pbx-call', '1.1', 'inbound', "
                "now(), now(), true, false, false, 'none', 20, false, true)"
            ),
            {"call": CALL},
        )
        for callback_id, reason, call in (
            (FROM_CALL, "abandoned_call", CALL),
            (FROM_ATTEMPT, "manual", None),
            (ORPHAN, "manual", None),
        ):
            await session.execute(
                text(_CALLBACK), {"id": callback_id, "reason": reason, "call": call}
            )
        for attempt_no, pbx_id in ((1, "pbx-old"), (2, "pbx-dialled")):
            await session.execute(
                text(
                    "INSERT INTO callback_attempts (attempt_id, callback_id, attempt_no, "
                    "channel_id, state, started_at, pbx_id) VALUES (gen_random_uuid(), :id, "
                    ":no, :channel, 'failed', now(), :pbx)"
                ),
                {
                    "id": FROM_ATTEMPT,
                    "no": attempt_no,
                    "channel": f"ch-{attempt_no}",
                    "pbx": pbx_id,
                },
            )
    monkeypatch.setenv("IVR_AGENT_PBX_ID", "pbx-home")

    await upgrade_to_head(database_url)

    async with connect(database_url) as db, db.transaction() as session:
        rows = await session.execute(text("SELECT callback_id::text, pbx_id FROM callbacks"))
        found = {str(callback_id): str(pbx_id) for callback_id, pbx_id in rows}
    assert found == {FROM_CALL: "pbx-call", FROM_ATTEMPT: "pbx-dialled", ORPHAN: "pbx-home"}
