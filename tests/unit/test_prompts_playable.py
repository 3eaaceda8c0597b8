"""The start-up prompt check's verdict on playbacks that end ``failed``.

The live tests (tests/integration/test_prompts_http_live.py) show the check against the
sandbox PBX; these cover what a real PBX does only now and then: a bridge playback of a good
file that ends ``failed``, once or twice in a row (seen in CI under load, the Asterisk log
naming no missing file). The fake ARI below plays nothing: it answers each playback with the
outcome the test scripted for that file.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ivr_agent.pbx.ari import AriError
from ivr_agent.pbx.session import Ivr
from ivr_agent.pbx.stasis import StasisRouter
from ivr_agent.platform.health import Component, State
from ivr_agent.prompts import PromptCatalogue, playable
from ivr_agent.prompts.playable import PlayabilityCheck
from ivr_agent.settings import load_settings


class ScriptedPbx:
    """ARI calls of the check; ``failures[stem]`` playbacks of that file end ``failed``."""

    def __init__(self, failures: dict[str, int], refusals: dict[str, int] | None = None) -> None:
        self.failures = dict(failures)
        #: ``refusals[stem]`` play requests of that file are answered 500.
        self.refusals = dict(refusals or {})
        self.router: StasisRouter | None = None
        self.played: list[str] = []
        #: (bridge, stem) of each playback.
        self.on_bridge: list[tuple[str, str]] = []

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
        if self.refusals.get(stem, 0) > 0:
            self.refusals[stem] -= 1
            raise AriError("POST", f"/bridges/{bridge_id}/play", 500, "Allocation failed")
        self.played.append(stem)
        self.on_bridge.append((bridge_id, stem))
        failing = self.failures.get(stem, 0) > 0
        self.failures[stem] = self.failures.get(stem, 0) - 1
        state = "failed" if failing else "done"
        event = {"type": "PlaybackFinished", "playback": {"id": playback_id, "state": state}}
        assert self.router is not None
        asyncio.get_running_loop().call_soon(self.router.dispatch, event)
        return {"id": playback_id}


@pytest.fixture(autouse=True)
def no_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    """The re-checks' pauses are for a real PBX; here they would only slow the tests."""
    monkeypatch.setattr(playable, "RECHECK_PAUSES_SECONDS", (0.0, 0.0))


def _check(tmp_path: Path, pbx: ScriptedPbx) -> PlayabilityCheck:
    settings = load_settings(
        prompts_delivery="directory", prompts_dir=tmp_path / "prompts", data_dir=tmp_path
    )
    router = StasisRouter(pbx, settings.ari_app)  # type: ignore[arg-type]
    pbx.router = router
    catalogue = PromptCatalogue.from_settings(settings)
    ivr = Ivr(client=pbx, router=router, catalogue=catalogue, settings=settings)  # type: ignore[arg-type]
    return PlayabilityCheck(ivr, catalogue, Component("prompts"))


@pytest.mark.parametrize("failures", [1, 2])
async def test_given_a_good_file_whose_playback_fails_then_a_recheck_on_a_fresh_bridge_passes(
    tmp_path: Path, failures: int
) -> None:
    pbx = ScriptedPbx({"long_wait_apology": failures})
    check = _check(tmp_path, pbx)
    assert await check.run() is True
    assert check.component.state is State.UP
    assert check.unplayable == ()
    bridges = [bridge for bridge, stem in pbx.on_bridge if stem == "long_wait_apology"]
    assert len(bridges) == failures + 1
    assert len(set(bridges)) == failures + 1  # each re-check on a bridge of its own
    # Only the failed file is checked again.
    assert len(pbx.played) == len(check.jobs()) + failures


async def test_given_a_file_that_fails_every_time_then_it_is_named_unplayable(
    tmp_path: Path,
) -> None:
    pbx = ScriptedPbx({"greeting_external": 99, "hold_reminder": 99})
    check = _check(tmp_path, pbx)
    assert await check.run() is False
    assert check.component.state is State.DOWN
    assert {u.file for u in check.unplayable} == {"greeting_external", "hold_reminder"}
    assert all(u.playback_failed for u in check.unplayable)
    assert pbx.played.count("hold_reminder") == 1 + len(playable.RECHECK_PAUSES_SECONDS)
    assert "cannot play 2 of" in check.component.detail
    assert check.ivr.playback_stats.unplayable == 2


async def test_given_a_play_request_answered_500_then_the_rest_are_checked_on_a_fresh_bridge(
    tmp_path: Path,
) -> None:
    pbx = ScriptedPbx({}, refusals={"hold_reminder": 1})
    check = _check(tmp_path, pbx)
    assert await check.run() is True
    assert check.component.state is State.UP
    # Every file played once: the ones before the refusal on the first bridge, the refused
    # one and the rest on the second.
    assert sorted(pbx.played) == sorted(job.stem for job in check.jobs())
    bridges = list(dict.fromkeys(bridge for bridge, _ in pbx.on_bridge))
    assert len(bridges) == 2
    assert (
        pbx.on_bridge[[stem for _, stem in pbx.on_bridge].index("hold_reminder")][0] == bridges[1]
    )
