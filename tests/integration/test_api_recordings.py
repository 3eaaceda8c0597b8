"""GET /api/recordings/{id}/audio against a real PostgreSQL and real files: roles, HTTP Range,
paths that try to leave the recordings directory, and one audit row per play."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import text

from ivr_agent.app import build_app
from ivr_agent.db.database import Database
from ivr_agent.db.tokens import create_token
from ivr_agent.settings import load_settings
from tests.integration.qa_support import StoredCall, raw_get, stored_call

pytestmark = pytest.mark.postgres

SECRET = b"TOP-SECRET-NOT-A-RECORDING"


class Server:
    """The whole app on a real port (raw requests need a socket, not a test client)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    async def get(self, target: str, token: str | None, **headers: str) -> Any:
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return await raw_get(self.host, self.port, target, headers)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
async def server(db: Database, data_dir: Path) -> AsyncIterator[Server]:
    settings = load_settings(_env_file=None, data_dir=data_dir)
    runner = web.AppRunner(build_app(settings, database=db), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield Server(host, port)
    finally:
        await runner.cleanup()


@pytest.fixture
async def call(db: Database, data_dir: Path) -> StoredCall:
    stored = await stored_call(db, data_dir)
    # A file outside the recordings directory that an escaping path would reach.
    await asyncio.to_thread((data_dir / "secret.txt").write_bytes, SECRET)
    return stored


@pytest.fixture
async def qa(db: Database) -> str:
    return await create_token(db, "qa", "reviewer")


async def _plays(db: Database) -> list[dict[str, Any]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT actor, action, object, details FROM audit_log "
                "WHERE action = 'recording.play' ORDER BY audit_id"
            )
        )
        return [dict(r._mapping) for r in rows]


def _audio(call: StoredCall) -> str:
    return f"/api/recordings/{call.recording_id}/audio"


async def test_given_roles_then_no_token_401_ops_403_qa_and_admin_hear_it(
    server: Server, call: StoredCall, db: Database, qa: str
) -> None:
    ops, admin = await create_token(db, "ops"), await create_token(db, "admin")
    assert (await server.get(_audio(call), None)).status == 401
    assert (await server.get(_audio(call), "ivr_not-a-token")).status == 401
    refused = await server.get(_audio(call), ops)
    assert refused.status == 403
    assert b"RIFF" not in refused.body
    for token in (qa, admin):
        heard = await server.get(_audio(call), token)
        assert heard.status == 200
        assert heard.body == call.wav
        assert heard.headers["content-type"] == "audio/wav"
        assert heard.headers["cache-control"] == "no-store"
        assert heard.headers["accept-ranges"] == "bytes"
        assert heard.headers["content-length"] == str(len(call.wav))
    assert len(await _plays(db)) == 2


async def test_given_ranges_then_206_with_content_range_or_416_with_the_size(
    server: Server, call: StoredCall, qa: str
) -> None:
    size = len(call.wav)
    whole = await server.get(_audio(call), qa, Range="bytes=0-")
    assert whole.status == 206
    assert whole.headers["content-range"] == f"bytes 0-{size - 1}/{size}"
    assert whole.body == call.wav
    middle = await server.get(_audio(call), qa, Range="bytes=100-199")
    assert middle.status == 206
    assert middle.headers["content-range"] == f"bytes 100-199/{size}"
    assert middle.headers["content-length"] == "100"
    assert middle.body == call.wav[100:200]
    tail = await server.get(_audio(call), qa, Range="bytes=-44")
    assert (tail.status, tail.body) == (206, call.wav[-44:])
    clamped = await server.get(_audio(call), qa, Range=f"bytes={size - 10}-{size + 5000}")
    assert (clamped.status, clamped.body) == (206, call.wav[-10:])
    for bad in ("bytes=100-50", f"bytes={size}-", f"bytes={size + 1000}-{size + 2000}", "pages=1"):
        refused = await server.get(_audio(call), qa, Range=bad)
        assert refused.status == 416, bad
        assert refused.headers["content-range"] == f"bytes */{size}"
        assert b"RIFF" not in refused.body


async def test_given_plays_then_each_leaves_exactly_one_audit_row_and_refusals_none(
    server: Server, call: StoredCall, db: Database, qa: str
) -> None:
    await server.get(_audio(call), qa)
    await server.get(_audio(call), qa, Range="bytes=100-199")
    await server.get(_audio(call), qa, Range="bytes=100-50")  # 416: nothing was played
    await server.get(_audio(call), None)  # 401
    plays = await _plays(db)
    assert [p["details"]["range"] for p in plays] == [f"0-{len(call.wav) - 1}", "100-199"]
    async with db.engine.connect() as conn:
        token_id = (
            await conn.execute(text("SELECT token_id::text FROM api_tokens WHERE role = 'qa'"))
        ).scalar_one()
    for play in plays:
        assert play["actor"] == f"token:{token_id}"
        assert play["object"] == call.recording_id
        assert play["details"]["role"] == "qa"
        assert play["details"]["call_id"] == call.call_id


ESCAPES = [
    "/api/recordings/../secret.txt/audio",
    "/api/recordings/..%2fsecret.txt/audio",
    "/api/recordings/%2e%2e%2fsecret.txt/audio",
    "/api/recordings/%2e%2e%2f%2e%2e%2fsecret.txt/audio",
    "/api/recordings/%2fetc%2fpasswd/audio",
    "/api/recordings//etc/passwd/audio",
    "/api/recordings/..%5csecret.txt/audio",
    "/api/recordings/recordings%2f00%2fsecret.txt/audio",
    "/api/recordings/" + "0" * 32 + "/audio",  # well-formed, unknown
    "/api/recordings/not-an-id/audio",
    "/api/recordings/%00/audio",
]


@pytest.mark.parametrize("target", ESCAPES)
async def test_given_a_path_that_is_not_a_known_id_then_404_and_no_file_bytes(
    server: Server, call: StoredCall, db: Database, qa: str, target: str
) -> None:
    answer = await server.get(target, qa)
    assert answer.status == 404, target
    assert SECRET not in answer.body
    assert b"RIFF" not in answer.body
    assert b"root:" not in answer.body
    assert await _plays(db) == []


async def test_given_the_stored_file_replaced_by_a_symlink_then_404(
    server: Server, call: StoredCall, data_dir: Path, qa: str
) -> None:
    path = data_dir / call.file.path
    path.unlink()
    os.symlink(data_dir / "secret.txt", path)
    answer = await server.get(_audio(call), qa)
    assert answer.status == 404
    assert SECRET not in answer.body


async def test_given_a_corrupt_or_missing_recording_then_404_naming_its_status(
    server: Server, db: Database, data_dir: Path, qa: str
) -> None:
    corrupt = await stored_call(db, data_dir, "1700000000.7", status="corrupt")
    answer = await server.get(_audio(corrupt), qa)
    assert answer.status == 404
    assert b"RIFF" not in answer.body
    assert b"corrupt" in answer.body
    ok = await stored_call(db, data_dir, "1700000000.8")
    (data_dir / ok.file.path).unlink()
    gone = await server.get(_audio(ok), qa)
    assert gone.status == 404
    assert b"missing" in gone.body


async def test_given_a_qa_token_then_metadata_and_peaks_but_never_the_path(
    server: Server, call: StoredCall, qa: str
) -> None:
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {qa}"}) as session,
        session.get(
            f"http://{server.host}:{server.port}/api/recordings/{call.recording_id}"
        ) as meta,
        session.get(
            f"http://{server.host}:{server.port}/api/recordings/{call.recording_id}/peaks",
            params={"buckets": "10"},
        ) as peaks,
    ):
        body = await meta.json()
        levels = (await peaks.json())["peaks"]
    assert body["sha256"] == call.file.sha256
    assert "path" not in body
    assert len(levels) == 10
    # The tone fills the first half, silence the second.
    assert min(levels[:5]) > 0.3
    assert max(levels[5:]) == 0.0


async def test_given_no_live_recording_then_pause_is_409_for_ops_and_403_for_qa(
    server: Server, call: StoredCall, db: Database, qa: str
) -> None:
    ops = await create_token(db, "ops")
    url = f"http://{server.host}:{server.port}/api/calls/{call.call_id}/recording/pause"
    async with aiohttp.ClientSession() as session:
        async with session.post(url) as anonymous:
            assert anonymous.status == 401
        async with session.post(url, headers={"Authorization": f"Bearer {qa}"}) as reviewer:
            assert reviewer.status == 403
        async with session.post(url, headers={"Authorization": f"Bearer {ops}"}) as desk:
            assert desk.status == 409
            assert (await desk.json())["error"]["error_id"] == "not_recording"
