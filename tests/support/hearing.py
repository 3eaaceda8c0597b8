"""What a simulated caller heard, judged from its phone's own recording.

The simulator records the audio each caller's line received (``heard_recording`` in its
ground truth, see ``ivr_agent.sim.ear``). A prompt was heard when its own WAV — as the agent
rendered it into the PBX's sounds — is found in that recording by normalised
cross-correlation (``ivr_agent.sim.audio_match``) with a score above :data:`HEARD_SCORE`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from ivr_agent.sim.audio_match import Audio, Match, find_phrase, load_wav, slip_tolerant_score
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
#: Silence around a line's recording (see :func:`recording`).
EDGE_SECONDS = 0.25


def prompt_audio(root: Path, prompt: str, language: str = "zh-CN") -> Audio:
    """The WAV the PBX plays for ``prompt`` (as ``ivr-agent prompts build`` installed it)."""
    return load_wav(root / SOUNDS_DIR.lstrip("/") / language / f"{prompt}.wav")


def recording(truth: dict[str, Any]) -> tuple[datetime, Audio]:
    """(wall-clock time of its first sample, the audio) of what the caller heard, with
    :data:`EDGE_SECONDS` of silence added before and after.

    Why the silence: a prompt that starts as the PBX answers, or one after which the agent
    hangs up (``silence_last``), can begin before the line's recording does or end a frame
    after it (measured: the recording stopped 12 ms before the end of a ``silence_last``
    that it held sample for sample). :func:`find_phrase` only places a phrase whose whole
    length lies in the recording; in the silence, the part the line did receive is judged,
    and the cut part counts against the score (12 ms of 4.5 s: 0.997 instead of 1.0).
    """
    kept = truth["heard_recording"]
    assert kept["file"], f"{truth['id']}: the run kept no recording of what the caller heard"
    audio = load_wav(kept["file"])
    edge = np.zeros(round(EDGE_SECONDS * audio.rate))
    padded = Audio(np.concatenate((edge, audio.samples, edge)), audio.rate)
    started = datetime.fromisoformat(kept["started_at"]) - timedelta(seconds=EDGE_SECONDS)
    return started, padded


def heard_near(
    truth: dict[str, Any],
    phrase: Audio,
    due: datetime,
    *,
    head_seconds: float | None = None,
) -> tuple[float, float] | None:
    """Where ``phrase`` sounds best within :data:`SEARCH_SECONDS` of ``due``: (seconds after
    ``due``, score), or None when the recording does not reach that far.

    The score is the better of the whole phrase's and the piecewise one that forgives frame
    slips (``slip_tolerant_score``): a prompt heard at the right time but for one dropped
    20 ms frame once scored 0.425 as a whole (CI, ``operator_intro`` of ``held``).
    """
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
    if found is None:
        return None
    pieces = slip_tolerant_score(heard, phrase, found.at, head_seconds=head_seconds)
    return found.at - offset, max(found.score, pieces)


def best_anywhere(truth: dict[str, Any], phrase: Audio, start: datetime) -> float:
    """The best score of ``phrase`` anywhere in the recording after ``start`` (0 if none)."""
    started, heard = recording(truth)
    found = find_phrase(heard, phrase, start=max(0.0, (start - started).total_seconds()))
    return 0.0 if found is None else found.score
