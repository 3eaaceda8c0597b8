"""Judge a caller-side recording: when a prompt was heard, and when ringback started.

The call simulator records what the caller's phone received and asks two questions of it:

* :func:`find_phrase` / :func:`find_phrases`: where a known prompt (its own WAV file) sounds
  in the recording, and how strongly, by normalised cross-correlation. The score at lag *k* is
  the cosine between the recording window ``rec[k:k+n]`` and the phrase ``p``:
  ``dot(rec[k:k+n], p) / (||rec[k:k+n]|| * ||p||)``. It is 1 for the prompt alone, and about
  ``1 / sqrt(1 + M/P)`` when music of power *M* sounds over it at power *P* (music 6 dB louder
  than the prompt still gives ~0.45), while unrelated audio stays near 0.
* :func:`tone_intervals` / :func:`tone_onset`: the stretches where a steady pure tone
  dominates, by default China's ringback (Asterisk indications ``cn``: 450 Hz, 1 s on, 4 s off).

Measured on this machine (numpy 2.4.6, 8 kHz, a busy 2-core box):

* The real prompts under ``sounds/ivr-agent/en-US`` (``hold_reminder`` 2.1 s,
  ``hold_end_apology`` 3.3 s, ``greeting_external`` 5.5 s), through G.711 µ-law, mixed into
  90 s of each of the five tracks of Debian's asterisk-moh-opsound-gsm (decoded with sox) with
  the music 6 dB louder: found at their offset to the sample, scores 0.44-0.47 (music as loud
  as the prompt: 0.70-0.72; 10 dB louder: 0.29-0.32). The prompt alone after µ-law: 0.9999.
  The best score of each prompt against the music alone, over the whole of every track:
  0.06-0.11.
* Speech against other speech of the same voice scores higher than music: each of those
  prompts against the other 77 of the catalogue, 0.13-0.29. The ``operator_intro-NNN``
  prompts share their opening words: one scores 0.58 against the others as a whole, and its
  head (``head_seconds`` up to 1.5) 1.0. A threshold between prompts of the catalogue must
  sit above those, and a head must be long enough to reach where prompts differ.
* ``find_phrase`` of a 5 s phrase in a 90 s recording: 40-60 ms, median ~45 (the real prompts:
  21-45 ms); ``tone_intervals`` on 90 s: 2-8 ms.
* ``tone_intervals`` on the five music-on-hold tracks (19 minutes): no interval, although
  ``macroform-robot_dity`` holds a pure A4 (440 Hz) for 0.36 s every 4 s; the 20 ms frames
  take it for 450 Hz, the check of the interval's dominant frequency rejects it.

Pure: no I/O besides :func:`load_wav`, no asyncio, nothing else of the package.
"""

from __future__ import annotations

import io
import os
import wave
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

#: Sample rates of the recordings and prompts the simulator deals with (Asterisk's slin, slin16).
SUPPORTED_RATES = (8000, 16000)

#: A recording window quieter than this (RMS, full scale = 1; -60 dBFS) is silence: its
#: normalised correlation would divide round-off by round-off, so it scores 0 instead.
#: Any prompt on a phone line is tens of dB louder.
SILENCE_RMS = 1e-3

#: Frames of :func:`tone_intervals`. 20 ms holds exactly 9 cycles of 450 Hz (bins 50 Hz apart
#: at both 8 and 16 kHz), so a steady 450 Hz tone leaks nothing into the other bins.
TONE_FRAME_SECONDS = 0.020

#: Share of a frame's power at the tone frequency above which the frame is "tone". A pure tone
#: gives ~1, a frame half tone half silence 0.5; speech stays under it, music crosses it only
#: for a frame here and there, or on a held note near the frequency (see _near).
TONE_POWER_SHARE = 0.6

#: How far from the asked frequency a tone interval's dominant frequency may lie. Asterisk's
#: generator is exact and the caller's leg digital, so a few Hz is slack enough; it has to stay
#: well under 10 Hz to keep A4 = 440 Hz (common in music on hold) from passing for 450 Hz.
TONE_FREQUENCY_TOLERANCE = 4.0

#: Frames quieter than this (RMS, -50 dBFS) are not tone even if what little there is sits at
#: the frequency: hum or a tone's decay under the noise floor is not ringback the caller hears.
#: Asterisk plays indications at amplitude 7219 of 32768 (-13 dBFS) unless told otherwise.
TONE_MIN_RMS = 10 ** (-50 / 20)


@dataclass(frozen=True, eq=False)  # eq=False: == on arrays is elementwise, not a bool
class Audio:
    """Mono audio: ``samples`` as floats in -1..1 (full scale of 16-bit PCM = 1) at ``rate`` Hz."""

    samples: FloatArray
    rate: int

    def __post_init__(self) -> None:
        if self.samples.ndim != 1:
            raise ValueError(
                f"Audio samples must be one-dimensional (mono), got {self.samples.shape}"
            )
        if self.rate <= 0:
            raise ValueError(f"Audio rate must be positive, got {self.rate}")

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.rate


@dataclass(frozen=True)
class Match:
    """Where a phrase was found: ``at`` seconds from the recording's start, ``score`` 0..1."""

    at: float
    score: float


def load_wav(source: str | os.PathLike[str] | bytes) -> Audio:
    """Read a 16-bit PCM mono WAV at 8000 or 16000 Hz (a path, or the file's bytes).

    Raises ``ValueError`` naming the file and what is wrong with it for anything else (not a
    WAV, compressed, stereo, 8- or 24-bit, another rate, no samples).
    """
    name = "<wav bytes>" if isinstance(source, bytes) else os.fspath(source)
    try:
        with wave.open(io.BytesIO(source) if isinstance(source, bytes) else name, "rb") as wav:
            channels, width, rate, frames = (
                wav.getnchannels(),
                wav.getsampwidth(),
                wav.getframerate(),
                wav.getnframes(),
            )
            data = wav.readframes(frames)
    except (wave.Error, EOFError) as exc:
        # wave's own messages ("unknown format: 6", "file does not start with RIFF id") do not
        # say which file; a simulator run reads dozens.
        raise ValueError(f"{name}: not a PCM WAV file ({exc})") from exc
    if channels != 1:
        raise ValueError(f"{name}: {channels} channels, expected mono")
    if width != 2:
        raise ValueError(f"{name}: {8 * width}-bit samples, expected 16-bit PCM")
    if rate not in SUPPORTED_RATES:
        raise ValueError(f"{name}: {rate} Hz, expected one of {SUPPORTED_RATES}")
    if frames == 0 or not data:
        raise ValueError(f"{name}: no samples")
    pcm = np.frombuffer(data, dtype="<i2")  # WAV is little-endian whatever the host
    return Audio(pcm.astype(np.float64) / 32768.0, rate)


def resampled(audio: Audio, rate: int) -> Audio:
    """``audio`` at ``rate`` Hz, by linear interpolation (low-passed first when downsampling).

    Good enough for correlation at telephone bandwidth; not for listening.
    """
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    if rate == audio.rate:
        return audio
    if len(audio.samples) == 0:
        return Audio(audio.samples, rate)
    samples = audio.samples
    if rate < audio.rate:
        # Without it, 16 kHz content above 4 kHz folds back into the 8 kHz band as noise
        # that the prompt heard on an 8 kHz line never had.
        samples = _low_pass(samples, cutoff=0.45 * rate / audio.rate)
    count = int(np.floor(len(samples) * rate / audio.rate))
    positions = np.arange(count, dtype=np.float64) * (audio.rate / rate)
    return Audio(np.interp(positions, np.arange(len(samples)), samples), rate)


def _low_pass(samples: FloatArray, *, cutoff: float, taps: int = 63) -> FloatArray:
    """Windowed-sinc FIR low-pass; ``cutoff`` as a fraction of the sample rate (< 0.5)."""
    n = np.arange(taps, dtype=np.float64) - (taps - 1) / 2
    kernel = 2 * cutoff * np.sinc(2 * cutoff * n) * np.hamming(taps)
    kernel /= kernel.sum()  # unity gain at DC
    filtered: FloatArray = np.convolve(samples, kernel, mode="same")
    return filtered


def _phrase_samples(recording: Audio, phrase: Audio, head_seconds: float | None) -> FloatArray:
    samples = resampled(phrase, recording.rate).samples
    if head_seconds is not None:
        if head_seconds <= 0:
            raise ValueError(f"head_seconds must be positive, got {head_seconds}")
        samples = samples[: round(head_seconds * recording.rate)]
    if len(samples) == 0 or not np.any(samples):
        raise ValueError("phrase is empty or silent: nothing to look for")
    return samples


def _window(recording: Audio, start: float, end: float | None) -> tuple[int, FloatArray]:
    first = max(0, round(start * recording.rate))
    last = len(recording.samples) if end is None else round(end * recording.rate)
    last = min(last, len(recording.samples))
    return first, recording.samples[first : max(first, last)]


def _fast_length(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n: numpy's FFT is as fast on these as on a power of two
    (and slow on large primes), and one lies within a few per cent of n where the next power
    of two can be nearly twice it."""
    best = 1 << (n - 1).bit_length()
    fives = 1
    while fives < best:
        threes = fives
        while threes < best:
            length = threes
            while length < n:
                length *= 2
            best = min(best, length)
            threes *= 3
        fives *= 5
    return best


def _correlation(segment: FloatArray, phrase: FloatArray) -> FloatArray:
    """``dot(segment[k:k+n], phrase)`` for every lag ``k`` with the phrase fully inside.

    By FFT, in overlap-save blocks of about 4 phrase lengths rather than one transform of the
    whole segment: the smaller transforms stay in cache, which measured 3x faster on 90 s x 5 s
    at 8 kHz (about 20 ms instead of 65 ms).
    """
    n = len(phrase)
    lags = len(segment) - n + 1
    # A block's circular correlation is the linear one for its first size - n + 1 lags.
    size = min(_fast_length(4 * n), _fast_length(len(segment) + n - 1))
    step = size - n + 1
    conjugate = np.conj(np.fft.rfft(phrase, size))
    dots = np.empty(lags)
    for first in range(0, lags, step):
        block = np.fft.irfft(np.fft.rfft(segment[first : first + size], size) * conjugate, size)
        count = min(step, lags - first)
        dots[first : first + count] = block[:count]
    return dots


def _scores(segment: FloatArray, phrase: FloatArray) -> FloatArray:
    """Normalised cross-correlation of ``phrase`` at every lag fully inside ``segment``."""
    n = len(phrase)
    lags = len(segment) - n + 1
    dots = _correlation(segment, phrase)
    # Window energies from one cumulative sum: O(len) instead of O(len * n).
    cumulative = np.concatenate(([0.0], np.cumsum(segment * segment)))
    energies = np.maximum(cumulative[n:] - cumulative[:-n], 0.0)  # cumsum round-off can dip < 0
    norms = np.sqrt(energies) * float(np.linalg.norm(phrase))
    audible = energies > n * SILENCE_RMS**2
    scores = np.zeros(lags)
    np.divide(dots, norms, out=scores, where=audible)
    # The caller's leg is digital end to end (no polarity inversion): an anti-correlated
    # window is not the prompt heard, so negative scores count as 0. The clip at 1 only
    # absorbs round-off.
    clipped: FloatArray = np.clip(scores, 0.0, 1.0)
    return clipped


def find_phrase(
    recording: Audio,
    phrase: Audio,
    *,
    start: float = 0.0,
    end: float | None = None,
    head_seconds: float | None = None,
) -> Match | None:
    """Best match of ``phrase`` whose whole length lies in ``[start, end)`` s of ``recording``.

    ``phrase`` is resampled to the recording's rate. With ``head_seconds`` only the phrase's
    first seconds are looked for: a prompt cut short (by an unhold, the hang-up, the end of the
    recording) still matches on the part that was played. ``None`` when the window is shorter
    than the (head of the) phrase.
    """
    samples = _phrase_samples(recording, phrase, head_seconds)
    first, segment = _window(recording, start, end)
    if len(segment) < len(samples):
        return None
    scores = _scores(segment, samples)
    best = int(np.argmax(scores))
    return Match(at=(first + best) / recording.rate, score=float(scores[best]))


#: :func:`slip_tolerant_score`: the phrase is judged in pieces this long, each free to move by
#: up to :data:`SLIP_SLACK_SECONDS` from where the piece before it sat.
SLIP_PIECE_SECONDS = 0.5
#: Two 20 ms frames: a jitter buffer that drops or inserts a frame shifts the rest of the
#: prompt by one frame; two slips within a second are the most seen on a loaded machine.
SLIP_SLACK_SECONDS = 0.045


def slip_tolerant_score(
    recording: Audio,
    phrase: Audio,
    at: float,
    *,
    head_seconds: float | None = None,
) -> float:
    """The score of ``phrase`` heard from ``at`` s, forgiving frame slips inside it.

    A phone line's jitter buffer may drop or repeat a 20 ms frame in the middle of a prompt:
    everything after the slip is shifted by a frame, and the whole-phrase correlation of
    :func:`find_phrase` falls (0.425 measured for a prompt heard cleanly but for one slip).
    Here the phrase is cut into :data:`SLIP_PIECE_SECONDS` pieces; each piece is placed where
    it correlates best within :data:`SLIP_SLACK_SECONDS` of where the piece before it ended
    (the first piece: of ``at``), and the score is the cosine between the phrase and the
    recording's pieces so placed: the whole-phrase score when nothing slipped. 0 when the
    recording ends before the phrase does.
    """
    samples = _phrase_samples(recording, phrase, head_seconds)
    rate = recording.rate
    piece = round(SLIP_PIECE_SECONDS * rate)
    slack = round(SLIP_SLACK_SECONDS * rate)
    shift = 0  # where the last piece sat, relative to its place without slips
    dots = 0.0
    energy = 0.0
    for begin in range(0, len(samples), piece):
        part = samples[begin : begin + piece]
        nominal = round(at * rate) + begin + shift
        if np.any(part):
            first = max(0, nominal - slack)
            window = recording.samples[first : nominal + len(part) + slack]
            if len(window) < len(part):
                return 0.0
            best = int(np.argmax(_scores(window, part)))
            shift += first + best - nominal
            nominal = first + best
        heard = recording.samples[max(0, nominal) : nominal + len(part)]
        if len(heard) < len(part):
            return 0.0
        dots += float(np.dot(heard, part))
        energy += float(np.dot(heard, heard))
    if energy <= len(samples) * SILENCE_RMS**2:
        return 0.0
    score = dots / (np.sqrt(energy) * float(np.linalg.norm(samples)))
    return float(np.clip(score, 0.0, 1.0))


def find_phrases(
    recording: Audio,
    phrase: Audio,
    *,
    threshold: float,
    start: float = 0.0,
    end: float | None = None,
    head_seconds: float | None = None,
) -> list[Match]:
    """Every non-overlapping occurrence of ``phrase`` scoring at least ``threshold``, by time.

    Greedy: the best peak, then the peaks within one phrase length of it are dropped (they are
    the same occurrence's shoulders), repeat. Window and ``head_seconds`` as :func:`find_phrase`.
    """
    samples = _phrase_samples(recording, phrase, head_seconds)
    first, segment = _window(recording, start, end)
    if len(segment) < len(samples):
        return []
    scores = _scores(segment, samples)
    n = len(samples)
    found: list[Match] = []
    while True:
        best = int(np.argmax(scores))
        if scores[best] < threshold or scores[best] <= 0.0:
            break
        found.append(Match(at=(first + best) / recording.rate, score=float(scores[best])))
        scores[max(0, best - n + 1) : best + n] = 0.0  # -1: the next match may start at best+n
    return sorted(found, key=lambda match: match.at)


def tone_intervals(
    recording: Audio, *, frequency: float = 450.0, min_seconds: float = 0.3
) -> list[tuple[float, float]]:
    """The ``(start, end)`` seconds where a steady tone at ``frequency`` Hz dominates.

    Per 20 ms frame, the frame's power at ``frequency`` (one DFT bin, as Goertzel would) over
    its total power; a frame above 0.6 that is not near-silent is tone. Consecutive tone frames
    merge into one interval; intervals shorter than ``min_seconds`` are dropped (a sung note
    can hold a frame or two), and so are those whose dominant frequency, measured over the
    whole interval, is more than 4 Hz off (a held A4 = 440 Hz in music on hold passes every
    20 ms frame). Resolution is one frame.
    """
    size = round(TONE_FRAME_SECONDS * recording.rate)
    count = len(recording.samples) // size
    if count == 0:
        return []
    frames = recording.samples[: count * size].reshape(count, size)
    phase = np.exp(-2j * np.pi * frequency * np.arange(size) / recording.rate)
    at_frequency = np.abs(frames @ phase) ** 2
    energy = np.einsum("ij,ij->i", frames, frames)
    # A sinusoid of amplitude A over N samples: |X(f)|^2 = (A N / 2)^2, energy A^2 N / 2, so
    # 2 |X|^2 / (N * energy) is the share of the frame's power at f (1 for the pure tone).
    audible = energy > size * TONE_MIN_RMS**2
    share = np.zeros(count)
    np.divide(2 * at_frequency, size * energy, out=share, where=audible)
    tone = share > TONE_POWER_SHARE
    # Edges of runs of tone frames: +1 where a run starts, -1 just past where it ends.
    edges = np.diff(np.concatenate(([0], tone.astype(np.int8), [0])))
    starts: list[int] = np.flatnonzero(edges == 1).tolist()
    ends: list[int] = np.flatnonzero(edges == -1).tolist()
    frame = size / recording.rate
    return [
        (s * frame, e * frame)
        for s, e in zip(starts, ends, strict=True)
        if (e - s) * frame >= min_seconds
        and _near(recording, s * size, e * size, frequency=frequency)
    ]


def _near(recording: Audio, first: int, last: int, *, frequency: float) -> bool:
    """Whether the dominant frequency of ``samples[first:last]`` is ``frequency`` ± tolerance.

    A 20 ms frame cannot tell 440 from 450 Hz (its bins are 50 Hz apart), and real music on
    hold holds A4 = 440 Hz: macroform-robot_dity sounds it alone for 0.36 s every 4 s, which
    passes the frame test. The whole interval (0.3 s or more) resolves a few Hz.
    """
    segment = recording.samples[first : min(last, first + recording.rate)]  # 1 s is plenty
    # Hann window: a tone's spectral peak stays where it is instead of smearing into sidelobes;
    # zero-padding to a 0.5 Hz grid locates it finely.
    size = _fast_length(max(len(segment), 2 * recording.rate))
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment)), size))
    peak = float(np.argmax(spectrum)) * recording.rate / size
    return abs(peak - frequency) <= TONE_FREQUENCY_TOLERANCE


def tone_onset(
    recording: Audio, *, frequency: float = 450.0, min_seconds: float = 0.3
) -> float | None:
    """When the tone first sounds (start of :func:`tone_intervals`' first interval), or None."""
    intervals = tone_intervals(recording, frequency=frequency, min_seconds=min_seconds)
    return intervals[0][0] if intervals else None
