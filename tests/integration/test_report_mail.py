"""Report mail (S10): a period closing while the agent runs produces its reports and mails
them, attached, to IVR_AGENT_REPORTS_MAIL_TO — received by a real local SMTP server."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from openpyxl import load_workbook

from ivr_agent.app import build_app
from ivr_agent.db.database import Database
from ivr_agent.reports.feature import PRODUCER_CLOCK, ProducerClock
from ivr_agent.settings import load_settings
from tests.integration.test_reports import CHINESE_OPERATOR, AppClient, ScaledClock, _stored
from tests.support.outcomes import SHANGHAI
from tests.support.smtp import local_smtp_server

pytestmark = pytest.mark.postgres

Client = TestClient[web.Request, web.Application]


async def test_given_report_mail_when_a_day_closes_then_its_reports_arrive_attached(
    db: Database, aiohttp_client: AppClient, tmp_path: Path
) -> None:
    await _stored(db)
    async with local_smtp_server() as mail:
        settings = load_settings(
            data_dir=tmp_path / "var",
            reports_enabled=True,
            reports_formats="xlsx,csv",
            reports_catch_up_days=1,
            smtp_host=mail.host,
            smtp_port=mail.port,
            smtp_tls="none",
            smtp_from="ivr-agent@example.com",
            reports_mail_to="boss@example.com,qa@example.com",
        )
        app = build_app(settings, database=db)
        clock = ScaledClock(datetime(2026, 11, 23, 23, 59, 58, tzinfo=SHANGHAI))
        app[PRODUCER_CLOCK] = ProducerClock(clock.now, poll_seconds=0.05)
        await aiohttp_client(app)
        await asyncio.sleep(0.5)
        assert mail.received == []  # the day is still open: nothing written, nothing mailed

        clock.moment += timedelta(seconds=3)  # the 23rd has closed
        received = await mail.wait_for(2, timeout=30)
        await asyncio.sleep(0.3)  # more rounds: nothing mailed twice
        assert len(mail.received) == 2

    assert sorted(r.recipients[0] for r in received) == ["boss@example.com", "qa@example.com"]
    message = received[0].message
    assert message["Subject"] == "ivr-agent 日报 2026-11-23"
    body = message.get_body(("plain",))
    assert body is not None
    assert "已生成" in body.get_content()
    attachments = {a.get_filename(): a for a in message.iter_attachments()}
    assert sorted(attachments) == ["day-2026-11-23.csv", "day-2026-11-23.xlsx"]
    reports = settings.data_dir / "reports"
    for name, attachment in attachments.items():
        assert attachment.get_payload(decode=True) == (reports / name).read_bytes()
    xlsx = attachments["day-2026-11-23.xlsx"].get_payload(decode=True)
    assert isinstance(xlsx, bytes)
    hotline = load_workbook(io.BytesIO(xlsx), read_only=True)["hotline"]
    offered = next(r for r in hotline.iter_rows(values_only=True) if r[0] == "offered")
    assert offered[2] == 7
    raw_csv = attachments["day-2026-11-23.csv"].get_payload(decode=True)
    assert isinstance(raw_csv, bytes)
    assert CHINESE_OPERATOR in [
        cell for row in csv.reader(io.StringIO(raw_csv.decode("utf-8-sig"))) for cell in row
    ]
