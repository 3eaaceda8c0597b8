"""What a callback call says and how it reacts to keys (STANDARDS.md S5), without any I/O.

Theory of operation: :class:`SurveyScript` is a small state machine. The runner
(``callbacks/call.py``) asks it for the first :class:`Ask`, plays the prompts the step
names, waits for one key (or a timeout), and feeds the answer back with :meth:`answer`,
which returns the next step: another :class:`Ask`, or :class:`End` (play the closing
prompts, then hang up). If the customer hangs up, :meth:`hung_up` says what came of it.

The script:

* **Opening** (``callback_opening`` with the customer's name and the company): ``1`` =
  continue, ``2`` = not now. Another key → ``invalid_key`` and the opening once more;
  silence → the opening once more. A second miss counts as "not now": the customer
  never agreed, so no survey is run (``callback_not_convenient``, outcome ``rescheduled``).
* **A better time** (S5: on "not convenient", apologise and ask for a better time): key 2
  → ``callback_better_time``, keys ``1`` later today, ``2`` tomorrow morning, ``3``
  tomorrow afternoon (:data:`BETTER_TIME_KEYS`); then ``callback_not_convenient``, outcome
  ``rescheduled`` with the choice (the next attempt goes there). Another key or none: the
  same goodbye without a choice (the usual retry) — the customer is busy, one question is
  enough. Hanging up during the question is still "not now", not a failure.
* **Problem solved?** (S5: confirm the service was done and the problem solved before
  scoring; callbacks about a service or a resolved complaint, ``ask_solved``): after the
  confidentiality line (``survey_confidential``), ``survey_problem_solved`` — ``1`` solved,
  ``2`` not solved (``survey_follow_up``: someone will follow it up; the callback is flagged
  for follow-up). Another key → ``invalid_key`` and the question again; silence → the
  question again; a second miss leaves the answer unknown and goes on to the scores.
* **Five questions**, keys ``1``–``5``, as the handbooks script them: the first after the
  confidentiality line (or the answer to the problem question), each next one after a short
  thanks (``survey_thanks``). Another key → ``survey_invalid_input`` then the question again;
  silence → the question again.
* **Closing**: with a hotline configured (``IVR_AGENT_HOTLINE``) first ``callback_hotline``
  ("如有需要,请拨打我们的服务热线{hotline}"), then ``callback_closing``; outcome ``completed``
  (all five scores given).

Decisions where the standard is silent:

* A question still unanswered after its repeat ends the survey politely (the closing
  prompt) with outcome ``declined``: the customer agreed to listen but will not score, and
  calling them again would only repeat that. (``completed`` needs all five scores: the
  **satisfaction index** S5 defines is the mean of the five, not of fewer.)
* Scores the customer gave are always kept, even when the survey ends early (they are the
  customer's answers, and the call is recorded); the index exists only when all five are.
* Customer hangs up before the closing → outcome ``hung_up`` (S5: never redial at once,
  retried after the minimum interval), scores so far kept. Hanging up during the closing
  prompt, once every question was asked, still counts as ``completed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from ivr_agent.core.callbacks import BetterTime, ScriptOutcome
from ivr_agent.core.satisfaction import INDICES, SCORE_MAX, SCORE_MIN, satisfaction_index

#: The five S5 survey indices (:data:`ivr_agent.core.satisfaction.INDICES`), in the order
#: they are asked, with the prompt asking each (``survey_<index>``).
SURVEY: tuple[tuple[str, str], ...] = tuple((name, f"survey_{name}") for name in INDICES)
INDEX_NAMES: tuple[str, ...] = INDICES

CONSENT_KEYS = frozenset("12")
#: Callbacks that ask whether the problem was solved: those that follow a service or a
#: resolved complaint (an abandoned caller received no service to ask about).
ASKS_IF_SOLVED = frozenset({"service_completed", "complaint_resolved"})
#: "Has the problem been solved?": ``1`` yes, ``2`` no.
SOLVED_KEYS: Mapping[str, bool] = MappingProxyType({"1": True, "2": False})
SCORE_KEYS = frozenset("12345")
#: The keypad choices of a better time (:data:`ivr_agent.core.callbacks.BetterTime`).
BETTER_TIME_KEYS: Mapping[str, BetterTime] = MappingProxyType(
    {"1": "later_today", "2": "tomorrow_morning", "3": "tomorrow_afternoon"}
)

Phase = Literal["opening", "better_time", "solved", "survey", "closing", "ended"]


@dataclass(frozen=True)
class Prompt:
    """One prompt to play: a catalogue name and the variables it needs."""

    name: str
    variables: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Ask:
    """Play ``prompts`` in order, then wait for one key; answer with :meth:`SurveyScript.answer`."""

    prompts: tuple[Prompt, ...]
    valid_keys: frozenset[str]


@dataclass(frozen=True)
class End:
    """Play ``prompts`` (may be empty), then hang up; the call's outcome is ``outcome``."""

    prompts: tuple[Prompt, ...]
    outcome: ScriptOutcome


Step = Ask | End


@dataclass(frozen=True)
class ScriptResult:
    """What the call produced: its outcome, the scores given, and the satisfaction index."""

    outcome: ScriptOutcome
    consented: bool
    scores: Mapping[str, int]
    satisfaction_index: float | None
    #: "Not now": when the customer would rather be called (None: no choice).
    better_time: BetterTime | None = None
    #: The answer to "has the problem been solved?" (None: not asked, or no answer).
    problem_solved: bool | None = None


class ScriptError(RuntimeError):
    """The script was driven out of order (a bug in the runner); names the phase."""


class SurveyScript:
    """One callback call's script. ``progress`` restores one resumed after an agent restart.

    ``ask_solved``: ask whether the problem was solved before the scores (service and
    complaint callbacks); ``hotline``: the closing gives the hotline number
    (``callback_hotline``). ``consented``, ``solved_asked``, ``problem_solved``, ``scores``
    and ``asked`` restore a call resumed after an agent restart (from its journal).
    """

    def __init__(
        self,
        customer_name: str,
        company: str,
        *,
        ask_solved: bool = False,
        hotline: bool = False,
        consented: bool = False,
        solved_asked: bool = False,
        problem_solved: bool | None = None,
        scores: Mapping[str, int] | None = None,
        asked: int = 0,
    ) -> None:
        if not 0 <= asked <= len(SURVEY):
            raise ValueError(f"asked must be 0-{len(SURVEY)} (got {asked})")
        bad = {
            k: v
            for k, v in (scores or {}).items()
            if k not in INDEX_NAMES or not SCORE_MIN <= v <= SCORE_MAX
        }
        if bad:
            raise ValueError(f"scores must be 1-5 for the survey indices (got {bad})")
        self._opening = Prompt(
            "callback_opening",
            MappingProxyType({"customer_name": customer_name, "company": company}),
        )
        closing = (Prompt("callback_hotline"),) if hotline else ()
        self._closing: tuple[Prompt, ...] = (*closing, Prompt("callback_closing"))
        self.consented = consented
        #: The problem question was dealt with (answered, or missed twice), or is not asked.
        self.solved_asked = solved_asked or not ask_solved
        self.problem_solved = problem_solved
        self.scores: dict[str, int] = dict(scores or {})
        #: Questions finished (answered or skipped); the next one asked is ``SURVEY[asked]``.
        self.asked = asked
        self.misses = 0
        self.phase: Phase = "opening"
        if consented:
            self.phase = "survey" if self.solved_asked else "solved"
        self.outcome: ScriptOutcome | None = None
        self.better_time: BetterTime | None = None

    # --- driving ------------------------------------------------------------------------

    def first(self) -> Step:
        """The first step (for a resumed script: the question it was at, asked again)."""
        if self.phase == "opening":
            return Ask((self._opening,), CONSENT_KEYS)
        if self.phase == "solved":
            return self._solved_question()
        return self._question_or_closing()

    def answer(self, key: str | None) -> Step:
        """Feed the key pressed after the last :class:`Ask` (None: nothing before the timeout)."""
        if self.phase == "opening":
            return self._consent(key)
        if self.phase == "better_time":
            self.better_time = BETTER_TIME_KEYS.get(key or "")
            return self._end((Prompt("callback_not_convenient"),), "rescheduled")
        if self.phase == "solved":
            return self._solved(key)
        if self.phase == "survey":
            return self._score(key)
        raise ScriptError(f"no question is open in phase {self.phase!r}")

    def hung_up(self) -> ScriptResult:
        """The customer hung up now: the result of the call so far."""
        if self.outcome is None:
            self.outcome = "completed" if self.phase == "closing" else "hung_up"
        self.phase = "ended"
        return self.result()

    def finished(self) -> ScriptResult:
        """The closing (or not-now) prompt was played: the result of the call."""
        if self.outcome is None:
            raise ScriptError(f"the script has not ended (phase {self.phase!r})")
        self.phase = "ended"
        return self.result()

    def result(self) -> ScriptResult:
        """The result as it stands (outcome ``hung_up`` while the script still runs)."""
        scores = MappingProxyType(dict(self.scores))
        complete = len(scores) == len(SURVEY)
        return ScriptResult(
            outcome=self.outcome or "hung_up",
            consented=self.consented,
            scores=scores,
            satisfaction_index=round(satisfaction_index(scores), 3) if complete else None,
            better_time=self.better_time,
            problem_solved=self.problem_solved,
        )

    # --- the phases ---------------------------------------------------------------------

    def _consent(self, key: str | None) -> Step:
        if key == "1":
            self.consented = True
            self.misses = 0
            if not self.solved_asked:
                self.phase = "solved"
                return self._solved_question(lead=(Prompt("survey_confidential"),))
            self.phase = "survey"
            return self._question_or_closing(lead=(Prompt("survey_confidential"),))
        if key == "2":
            self.phase = "better_time"
            self.outcome = "rescheduled"  # whatever comes next, the customer said "not now"
            return Ask((Prompt("callback_better_time"),), frozenset(BETTER_TIME_KEYS))
        if self.misses >= 1:
            return self._end((Prompt("callback_not_convenient"),), "rescheduled")
        self.misses += 1
        return Ask(self._retry_prompts(key, self._opening, "invalid_key"), CONSENT_KEYS)

    def _solved_question(self, lead: tuple[Prompt, ...] = ()) -> Ask:
        return Ask((*lead, Prompt("survey_problem_solved")), frozenset(SOLVED_KEYS))

    def _solved(self, key: str | None) -> Step:
        answer = SOLVED_KEYS.get(key or "")
        if answer is None and self.misses == 0:
            self.misses = 1
            return Ask(
                self._retry_prompts(key, Prompt("survey_problem_solved"), "invalid_key"),
                frozenset(SOLVED_KEYS),
            )
        # Two misses: the answer stays unknown; the scores are still worth asking.
        self.problem_solved = answer
        self.solved_asked = True
        self.phase = "survey"
        self.misses = 0
        lead = Prompt("survey_follow_up") if answer is False else Prompt("survey_thanks")
        return self._question_or_closing(lead=(lead,))

    def _score(self, key: str | None) -> Step:
        index, prompt = SURVEY[self.asked]
        if key is not None and key in SCORE_KEYS:
            self.scores[index] = int(key)
        elif self.misses == 0:
            self.misses = 1
            return Ask(self._retry_prompts(key, Prompt(prompt)), SCORE_KEYS)
        else:
            return self._end(self._closing, "declined")
        self.asked += 1
        self.misses = 0
        return self._question_or_closing(lead=(Prompt("survey_thanks"),))

    def _question_or_closing(self, lead: tuple[Prompt, ...] = ()) -> Step:
        """The next question (after ``lead``), or the closing once all were asked."""
        if self.asked < len(SURVEY):
            return Ask((*lead, Prompt(SURVEY[self.asked][1])), SCORE_KEYS)
        self.phase = "closing"
        return self._end(self._closing, "completed")

    def _end(self, prompts: tuple[Prompt, ...], outcome: ScriptOutcome) -> End:
        self.outcome = outcome
        if outcome != "completed":
            self.phase = "closing"
        return End(prompts, outcome)

    @staticmethod
    def _retry_prompts(
        key: str | None, prompt: Prompt, invalid: str = "survey_invalid_input"
    ) -> tuple[Prompt, ...]:
        # A wrong key is told so; silence just hears the question again.
        return (Prompt(invalid), prompt) if key is not None else (prompt,)
