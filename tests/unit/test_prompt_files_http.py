"""prompts/http.py: the open route the PBX fetches prompt files from (http delivery).

Only the catalogue's files, directly under PROMPTS_DIR/<language>/, are ever served; every
other path is the same JSON 404 without a byte of a file. The caching headers are the ones
Asterisk's res_http_media_cache acts on: max-age, and an ETag of the bytes for its
``HEAD`` + ``If-None-Match`` revalidation.
"""

from __future__ import annotations

import os
import re
import wave
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from yarl import URL

from ivr_agent.prompts.catalogue import PromptCatalogue
from ivr_agent.prompts.http import MAX_AGE_SECONDS, PROMPT_FILES, setup_prompt_files
from ivr_agent.settings import load_settings
from ivr_agent.web.auth import auth_middleware
from ivr_agent.web.errors import error_middleware

ClientMaker = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
ON_DEMAND = "callback_opening-0123456789abcdef.wav"


def _wav(path: Path, frames: bytes = b"\x00\x01" * 800) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(frames)
    return path.read_bytes()


def _no_database() -> Any:
    raise AssertionError("an open route without credentials must not look anything up")


@pytest.fixture
def prompts_dir(tmp_path: Path) -> Path:
    root = tmp_path / "prompts"
    for name in ("hold_reminder.wav", "operator_intro-007.wav", ON_DEMAND):
        _wav(root / "zh-CN" / name)
    _wav(root / "welcome.wav")
    (tmp_path / "secret.wav").write_bytes(b"RIFF-secret-bytes")
    return root


@pytest.fixture
async def client(prompts_dir: Path, aiohttp_client: ClientMaker) -> TestClient[Any, Any]:
    catalogue = PromptCatalogue.from_settings(load_settings(prompts_dir=prompts_dir))
    # The agent's own middlewares: errors as JSON, and the token check the route is open to.
    app = web.Application(middlewares=[error_middleware, auth_middleware(_no_database)])
    setup_prompt_files(app, catalogue)
    return await aiohttp_client(app)


async def test_given_a_prompt_file_then_it_is_served_as_wav_with_caching_headers_and_no_token(
    client: TestClient[Any, Any], prompts_dir: Path
) -> None:
    async with client.get("/prompts/zh-CN/hold_reminder.wav") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "audio/wav"
        assert response.headers["Cache-Control"] == f"max-age={MAX_AGE_SECONDS}"
        etag = response.headers["ETag"]
        assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
        assert response.headers["Last-Modified"].endswith(" GMT")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert await response.read() == (prompts_dir / "zh-CN" / "hold_reminder.wav").read_bytes()
    for name in ("operator_intro-007.wav", ON_DEMAND):
        async with client.get(f"/prompts/zh-CN/{name}") as response:
            assert response.status == 200, name


async def test_given_the_pbx_revalidates_with_its_etag_then_the_answer_is_304_without_a_body(
    client: TestClient[Any, Any],
) -> None:
    async with client.get("/prompts/zh-CN/hold_reminder.wav") as response:
        etag = response.headers["ETag"]
    # res_http_media_cache revalidates with HEAD + If-None-Match once max-age has passed.
    for method in ("HEAD", "GET"):
        async with client.request(
            method, "/prompts/zh-CN/hold_reminder.wav", headers={"If-None-Match": etag}
        ) as response:
            assert response.status == 304, method
            assert response.headers["ETag"] == etag
            assert await response.read() == b""
    async with client.head("/prompts/zh-CN/hold_reminder.wav") as response:
        assert response.status == 200
        assert response.headers["ETag"] == etag
        assert await response.read() == b""
    async with client.get(
        "/prompts/zh-CN/hold_reminder.wav", headers={"If-None-Match": '"other", W/' + etag}
    ) as response:
        assert response.status == 304
    stats = client.app[PROMPT_FILES].stats
    assert (stats.served, stats.not_modified, stats.headers_only) == (1, 3, 1)


async def test_given_a_file_touched_then_its_etag_stays_and_changed_then_it_changes(
    client: TestClient[Any, Any], prompts_dir: Path
) -> None:
    path = prompts_dir / "zh-CN" / ON_DEMAND
    async with client.get(f"/prompts/zh-CN/{ON_DEMAND}") as response:
        first = response.headers["ETag"]
    # ensure_media touches an on-demand file each time it hands it out: not a change.
    os.utime(path, (path.stat().st_atime + 60, path.stat().st_mtime + 60))
    async with client.head(f"/prompts/zh-CN/{ON_DEMAND}", headers={"If-None-Match": first}) as r:
        assert r.status == 304
    # Re-rendered under the same name (written beside it and renamed, as render does).
    new = path.with_name(".new.tmp.wav")
    body = _wav(new, b"\x05\x06" * 900)
    new.replace(path)
    async with client.head(f"/prompts/zh-CN/{ON_DEMAND}", headers={"If-None-Match": first}) as r:
        assert r.status == 200
        second = r.headers["ETag"]
    assert second != first
    async with client.get(f"/prompts/zh-CN/{ON_DEMAND}") as response:
        assert response.headers["ETag"] == second
        assert await response.read() == body


async def test_given_if_modified_since_then_it_is_honoured_when_no_etag_is_sent(
    client: TestClient[Any, Any],
) -> None:
    async with client.get("/prompts/zh-CN/hold_reminder.wav") as response:
        modified = response.headers["Last-Modified"]
    async with client.get(
        "/prompts/zh-CN/hold_reminder.wav", headers={"If-Modified-Since": modified}
    ) as response:
        assert response.status == 304
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    async with client.get(
        "/prompts/zh-CN/hold_reminder.wav", headers={"If-Modified-Since": old}
    ) as response:
        assert response.status == 200


@pytest.mark.parametrize(
    "path",
    [
        "/prompts/zh-CN/%2e%2e%2f%2e%2e%2fsecret.wav",
        "/prompts/zh-CN/..%2f..%2fsecret.wav",
        "/prompts/zh-CN/%2Ftmp%2Fsecret.wav",
        "/prompts/..%2fzh-CN/hold_reminder.wav",
        "/prompts/zh-CN/hold_reminder.wav/",
        "/prompts/zh-CN/hold_reminder",
        "/prompts/zh-CN/hold_reminder.WAV",
        "/prompts/zh-CN/hold_reminder.wav.bak",
        "/prompts/zh-CN/.ivr-agent-prompts.json",
        "/prompts/zh-CN/no_such_prompt.wav",
        "/prompts/zh-CN/greeting_external.wav",  # a catalogue name, but not rendered
        "/prompts/zh-CN/hold_reminder-0123456789abcdef.wav",  # no call-time variables
        "/prompts/zh-CN/callback_opening-xyz.wav",
        "/prompts/zh-CN/operator_intro-0-7.wav",
        "/prompts/fr-FR/hold_reminder.wav",
        "/prompts/welcome.wav",
        "/prompts/zh-CN/welcome.wav",
        "/prompts/zh-CN/secret.wav",
        "/prompts/zh-CN/%00hold_reminder.wav",
    ],
)
async def test_given_a_path_that_is_not_a_catalogue_file_then_404_and_no_file_bytes(
    client: TestClient[Any, Any], path: str
) -> None:
    async with client.get(path) as response:
        assert response.status == 404, path
        body = await response.read()
    assert b"RIFF" not in body
    assert response.headers["Content-Type"].startswith("application/json")


async def test_given_dot_segments_then_no_file_bytes(client: TestClient[Any, Any]) -> None:
    for raw in (
        "/prompts/zh-CN/../../secret.wav",
        "/prompts/zh-CN/../../prompts/x/../../secret.wav",
    ):
        async with client.get(URL(raw, encoded=True)) as response:
            # Normalised by the server to a path outside /prompts/ (401: not an open route)
            # or answered by the route's 404: never a file.
            assert response.status in (401, 404), raw
            assert b"RIFF" not in await response.read()


async def test_given_symlinks_then_they_are_refused_not_followed(
    client: TestClient[Any, Any], prompts_dir: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    _wav(outside / "silence_first.wav")
    (prompts_dir / "zh-CN" / "silence_first.wav").symlink_to(outside / "silence_first.wav")
    (prompts_dir / "en-US").symlink_to(outside, target_is_directory=True)
    (prompts_dir / "zh-CN" / "silence_last.wav").mkdir()
    for path in (
        "/prompts/zh-CN/silence_first.wav",
        "/prompts/en-US/silence_first.wav",
        "/prompts/zh-CN/silence_last.wav",
    ):
        async with client.get(path) as response:
            assert response.status == 404, path
            assert b"RIFF" not in await response.read()
    assert client.app[PROMPT_FILES].stats.served == 0
