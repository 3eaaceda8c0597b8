"""The prompts feature as the agent runs it: the executor that plays the tracker's prompt
commands by snoop-whisper, and the Stasis routes of the greeting and the satisfaction
question."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable

from prometheus_client import CollectorRegistry

from ivr_agent.pbx.session import Ivr, PromptPhase
from ivr_agent.prompts import greeting, survey
from ivr_agent.prompts.executor import LoopScheduler, PromptExecutor, PromptJob
from ivr_agent.prompts.whisper import SnoopWhisper


async def report_job(ivr: Ivr, job: PromptJob, phase: PromptPhase, played: bool) -> None:
    """:meth:`Ivr.report_prompt` for a tracker command being played (its call's Linkedid is
    the caller's channel id: a call's first channel's Uniqueid)."""
    command = job.command
    if command.channel_id is None:
        ivr.report_stats.reports_failed += 1
        return
    await ivr.report_prompt(command.channel_id, command.prompt, phase, played, to=job.to)


@contextlib.asynccontextmanager
async def running_prompts(
    ivr: Ivr,
    *,
    registry: CollectorRegistry | None = None,
    pbx_now: Callable[[], float] = time.time,
) -> AsyncIterator[PromptExecutor]:
    """Greeting and satisfaction routes registered, and the prompt executor running, for the
    duration of the block. ``registry``: where the executor's Prometheus series go;
    ``pbx_now``: the PBX's current time, which prompts fall due on."""

    async def report(job: PromptJob, phase: PromptPhase, played: bool) -> None:
        await report_job(ivr, job, phase, played)

    executor = PromptExecutor(
        SnoopWhisper(ivr), report, scheduler=LoopScheduler(pbx_now), registry=registry
    )
    greeting.install(ivr)
    survey.install(ivr)
    try:
        yield executor
    finally:
        await executor.close()
