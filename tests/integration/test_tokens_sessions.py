"""Issue 14 finding 10, tokens and sessions, over HTTP against a real PostgreSQL: tokens
expire and can be revoked (refused at once); the sign-in cookie is a server-side session,
never the token, and logout ends it; ``/api/live`` re-checks its credential and is
limited per token and in all."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.engine import URL

from ivr_agent.app import build_app
from ivr_agent.dashboard.live import LIVE
from ivr_agent.db.database import Database
from ivr_agent.db.tokens import (
    TokenNotFound,
    create_session,
    create_token,
    list_tokens,
    revoke_token,
    token_digest,
)
from ivr_agent.settings import load_settings
from ivr_agent.web.auth import SESSION_COOKIE
from tests.integration.qa_support import StoredCall, stored_call

pytestmark = pytest.mark.postgres

Client = TestClient[web.Request, web.Application]
AppClient = Callable[[web.Application], Awaitable[Client]]
FORM = {"skill": "5", "attitude": "4", "timeliness": "4", "parts": "3", "overall": "5"}


@pytest.fixture
async def client(db: Database, tmp_path: Path, aiohttp_client: AppClient) -> Client:
    settings = load_settings(_env_file=None, data_dir=tmp_path / "var", timezone="Asia/Shanghai")
    return await aiohttp_client(build_app(settings, database=db))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _sql(db: Database, statement: str, **params: object) -> list[tuple[object, ...]]:
    async with db.transaction("test sql") as session:
        result = await session.execute(text(statement), params)
        return [tuple(row) for row in result] if result.returns_rows else []


async def _expire_token(db: Database, token: str) -> None:
    await _sql(
        db,
        "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE token_sha256 = :h",
        h=token_digest(token),
    )


async def _sign_in(client: Client, token: str, next_path: str = "/") -> str:
    """Sign in through ``/login``; the cookie's value."""
    async with client.post(
        "/login", data={"token": token, "next": next_path}, allow_redirects=False
    ) as response:
        assert response.status == 303, await response.text()
        cookie = response.cookies[SESSION_COOKIE]
        header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header
    assert "SameSite=Strict" in header
    return cookie.value


async def _status(client: Client, path: str, **kwargs: object) -> int:
    async with client.get(path, allow_redirects=False, **kwargs) as response:  # type: ignore[arg-type]
        return response.status


# ------------------------------------------------------------------ tokens --


async def test_given_new_tokens_then_they_expire_in_90_days_or_as_asked(db: Database) -> None:
    await create_token(db, "ops")
    await create_token(db, "qa", days=1)
    await create_token(db, "admin", days=None)
    rows = await _sql(
        db,
        "SELECT role, round(extract(epoch FROM expires_at - created_at) / 86400) "
        "FROM api_tokens ORDER BY role",
    )
    assert rows == [("admin", None), ("ops", 90), ("qa", 1)]
    with pytest.raises(ValueError, match="days"):
        await create_token(db, "ops", days=0)


async def test_given_an_expired_token_then_it_is_refused_like_an_unknown_one(
    client: Client, db: Database
) -> None:
    token = await create_token(db, "ops")
    assert await _status(client, "/api/metrics/summary", headers=_bearer(token)) == 200
    await _expire_token(db, token)
    async with client.get("/api/metrics/summary", headers=_bearer(token)) as response:
        assert response.status == 401
        assert (await response.json())["error"]["error_id"] == "unauthenticated"
    # A page answers as to nobody; sign-in refuses it.
    assert await _status(client, "/", headers=_bearer(token)) == 303
    async with client.post("/login", data={"token": token}, allow_redirects=False) as response:
        assert response.status == 401
        assert "Set-Cookie" not in response.headers
    assert (await list_tokens(db))[0].state == "expired"


async def test_given_an_expired_token_then_the_qa_pages_refuse_it_too(
    client: Client, db: Database
) -> None:
    qa = await create_token(db, "qa")
    assert await _status(client, "/qa", headers=_bearer(qa)) == 200
    await _expire_token(db, qa)
    assert await _status(client, "/qa", headers=_bearer(qa)) == 303


async def test_given_a_token_from_before_expiry_existed_then_it_keeps_working(
    client: Client, db: Database
) -> None:
    token = await create_token(db, "ops")
    await _sql(db, "UPDATE api_tokens SET expires_at = NULL")
    assert await _status(client, "/api/metrics/summary", headers=_bearer(token)) == 200
    assert (await list_tokens(db))[0].expires_at is None


async def test_given_a_revoked_token_then_it_and_its_sessions_are_refused_at_once(
    client: Client, db: Database
) -> None:
    token = await create_token(db, "ops", "wall screen")
    await _sign_in(client, token)
    assert await _status(client, "/") == 200
    (info,) = await list_tokens(db)
    revoked = await revoke_token(db, info.token_id[:8])
    assert (revoked.token_id, revoked.state) == (info.token_id, "revoked")
    assert await _status(client, "/api/metrics/summary", headers=_bearer(token)) == 401
    assert await _status(client, "/") == 303
    assert await _status(client, "/api/metrics/summary") == 401
    assert await _sql(db, "SELECT count(*) FROM api_sessions") == [(0,)]
    # Again, by the token itself: nothing changes.
    assert (await revoke_token(db, token)).revoked_at == revoked.revoked_at
    with pytest.raises(TokenNotFound):
        await revoke_token(db, "abc")


# ---------------------------------------------------------------- sessions --


async def test_given_a_sign_in_then_the_cookie_is_a_session_not_the_token_and_logout_ends_it(
    client: Client, db: Database
) -> None:
    token = await create_token(db, "ops")
    cookie = await _sign_in(client, token)
    assert cookie.startswith("ivrs_")
    assert token not in cookie
    ((stored, hours),) = await _sql(
        db,
        "SELECT session_sha256, round(extract(epoch FROM expires_at - created_at) / 3600) "
        "FROM api_sessions",
    )
    assert (stored, hours) == (token_digest(cookie), 12)
    assert await _status(client, "/") == 200
    assert await _status(client, "/api/metrics/summary") == 200
    async with client.post("/logout", allow_redirects=False) as response:
        assert response.status == 303
        assert response.cookies[SESSION_COOKIE].value == ""
    assert await _sql(db, "SELECT count(*) FROM api_sessions") == [(0,)]
    # The old cookie, replayed (copied before logout), is refused.
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: cookie})
    assert await _status(client, "/") == 303
    assert await _status(client, "/api/live") == 401
    # The token itself is not revoked by logout.
    assert await _status(client, "/api/metrics/summary", headers=_bearer(token)) == 200


async def test_given_an_api_token_as_the_cookie_then_it_is_refused(
    client: Client, db: Database
) -> None:
    # Only a session's secret is a cookie: a token set as the cookie (by a script, or left
    # from before sessions existed) authorises nothing, not even a read.
    token = await create_token(db, "admin")
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: token})
    assert await _status(client, "/") == 303
    assert await _status(client, "/api/metrics/summary") == 401
    assert await _status(client, "/api/metrics/summary", headers=_bearer(token)) == 200


async def test_given_an_expired_session_then_pages_go_to_login(
    client: Client, db: Database
) -> None:
    await _sign_in(client, await create_token(db, "ops"))
    await _sql(db, "UPDATE api_sessions SET expires_at = now() - interval '1 second'")
    assert await _status(client, "/") == 303
    assert await _status(client, "/api/metrics/summary") == 401


async def test_given_a_token_expiring_soon_then_its_session_ends_with_it(db: Database) -> None:
    token = await create_token(db, "ops", days=1)
    await _sql(db, "UPDATE api_tokens SET expires_at = now() + interval '1 hour'")
    started = await create_session(db, token)
    assert started is not None
    ((left,),) = await _sql(db, "SELECT extract(epoch FROM expires_at - now()) FROM api_sessions")
    assert 3500 < float(left) <= 3600  # type: ignore[arg-type]


async def test_given_a_session_then_the_qa_page_and_its_score_form_work(
    client: Client, db: Database, tmp_path: Path
) -> None:
    call: StoredCall = await stored_call(db, tmp_path / "var", seconds=190.0)
    await _sign_in(client, await create_token(db, "qa"), f"/qa/calls/{call.call_id}")
    async with client.get(f"/qa/calls/{call.call_id}") as response:
        assert response.status == 200
        found = re.search(r'name="form_token" value="([0-9a-f]+)"', await response.text())
    assert found is not None
    async with client.post(
        f"/qa/calls/{call.call_id}/score",
        data={**FORM, "form_token": found.group(1)},
        allow_redirects=False,
    ) as response:
        assert response.status == 303
        assert response.headers["Location"].endswith("#scores")
    ((actor,),) = await _sql(db, "SELECT scored_by FROM qa_scores")
    ((token_id,),) = await _sql(db, "SELECT token_id::text FROM api_tokens")
    assert actor == f"token:{token_id}"  # the token, not the session, signs the score


# --------------------------------------------------------------------- SSE --


async def _first_event(response: object) -> None:
    content = response.content  # type: ignore[attr-defined]
    await asyncio.wait_for(content.readuntil(b"\n\n"), 5)  # retry:
    await asyncio.wait_for(content.readuntil(b"\n\n"), 5)  # calls


async def _ends(response: object) -> bytes:
    content = response.content  # type: ignore[attr-defined]
    return await asyncio.wait_for(content.read(), 5)


async def test_given_a_live_stream_when_its_token_is_revoked_then_the_stream_ends(
    client: Client, db: Database
) -> None:
    client.app[LIVE].recheck_seconds = 0.2
    token = await create_token(db, "ops")
    async with client.get("/api/live", headers=_bearer(token)) as response:
        assert response.status == 200
        await _first_event(response)
        await revoke_token(db, token)
        rest = await _ends(response)
    assert b'event: closed\ndata: {"reason":"unauthenticated"}' in rest
    assert client.app[LIVE].subscribers == 0


async def test_given_a_live_stream_when_the_browser_signs_out_then_the_stream_ends(
    client: Client, db: Database
) -> None:
    client.app[LIVE].recheck_seconds = 0.2
    cookie = await _sign_in(client, await create_token(db, "ops"))
    async with client.get("/api/live") as response:
        assert response.status == 200
        await _first_event(response)
        await _sql(db, "DELETE FROM api_sessions WHERE session_sha256 = :h", h=token_digest(cookie))
        assert b"event: closed" in await _ends(response)


async def test_given_a_live_stream_when_its_token_expires_then_the_stream_ends(
    client: Client, db: Database
) -> None:
    client.app[LIVE].recheck_seconds = 0.2
    token = await create_token(db, "qa")
    async with client.get("/api/live", headers=_bearer(token)) as response:
        await _first_event(response)
        await _expire_token(db, token)
        assert b"event: closed" in await _ends(response)


async def test_given_too_many_live_streams_then_429_per_token_and_in_all(
    client: Client, db: Database
) -> None:
    hub = client.app[LIVE]
    hub.max_streams_per_token, hub.max_streams = 2, 3
    first, second = await create_token(db, "ops"), await create_token(db, "ops")
    opened = [await client.get("/api/live", headers=_bearer(first)) for _ in range(2)]
    try:
        assert [r.status for r in opened] == [200, 200]
        async with client.get("/api/live", headers=_bearer(first)) as refused:
            assert refused.status == 429
            error = (await refused.json())["error"]
        assert error["error_id"] == "too_many_streams"
        assert error["details"] == {"scope": "token", "limit": 2}
        assert "at most 2 per token" in error["message"]
        opened.append(await client.get("/api/live", headers=_bearer(second)))
        assert opened[-1].status == 200
        async with client.get("/api/live", headers=_bearer(second)) as refused:
            assert refused.status == 429
            assert (await refused.json())["error"]["details"] == {"scope": "server", "limit": 3}
    finally:
        for response in opened:
            response.close()
    # Closed streams free their places.
    for _ in range(50):
        if hub.subscribers == 0:
            break
        await asyncio.sleep(0.05)
    assert hub.streams_of("anything") == 0
    assert hub.subscribers == 0
    async with client.get("/api/live", headers=_bearer(first)) as response:
        assert response.status == 200


# --------------------------------------------------------------------- CLI --


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ivr_agent.cli", "tokens", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_given_the_cli_then_tokens_are_created_listed_and_revoked(
    migrated_database_url: URL, cli_env: dict[str, str]
) -> None:
    url = migrated_database_url.render_as_string(hide_password=False)
    cli_env["IVR_AGENT_DATABASE_URL"] = url
    created = _cli(cli_env, "create", "--role", "qa", "--label", "reviewer", "--days", "7")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("ivra_")
    listed = _cli(cli_env, "list")
    assert listed.returncode == 0, listed.stderr
    (line,) = listed.stdout.splitlines()[1:]
    token_id, role, state, _, expires, revoked, label = line.split("\t")
    assert (role, state, revoked, label) == ("qa", "valid", "-", "reviewer")
    assert expires != "never"
    assert token not in listed.stdout
    revoked_run = _cli(cli_env, "revoke", token_id[:8])
    assert revoked_run.returncode == 0, revoked_run.stderr
    assert f"revoked {token_id} (qa)" in revoked_run.stdout
    assert _cli(cli_env, "list").stdout.splitlines()[1:] == []
    assert "\trevoked\t" in _cli(cli_env, "list", "--all").stdout
    unknown = _cli(cli_env, "revoke", "ffffffff")
    assert unknown.returncode == 1
    assert "no token matches" in unknown.stderr
    bad = _cli(cli_env, "create", "--role", "ops", "--days", "0")
    assert bad.returncode == 1
    assert "days must be 1 to 3650" in bad.stderr


def test_given_the_cli_then_an_operator_token_names_its_operator(
    migrated_database_url: URL, cli_env: dict[str, str]
) -> None:
    cli_env["IVR_AGENT_DATABASE_URL"] = migrated_database_url.render_as_string(hide_password=False)
    created = _cli(cli_env, "create", "--role", "operator", "--operator-id", "007")
    assert created.returncode == 0, created.stderr
    (line,) = _cli(cli_env, "list").stdout.splitlines()[1:]
    assert line.split("\t")[1:3] == ["operator:007", "valid"]
    missing = _cli(cli_env, "create", "--role", "operator")
    assert missing.returncode == 1
    assert "--operator-id" in missing.stderr
    stray = _cli(cli_env, "create", "--role", "ops", "--operator-id", "007")
    assert stray.returncode == 1
    assert "only an operator token" in stray.stderr


def test_given_expires_in_and_name_then_the_token_lives_that_long_under_that_name(
    migrated_database_url: URL, cli_env: dict[str, str]
) -> None:
    cli_env["IVR_AGENT_DATABASE_URL"] = migrated_database_url.render_as_string(hide_password=False)
    created = _cli(cli_env, "create", "--role", "ops", "--name", "grafana", "--expires-in", "12h")
    assert created.returncode == 0, created.stderr
    (line,) = _cli(cli_env, "list").stdout.splitlines()[1:]
    _, role, state, created_at, expires_at, _, name = line.split("\t")
    assert (role, state, name) == ("ops", "valid", "grafana")
    lived = datetime.fromisoformat(expires_at) - datetime.fromisoformat(created_at)
    assert abs(lived - timedelta(hours=12)) < timedelta(minutes=1)
    for bad in ("12", "0d", "1y", "-3h"):
        refused = _cli(cli_env, "create", "--role", "ops", "--expires-in", bad)
        assert refused.returncode == 2, bad  # argparse: usage error
        assert "--expires-in" in refused.stderr
    too_long = _cli(cli_env, "create", "--role", "ops", "--expires-in", "3651d")
    assert too_long.returncode == 1
    assert "1 minute to 3650 days" in too_long.stderr
    both = _cli(cli_env, "create", "--role", "ops", "--expires-in", "1d", "--no-expiry")
    assert both.returncode == 2
