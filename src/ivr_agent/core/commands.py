"""What the tracker asks the IVR layer to do, as frozen data (the core never acts itself):
play or cancel prompts (the prompt executor) and start recording a call (the inbound
recorder).

Deadlines are event-time instants (the PBX clock that stamps AMI events). A command with a
``timer`` kind is a pending timer: the IVR keeps at most one pending command per
``(call_id, timer)``; a newer one replaces it and :class:`CancelTimers` drops it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

TimerKind = Literal["silence", "hold", "all"]

# Prompt names (the IVR's catalogue keys), one per row of STANDARDS.md S4 the core triggers.
PROMPT_LONG_WAIT_APOLOGY = "long_wait_apology"  # ≥ apology_min_rings before the answer
PROMPT_OPERATOR_INTRO = "operator_intro"  # 工号播报, variable operator_id
PROMPT_HOLD_REMINDER = "hold_reminder"  # at hold_reminder_seconds, then every repeat
PROMPT_HOLD_END_APOLOGY = "hold_end_apology"  # a hold over hold_reminder_seconds ended
PROMPT_SILENCE_FIRST = "silence_first"  # caller silent silence_prompt_seconds
PROMPT_SILENCE_LAST = "silence_last"  # still silent: last prompt, then hang up

#: Prompts that, played after the answer, delay the silence watchdog until they finish.
GREETING_PROMPTS = frozenset(
    {"greeting_external", "greeting_internal", PROMPT_LONG_WAIT_APOLOGY, PROMPT_OPERATOR_INTRO}
)


@dataclass(frozen=True, slots=True)
class PlayPrompt:
    """Play ``prompt`` to the caller (snoop-whisper on ``channel_id``) at ``due_at``.

    ``hangup_after``: hang the caller up once the prompt has finished (S3 last prompt).
    """

    call_id: str
    channel: str | None
    prompt: str
    due_at: datetime
    variables: tuple[tuple[str, str], ...] = ()
    channel_id: str | None = None
    timer: TimerKind | None = None
    hangup_after: bool = False


@dataclass(frozen=True, slots=True)
class CancelTimers:
    """Drop the call's pending commands of timer kind ``kind`` (``all``: every kind)."""

    call_id: str
    kind: TimerKind
    at: datetime | None = field(default=None)


@dataclass(frozen=True, slots=True)
class StartRecording:
    """An inbound caller met an operator (the call's first answer): record the call from
    ``at`` for QA replay. ``channel_id`` is the caller's channel (the call's first channel,
    whose Uniqueid is the Linkedid)."""

    call_id: str
    linkedid: str
    channel_id: str
    at: datetime


#: What the prompt executor carries out.
PromptCommand = PlayPrompt | CancelTimers
Command = PlayPrompt | CancelTimers | StartRecording
