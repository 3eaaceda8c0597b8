"""On-demand renderings (``{customer_name}``) are pruned at run time (issue 14, finding 10):
a file not handed out for a week is deleted, with its manifest entry, when the agent renders
a new one — at most once an hour — so the PBX's sounds folder does not collect every
customer's name."""

from __future__ import annotations

import json
import os
import time
import wave
from pathlib import Path

import pytest

from ivr_agent.prompts import catalogue as catalogue_module
from ivr_agent.prompts import render
from ivr_agent.prompts.catalogue import ON_DEMAND_KEEP_DAYS, PromptCatalogue
from ivr_agent.prompts.render import RenderJob
from ivr_agent.settings import load_settings


def _fake_synthesis(job: RenderJob, out: Path) -> None:
    with wave.open(str(out), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(render.SAMPLE_RATE)
        writer.writeframes(b"\x01\x00" * 800)


@pytest.fixture
def catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PromptCatalogue:
    monkeypatch.setattr(render, "_synthesise", _fake_synthesis)
    settings = load_settings(
        prompts_dir=tmp_path / "prompts", prompts_voices_dir=tmp_path / "voices"
    )
    return PromptCatalogue.from_settings(settings)


async def _render(catalogue: PromptCatalogue, name: str) -> str:
    uri = await catalogue.ensure_media("callback_opening", {"customer_name": name})
    return f"zh-CN/{uri.rsplit('/', 1)[1].removesuffix('.wav')}.wav"


def _age(path: Path, days: float) -> None:
    then = time.time() - days * 86_400
    os.utime(path, (then, then))


def _manifest(catalogue: PromptCatalogue) -> dict[str, str]:
    text = (catalogue.prompts_dir / render.MANIFEST_NAME).read_text(encoding="utf-8")
    return dict(json.loads(text))


async def test_renders_unused_for_a_week_are_deleted_when_a_new_one_is_rendered(
    catalogue: PromptCatalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = catalogue.prompts_dir
    old = await _render(catalogue, "赵先生")
    kept = await _render(catalogue, "钱女士")
    gone = await _render(catalogue, "孙先生")
    for relative in (old, kept):
        _age(dest / relative, ON_DEMAND_KEEP_DAYS + 1)
    (dest / gone).unlink()  # deleted by hand: its manifest entry is left over
    # Handing a file out again counts as use.
    assert await _render(catalogue, "钱女士") == kept

    # Within the hour after the last look, a new rendering does not look again.
    first_new = await _render(catalogue, "李女士")
    assert (dest / old).is_file()

    monkeypatch.setattr(catalogue_module, "PRUNE_EVERY_SECONDS", 0.0)
    second_new = await _render(catalogue, "周先生")
    assert not (dest / old).exists()
    for relative in (kept, first_new, second_new):
        assert (dest / relative).is_file()
    manifest = _manifest(catalogue)
    assert old not in manifest
    assert gone not in manifest
    assert {kept, first_new, second_new} <= set(manifest)


def test_prompts_built_ahead_are_never_pruned(catalogue: PromptCatalogue) -> None:
    fallback = catalogue.job("callback_opening")
    render.install(fallback, catalogue.prompts_dir, None)
    path = catalogue.prompts_dir / fallback.relative
    _age(path, 400)
    assert catalogue.prune_on_demand() == []
    assert path.is_file()
    assert fallback.relative in _manifest(catalogue)


async def test_a_failing_prune_does_not_fail_the_rendering(
    catalogue: PromptCatalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> list[str]:
        raise OSError("read-only file system")

    monkeypatch.setattr(catalogue, "on_demand_files", broken)
    relative = await _render(catalogue, "吴女士")
    assert (catalogue.prompts_dir / relative).is_file()
