"""``GET /metrics``: Prometheus text with finished-call series and live state."""

from __future__ import annotations

import asyncio
import platform
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from ivr_agent import __version__
from ivr_agent.app import INGEST, build_app
from ivr_agent.callbacks.jobs import CallbackRequest, create_callback
from ivr_agent.core.callbacks import CallbackConfig
from ivr_agent.core.tracker import FinishedCall
from ivr_agent.db.database import Database
from ivr_agent.db.tokens import create_token
from ivr_agent.metrics.prometheus import METRICS
from ivr_agent.settings import load_settings
from tests.support.outcomes import sample_outcome

pytestmark = pytest.mark.postgres

Client = TestClient[web.Request, web.Application]
AppClient = Callable[[web.Application], Awaitable[Client]]

EXPECTED_FAMILIES = {
    "ivr_agent_calls_finished",
    "ivr_agent_calls_answered",
    "ivr_agent_calls_abandoned",
    "ivr_agent_call_ring_seconds",
    "ivr_agent_call_hold_seconds",
    "ivr_agent_call_talk_seconds",
    "ivr_agent_calls_in_progress",
    "ivr_agent_calls_on_hold",
    "ivr_agent_connection_up",
    "ivr_agent_connection_state",
    "ivr_agent_outbox_pending",
    "ivr_agent_outbox_written",
    "ivr_agent_ingest_malformed_events",
}


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def _scrape(client: Client, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with client.get("/metrics", headers=headers) as response:
        return response.status, await response.text()


async def test_given_a_finished_call_then_metrics_parse_with_the_expected_families(
    db: Database, aiohttp_client: AppClient, tmp_path: Any
) -> None:
    app = build_app(load_settings(data_dir=tmp_path), database=db)
    client = await aiohttp_client(app)
    # The call is handed over exactly as the AMI path hands it (Ingest → finished).
    app[INGEST].on_finished(FinishedCall(sample_outcome("9.1"), ()))
    status, text = await _scrape(client)
    assert status == 200
    families = {f.name for f in text_string_to_metric_families(text)}
    assert families >= EXPECTED_FAMILIES
    samples = _samples(text)
    expected = {
        ("ivr_agent_calls_finished_total", ()): 1.0,
        ("ivr_agent_calls_answered_total", (("within_standard", "true"),)): 1.0,
        ("ivr_agent_calls_answered_total", (("within_standard", "false"),)): 0.0,
        ("ivr_agent_call_ring_seconds_count", ()): 1.0,
        ("ivr_agent_call_ring_seconds_sum", ()): 11.75,
        ("ivr_agent_call_hold_seconds_count", ()): 2.0,  # two holds: 12.5 s and 3 s
        ("ivr_agent_call_hold_seconds_sum", ()): 15.5,
        ("ivr_agent_calls_in_progress", ()): 0.0,
        ("ivr_agent_connection_up", (("component", "database"),)): 1.0,
        ("ivr_agent_connection_state", (("component", "ami"), ("state", "disabled"))): 1.0,
        ("ivr_agent_outbox_spooled_total", ()): 1.0,
        # The sample call held 12.5 s (over 10 s): one breach, every other kind at 0.
        ("ivr_agent_call_breaches_total", (("breach", "long_hold"),)): 1.0,
        ("ivr_agent_call_breaches_total", (("breach", "operator_hung_up_first"),)): 0.0,
    }
    assert {key: samples.get(key) for key in expected} == expected


async def test_given_two_apps_then_their_registries_are_separate(
    db: Database, aiohttp_client: AppClient, tmp_path: Any
) -> None:
    first = build_app(load_settings(data_dir=tmp_path / "a"), database=db)
    second = build_app(load_settings(data_dir=tmp_path / "b"), database=db)
    first[METRICS].observe_finished(sample_outcome("9.2"))
    assert first[METRICS].registry is not second[METRICS].registry
    assert _samples(second[METRICS].render().decode())[("ivr_agent_calls_finished_total", ())] == 0


async def test_given_metrics_not_public_then_a_token_of_role_ops_is_needed(
    db: Database, aiohttp_client: AppClient, tmp_path: Any
) -> None:
    app = build_app(load_settings(data_dir=tmp_path, metrics_public=False), database=db)
    client = await aiohttp_client(app)
    status, _ = await _scrape(client)
    assert status == 401
    status, _ = await _scrape(client, await create_token(db, "qa"))
    assert status == 403
    status, text = await _scrape(client, await create_token(db, "ops"))
    assert status == 200
    assert "ivr_agent_calls_finished_total" in text


async def test_given_an_agent_then_build_info_process_series_and_callback_gauges_are_exported(
    db: Database, aiohttp_client: AppClient, tmp_path: Any
) -> None:
    # One callback past its deadline (Monday 2026-11-23: a manual callback's deadline is
    # that day), one that is not yet due.
    config = CallbackConfig()
    monday = datetime(2026, 11, 23, 10, 40, tzinfo=config.zone)
    await create_callback(
        db, CallbackRequest("13800138000", "张三", "manual", monday), config, monday
    )
    later = datetime.now(config.zone) + timedelta(days=1)
    await create_callback(
        db, CallbackRequest("13800138001", "李四", "manual", later), config, later
    )
    app = build_app(load_settings(data_dir=tmp_path), database=db)
    client = await aiohttp_client(app)
    # The callbacks are counted by a task the app starts: its first count comes at once.
    for _ in range(50):
        status, text = await _scrape(client)
        assert status == 200
        samples = _samples(text)
        if samples[("ivr_agent_callbacks_open", ())]:
            break
        await asyncio.sleep(0.1)
    info = [key for key in samples if key[0] == "ivr_agent_build_info"]
    assert len(info) == 1
    labels = dict(info[0][1])
    assert labels["version"] == __version__
    assert labels["python"] == platform.python_version()
    assert samples[("process_resident_memory_bytes", ())] > 0
    assert ("process_start_time_seconds", ()) in samples
    assert any(name == "python_info" for name, _ in samples)
    assert samples[("ivr_agent_callbacks_open", ())] == 2.0
    assert samples[("ivr_agent_callbacks_overdue", ())] == 1.0


async def test_metrics_come_from_the_librarys_handler_with_negotiation_and_compression(
    db: Database, aiohttp_client: AppClient, tmp_path: Any
) -> None:
    client = await aiohttp_client(build_app(load_settings(data_dir=tmp_path), database=db))
    headers = {"Accept": "application/openmetrics-text; version=1.0.0", "Accept-Encoding": "gzip"}
    async with client.get("/metrics", headers=headers) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        assert response.headers.get("Content-Encoding") == "gzip"
        text = await response.text()  # aiohttp's client decompresses
    assert text.rstrip().endswith("# EOF")
    assert "ivr_agent_calls_finished_total" in text
