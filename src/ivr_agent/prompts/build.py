"""Rendering the whole catalogue ahead of time (what ``ivr-agent prompts build`` does).

For each language: every prompt, the 工号播报 once per configured operator id, and the
fallback text of prompts with call-time variables. Unchanged files are cache hits (see
:mod:`ivr_agent.prompts.render`). The default language's external greeting is also installed as
``welcome.wav`` at the top of the directory: the dialplan hook plays ``ivr-agent/welcome``
when the agent is away.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ivr_agent.prompts import render
from ivr_agent.prompts.catalogue import (
    ON_DEMAND_KEEP_DAYS,
    WELCOME_ALIAS,
    PromptCatalogue,
    UnknownPrompt,
)
from ivr_agent.prompts.render import Installed

__all__ = ["ON_DEMAND_KEEP_DAYS", "BuildReport", "Progress", "build_prompts"]

Progress = Callable[[str], None]


@dataclass
class BuildReport:
    """What a build did, per file."""

    dest: Path
    installed: list[Installed] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rendered(self) -> int:
        """Files synthesised by TTS in this build."""
        return sum(1 for i in self.installed if i.source == "tts" and not i.cached)

    @property
    def recorded(self) -> int:
        """Files installed from a recorded human voice in this build."""
        return sum(1 for i in self.installed if i.source == "recorded" and not i.cached)

    @property
    def cached(self) -> int:
        """Files already current (cache hits)."""
        return sum(1 for i in self.installed if i.cached)

    @property
    def recorded_in_use(self) -> int:
        """Files whose audio is a recorded voice (new or unchanged)."""
        return sum(1 for i in self.installed if i.source == "recorded")

    def summary(self) -> str:
        """One line for people."""
        return (
            f"{len(self.installed)} prompt files in {self.dest}: {self.rendered} rendered (TTS), "
            f"{self.recorded} from recorded voices, {self.cached} unchanged (cache); "
            f"{self.recorded_in_use} recorded voices in use; "
            f"{len(self.pruned)} unused on-demand files removed; {self.seconds:.1f} s"
        )


def build_prompts(
    catalogue: PromptCatalogue,
    *,
    languages: Sequence[str] | None = None,
    dest: Path | None = None,
    progress: Progress | None = None,
    keep_on_demand_days: float = ON_DEMAND_KEEP_DAYS,
) -> BuildReport:
    """Render and install every file of ``languages`` (default: all) into ``dest``.

    ``dest`` defaults to the catalogue's prompts directory. Raises
    :class:`~ivr_agent.prompts.render.ToolMissing` before doing anything if espeak-ng or sox is
    missing and a file needs synthesising, :class:`~ivr_agent.prompts.catalogue.UnknownPrompt` for a
    language the catalogue lacks, :class:`~ivr_agent.prompts.render.RenderError` naming the file
    that failed. Files rendered on demand (``{customer_name}``) that no call asked for in
    ``keep_on_demand_days`` are removed, so the directory does not grow with every customer.
    """
    started = time.monotonic()
    target_dir = (dest or catalogue.prompts_dir).absolute()
    chosen = list(languages or catalogue.languages)
    unknown = [lang for lang in chosen if lang not in catalogue.languages]
    if unknown:
        raise UnknownPrompt(
            f"language {', '.join(unknown)} is not in the catalogue "
            f"(it has {', '.join(catalogue.languages)})"
        )
    render.check_tools()
    render.ensure_dir(target_dir)
    report = BuildReport(dest=target_dir)
    for language in chosen:
        for job in catalogue.build_jobs(language):
            done = render.install(job, target_dir, catalogue.voices_dir)
            report.installed.append(done)
            if progress is not None and not done.cached:
                how = "recorded voice" if done.source == "recorded" else "rendered"
                progress(f"  {how}: {done.relative}")
    if catalogue.language in chosen:
        name, alias = WELCOME_ALIAS
        source = catalogue.job(name).relative
        if render.copy_alias(target_dir, source, alias) and progress is not None:
            progress(f"  alias: {alias} = {source}")
        report.aliases.append(alias)
    if dest is None or target_dir == catalogue.prompts_dir.absolute():
        report.pruned = catalogue.prune_on_demand(keep_on_demand_days * 86_400, time.time())
    report.seconds = time.monotonic() - started
    return report
