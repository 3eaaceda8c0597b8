"""What a simulated caller heard, judged from its phone's own recording.

The simulator records the audio each caller's line received (``heard_recording`` in its
ground truth, see ``ivr_agent.sim.ear``). A prompt was heard when its own WAV — as the agent
rendered it into the PBX's sounds — is found in that recording by normalised
cross-correlation (``ivr_agent.sim.audio_match``) with a score above :data:`HEARD_SCORE`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from ivr_agent.sim.audio_match import Audio, Match, find_phrase, load_wav
from ivr_agent.sim.sandbox_layout import SOUNDS_DIR

#: A prompt counts as heard above this score. Measured: the hold reminder and resume phrase
#: whispered over the sandbox's music on hold score 0.82-1.00 in the caller's recording, and
#: 0.58 once on a machine loaded by a chaos run beside the suite (choppy audio); a prompt
#: against the music alone 0.06-0.11 (sim/audio_match docstring); against *other* prompts in
#: the same synthetic voice up to 0.26 (hold_5s: the best of either phrase anywhere after
#: the hold began). 0.45 is four times music alone and well above another prompt.
HEARD_SCORE = 0.45
#: How far from its due time a prompt is looked for (and must be found within ± 0.5 s).
SEARCH_SECONDS = 1.5


def prompt_audio(root: Path, prompt: str, language: str = "zh-CN") -> Audio:
    """The WAV the PBX plays for ``prompt`` (as ``ivr-agent prompts build`` installed it)."""
    return load_wav(root / SOUNDS_DIR.lstrip("/") / language / f"{prompt}.wav")


def recording(truth: dict[str, Any]) -> tuple[datetime, Audio]:
    """(wall-clock time of its first sample, the audio) of what the caller heard."""
    kept = truth["heard_recording"]
    assert kept["file"], f"{truth['id']}: the run kept no recording of what the caller heard"
    return datetime.fromisoformat(kept["started_at"]), load_wav(kept["file"])


def heard_near(
    truth: dict[str, Any],
    phrase: Audio,
    due: datetime,
    *,
    head_seconds: float | None = None,
) -> tuple[float, float] | None:
    """Where ``phrase`` sounds best within :data:`SEARCH_SECONDS` of ``due``: (seconds after
    ``due``, score), or None when the recording does not reach that far."""
    started, heard = recording(truth)
    offset = (due - started).total_seconds()
    length = head_seconds if head_seconds is not None else phrase.duration
    found: Match | None = find_phrase(
        heard,
        phrase,
        start=max(0.0, offset - SEARCH_SECONDS),
        end=offset + length + SEARCH_SECONDS,
        head_seconds=head_seconds,
    )
    return None if found is None else (found.at - offset, found.score)


def best_anywhere(truth: dict[str, Any], phrase: Audio, start: datetime) -> float:
    """The best score of ``phrase`` anywhere in the recording after ``start`` (0 if none)."""
    started, heard = recording(truth)
    found = find_phrase(heard, phrase, start=max(0.0, (start - started).total_seconds()))
    return 0.0 if found is None else found.score
