"""The start-up prompt check's verdict on playbacks that end ``failed``.

The live tests (tests/integration/test_prompts_http_live.py) show the check against the
sandbox PBX; these cover what a real PBX does only now and then: a bridge playback of a good
file that ends ``failed`` once (seen in CI under load, the Asterisk log naming no missing
file). The fake ARI below plays nothing: it answers each playback with the outcome the test
scripted for that file.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ivr_agent.pbx.session import Ivr
from ivr_agent.pbx.stasis import StasisRouter
from ivr_agent.platform.health import Component, State
from ivr_agent.prompts import PromptCatalogue
from ivr_agent.prompts.playable import PlayabilityCheck
from ivr_agent.settings import load_settings


class ScriptedPbx:
    """ARI calls of the check; ``failures[stem]`` playbacks of that file end ``failed``."""

    def __init__(self, failures: dict[str, int]) -> None:
        self.failures = dict(failures)
        self.router: StasisRouter | None = None
        self.played: list[str] = []

    async def bridges(self) -> list[dict[str, Any]]:
        return []

    async def create_bridge(self, bridge_id: str) -> dict[str, Any]:
        return {"id": bridge_id}

    async def subscribe(self, app: str, source: str) -> dict[str, Any]:
        return {}

    async def destroy_bridge(self, bridge_id: str) -> None:
        return None

    async def play_on_bridge(
        self, bridge_id: str, media: list[str], playback_id: str, *, offset_ms: int
    ) -> dict[str, Any]:
        stem = media[0].rsplit("/", 1)[-1]
        self.played.append(stem)
        failing = self.failures.get(stem, 0) > 0
        self.failures[stem] = self.failures.get(stem, 0) - 1
        state = "failed" if failing else "done"
        event = {"type": "PlaybackFinished", "playback": {"id": playback_id, "state": state}}
        assert self.router is not None
        asyncio.get_running_loop().call_soon(self.router.dispatch, event)
        return {"id": playback_id}


def _check(tmp_path: Path, pbx: ScriptedPbx) -> PlayabilityCheck:
    settings = load_settings(
        prompts_delivery="directory", prompts_dir=tmp_path / "prompts", data_dir=tmp_path
    )
    router = StasisRouter(pbx, settings.ari_app)  # type: ignore[arg-type]
    pbx.router = router
    catalogue = PromptCatalogue.from_settings(settings)
    ivr = Ivr(client=pbx, router=router, catalogue=catalogue, settings=settings)  # type: ignore[arg-type]
    return PlayabilityCheck(ivr, catalogue, Component("prompts"))


async def test_given_a_good_file_whose_playback_fails_once_then_the_check_passes(
    tmp_path: Path,
) -> None:
    pbx = ScriptedPbx({"greeting_external": 1})
    check = _check(tmp_path, pbx)
    assert await check.run() is True
    assert check.component.state is State.UP
    assert check.unplayable == ()
    assert pbx.played.count("greeting_external") == 2  # played again after the failure
    assert len(pbx.played) == len(check.jobs()) + 1


async def test_given_a_file_that_fails_every_time_then_it_is_named_unplayable(
    tmp_path: Path,
) -> None:
    pbx = ScriptedPbx({"greeting_external": 99, "hold_reminder": 99})
    check = _check(tmp_path, pbx)
    assert await check.run() is False
    assert check.component.state is State.DOWN
    assert {u.file for u in check.unplayable} == {"greeting_external", "hold_reminder"}
    assert "cannot play 2 of" in check.component.detail
    assert check.ivr.playback_stats.unplayable == 2
