"""Scenarios for the phone simulator: what callers, operators and customers do, and when.

A scenario is a TOML file (shipped ones live in ``ivr_agent/sim/scenarios/``)::

    name = "basic"
    description = "one call: answered after 2 s, a 5 s hold, the operator hangs up"

    [[calls]]                  # an inbound caller
    id = "basic"
    caller = "13800138001"     # the caller's number (caller id toward the PBX)
    dial = "4008001000"        # the number dialled (default: the hotline)
    start = 0.0                # seconds after the run starts
    operator = "001"           # who answers ("any": the first offered; omit: nobody)
    answer_after = 2.0         # seconds the operator's phone rings before it is answered
                               # (the caller may have waited longer: queued behind others)
    talk = 20.0                # seconds from the answer to the hang-up
    hangup = "operator"        # who ends it: caller | operator (hangs up first) |
                               # handover (the operator's phone transfers the caller to
                               # the satisfaction question: a SIP REFER to HANDOVER_EXTENSION)
    holds = [{ start = 5.0, seconds = 5.0 }]       # relative to the answer; by = "mute":
                               # the operator's mute key (*6) instead of the phone's hold
    speech = [{ after_connect = 1.0, say = "ivr-sim/hello" }]   # or after_answer, or:
    # { after_prompt = 2, say = "ivr-sim/question" }: 0.5 s after the 2nd prompt the caller
    # hears once answered ends (heard by talk detection on the caller's own line)
    operator_speech = [{ after_answer = 1.0, say = "ivr-sim/hello" }]   # the operator talks
    survey_digit = "1"         # hangup = "operator" or "handover": the key the caller presses
                               # when the first prompt heard after the operator left ends
    suggestion = "ivr-sim/question"   # with survey_digit = "2": what the caller says when
                               # the next prompt (the invitation to speak) ends; then the
                               # caller stays silent and the agent's silence limit ends it

    [[calls]]
    id = "abandon"
    caller = "13800138002"
    abandon_after = 3.0        # nobody answers: the caller hangs up 3 s after it began to
                               # wait (hear ringback, or its phone was told "ringing")

    [[calls]]
    id = "keeps_place"
    caller = "13800138003"
    dial = "4008003000"        # the callback line: its queue offers a return call
    queue_callback_after = 10.0  # 10 s into the wait (past the offer), the caller presses 1,
                               # hears the confirmation and is hung up by the PBX; their
                               # return call is a [[callbacks]] entry with the same number

    [[callbacks]]              # a customer the PBX calls back
    id = "survey"
    number = "13900139001"
    behaviour = "answer"       # answer | no_answer | busy | reject
    answer_after = 4.0
    digits = ["1", "5", "4", "5", "5", "4"]   # one key each time a prompt ends
    originate = true           # the sandbox places the call (demo survey) instead of the agent
    operator_answer_after = 2.0  # a return call (S8): the operator's phone that the queue
                               # rings for this customer answers after 2 s (none: rings only)
    specialist = "012"         # a specialist call-back (S8): this operator's phone (8012)
    specialist_answer_after = 2.0  # rings first and answers after 2 s; then this customer

Every duration is in seconds; :meth:`Scenario.scaled` multiplies them all.
"""

from __future__ import annotations

import random
import re
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from ivr_agent.core.phone import is_dialable

HOTLINE = "4008001000"
DIRECT_LINE = "4008002000"
#: The hotline's operators 001-010, and the overflow desks 011-060 (011: the callback line).
OPERATOR_IDS = tuple(f"{n:03d}" for n in range(1, 61))
#: Where an operator transfers the caller to hand them over to the satisfaction question
#: (the sandbox PBX's ``from-operators`` sends it to the hook ``ivr-agent-survey-handover``).
HANDOVER_EXTENSION = "8000"
_SOUND = re.compile(r"^[A-Za-z0-9_\-/.]{1,100}$")

Behaviour = Literal["answer", "no_answer", "busy", "reject"]
#: How an answered call ends: the caller or the operator hangs up, or the operator hands
#: the caller over to the satisfaction question (a blind transfer).
Ending = Literal["caller", "operator", "handover"]
ENDINGS: tuple[Ending, ...] = ("caller", "operator", "handover")


class ScenarioError(ValueError):
    """A scenario file is invalid; the message names the call and the field."""


@dataclass(frozen=True)
class Speech:
    """The caller says ``say`` (a sound name) at one moment, given exactly one way.

    ``after_connect`` / ``after_answer``: seconds after the PBX answered the caller / after the
    operator answered. ``after_prompt``: reacting to what the caller hears — ``delay`` seconds
    after the N-th stretch of audio heard since the operator answered has ended.
    """

    say: str
    after_connect: float | None = None
    after_answer: float | None = None
    after_prompt: int | None = None
    delay: float = 0.5


@dataclass(frozen=True)
class Hold:
    """The operator holds the caller ``start`` s after answering, for ``seconds``; ``by``
    ``hold`` (the phone's hold: music) or ``mute`` (the operator's mute key ``*6``: silence,
    S2 handles it like a hold)."""

    start: float
    seconds: float
    by: Literal["hold", "mute"] = "hold"


@dataclass(frozen=True)
class InboundCall:
    """One caller dialling the call centre, and what its operator does."""

    id: str
    caller: str
    dial: str = HOTLINE
    start: float = 0.0
    operator: str | None = None
    answer_after: float | None = None
    abandon_after: float | None = None
    talk: float | None = None
    hangup: Ending = "caller"
    holds: tuple[Hold, ...] = ()
    speech: tuple[Speech, ...] = ()
    operator_speech: tuple[Speech, ...] = ()
    survey_digit: str | None = None
    suggestion: str | None = None
    #: S8: press 1 this many seconds into the wait (the in-queue callback offer) and leave.
    queue_callback_after: float | None = None

    @property
    def operator_extension(self) -> str | None:
        """The phones-side extension of the answering operator (``001`` → ``8001``)."""
        if self.operator is None or self.operator == "any":
            return None
        return f"8{self.operator}"


@dataclass(frozen=True)
class CallbackCustomer:
    """A customer the PBX calls back, and how they react."""

    id: str
    number: str
    behaviour: Behaviour = "answer"
    answer_after: float = 3.0
    digits: tuple[str, ...] = ()
    hangup_after: float | None = None
    originate: bool = False
    start: float = 0.0
    wait: float = 120.0
    #: A return call (S8): the operator leg the queue rings for this customer (it carries
    #: their number) is answered after this many seconds; None: it only rings.
    operator_answer_after: float | None = None
    #: A specialist call-back (S8): the specialist (operator id) whose phone the PBX rings
    #: before this customer's, answered after ``specialist_answer_after`` seconds.
    specialist: str | None = None
    specialist_answer_after: float = 2.0

    @property
    def specialist_extension(self) -> str | None:
        """The phones-side extension of the specialist (``012`` → ``8012``)."""
        return None if self.specialist is None else f"8{self.specialist}"


@dataclass(frozen=True)
class Scenario:
    """A named set of inbound calls and callback customers (they may overlap in time)."""

    name: str
    description: str = ""
    calls: tuple[InboundCall, ...] = ()
    callbacks: tuple[CallbackCustomer, ...] = ()
    time_scale: float = 1.0

    def callbacks_from_agent(self) -> Scenario:
        """The same scenario with every callback awaited from the agent, none placed by us."""
        return replace(self, callbacks=tuple(replace(b, originate=False) for b in self.callbacks))

    def scaled(self, factor: float) -> Scenario:
        """The same scenario with every duration multiplied by ``factor``."""
        if factor <= 0:
            raise ScenarioError("time scale must be positive")
        if factor == 1.0:
            return self

        def s(value: float | None) -> float | None:
            return None if value is None else value * factor

        calls = tuple(
            replace(
                c,
                start=c.start * factor,
                answer_after=s(c.answer_after),
                abandon_after=s(c.abandon_after),
                queue_callback_after=s(c.queue_callback_after),
                talk=s(c.talk),
                holds=tuple(Hold(h.start * factor, h.seconds * factor, h.by) for h in c.holds),
                speech=tuple(
                    replace(
                        x,
                        after_connect=s(x.after_connect),
                        after_answer=s(x.after_answer),
                        delay=x.delay * factor,
                    )
                    for x in c.speech
                ),
                operator_speech=tuple(
                    replace(x, after_answer=s(x.after_answer)) for x in c.operator_speech
                ),
            )
            for c in self.calls
        )
        callbacks = tuple(
            replace(
                b,
                start=b.start * factor,
                answer_after=b.answer_after * factor,
                hangup_after=s(b.hangup_after),
                operator_answer_after=s(b.operator_answer_after),
                specialist_answer_after=b.specialist_answer_after * factor,
            )
            for b in self.callbacks
        )
        return replace(self, calls=calls, callbacks=callbacks, time_scale=self.time_scale * factor)


# --- parsing -------------------------------------------------------------------------------


def _seconds(where: str, name: str, value: Any, *, optional: bool = True) -> float | None:
    if value is None:
        if optional:
            return None
        raise ScenarioError(f"{where}: {name} is required")
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 86_400:
        raise ScenarioError(f"{where}: {name} must be seconds between 0 and 86400 (got {value!r})")
    return float(value)


def _number(where: str, name: str, value: Any) -> str:
    if not is_dialable(value):
        raise ScenarioError(
            f"{where}: {name} must be a phone number of 3-20 digits (got {value!r})"
        )
    return value


def _check_keys(where: str, table: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {', '.join(unknown)}")


def _speech(where: str, raw: Any) -> Speech:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: each speech entry must be a table")
    _check_keys(where, raw, {"say", "after_connect", "after_answer", "after_prompt", "delay"})
    say = raw.get("say", "ivr-sim/question")
    if not isinstance(say, str) or not _SOUND.match(say):
        raise ScenarioError(f"{where}: say must be a sound name like ivr-sim/question")
    after_connect = _seconds(where, "after_connect", raw.get("after_connect"))
    after_answer = _seconds(where, "after_answer", raw.get("after_answer"))
    after_prompt = raw.get("after_prompt")
    if after_prompt is not None and (
        isinstance(after_prompt, bool) or not isinstance(after_prompt, int) or after_prompt < 1
    ):
        raise ScenarioError(f"{where}: after_prompt must be a prompt count (1, 2, …)")
    given = [v for v in (after_connect, after_answer, after_prompt) if v is not None]
    if len(given) != 1:
        raise ScenarioError(
            f"{where}: give exactly one of after_connect, after_answer, after_prompt"
        )
    delay = _seconds(where, "delay", raw.get("delay", 0.5))
    return Speech(
        say=say,
        after_connect=after_connect,
        after_answer=after_answer,
        after_prompt=after_prompt,
        delay=0.5 if delay is None else delay,
    )


def _call(index: int, raw: Any) -> InboundCall:
    where = f"calls[{index}]"
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: must be a table")
    allowed = {"id", "caller", "dial", "start", "operator", "answer_after", "abandon_after"}
    _check_keys(
        where,
        raw,
        allowed
        | {"talk", "hangup", "holds", "speech", "operator_speech", "survey_digit", "suggestion"}
        | {"queue_callback_after"},
    )
    call_id = str(raw.get("id", f"call{index + 1}"))
    where = f"calls[{index}] ({call_id})"
    operator = raw.get("operator")
    if operator is not None and operator != "any" and operator not in OPERATOR_IDS:
        raise ScenarioError(f"{where}: operator must be one of 001-060 or 'any'")
    answer_after = _seconds(where, "answer_after", raw.get("answer_after"))
    abandon_after = _seconds(where, "abandon_after", raw.get("abandon_after"))
    queue_callback_after = _seconds(where, "queue_callback_after", raw.get("queue_callback_after"))
    talk = _seconds(where, "talk", raw.get("talk"))
    if operator is not None:
        if answer_after is None or talk is None:
            raise ScenarioError(f"{where}: an answered call needs answer_after and talk")
        if abandon_after is not None or queue_callback_after is not None:
            raise ScenarioError(
                f"{where}: abandon_after and queue_callback_after are for calls nobody answers"
            )
    elif (abandon_after is None) == (queue_callback_after is None):
        raise ScenarioError(
            f"{where}: give operator (answered), abandon_after (abandoned) or "
            "queue_callback_after (leaves the queue for a return call)"
        )
    hangup = raw.get("hangup", "caller")
    if hangup not in ENDINGS:
        raise ScenarioError(f"{where}: hangup must be caller, operator or handover")
    holds = []
    for n, hold in enumerate(raw.get("holds", [])):
        hw = f"{where}.holds[{n}]"
        if not isinstance(hold, dict):
            raise ScenarioError(f"{hw}: must be a table")
        _check_keys(hw, hold, {"start", "seconds", "by"})
        by = hold.get("by", "hold")
        if by not in ("hold", "mute"):
            raise ScenarioError(f"{hw}: by must be hold or mute")
        start = _seconds(hw, "start", hold.get("start"), optional=False)
        seconds = _seconds(hw, "seconds", hold.get("seconds"), optional=False)
        assert start is not None
        assert seconds is not None
        if talk is not None and start + seconds > talk:
            raise ScenarioError(f"{hw}: the hold must end before the hang-up (talk = {talk})")
        holds.append(Hold(start, seconds, by))
    speech = tuple(_speech(f"{where}.speech[{n}]", s) for n, s in enumerate(raw.get("speech", [])))
    operator_speech = tuple(
        _speech(f"{where}.operator_speech[{n}]", s)
        for n, s in enumerate(raw.get("operator_speech", []))
    )
    if any(s.after_answer is None for s in operator_speech):
        raise ScenarioError(f"{where}: operator_speech is timed with after_answer only")
    survey_digit = raw.get("survey_digit")
    if survey_digit is not None:
        if not isinstance(survey_digit, str) or not re.fullmatch(r"[0-9*#]", survey_digit):
            raise ScenarioError(f"{where}: survey_digit must be one key like '1'")
        if hangup == "caller":
            raise ScenarioError(f"{where}: survey_digit needs hangup = 'operator' or 'handover'")
    suggestion = raw.get("suggestion")
    if suggestion is not None:
        if not isinstance(suggestion, str) or not _SOUND.match(suggestion):
            raise ScenarioError(f"{where}: suggestion must be a sound name like ivr-sim/question")
        if survey_digit != "2":
            raise ScenarioError(f"{where}: suggestion needs survey_digit = '2'")
    return InboundCall(
        id=call_id,
        caller=_number(where, "caller", raw.get("caller")),
        dial=_number(where, "dial", raw.get("dial", HOTLINE)),
        start=_seconds(where, "start", raw.get("start", 0.0)) or 0.0,
        operator=operator,
        answer_after=answer_after,
        abandon_after=abandon_after,
        talk=talk,
        hangup=hangup,
        holds=tuple(holds),
        speech=speech,
        operator_speech=operator_speech,
        survey_digit=survey_digit,
        suggestion=suggestion,
        queue_callback_after=queue_callback_after,
    )


def _callback(index: int, raw: Any) -> CallbackCustomer:
    where = f"callbacks[{index}]"
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: must be a table")
    allowed = {"id", "number", "behaviour", "answer_after", "digits", "hangup_after"}
    _check_keys(
        where,
        raw,
        allowed
        | {"originate", "start", "wait", "operator_answer_after"}
        | {"specialist", "specialist_answer_after"},
    )
    cb_id = str(raw.get("id", f"callback{index + 1}"))
    where = f"callbacks[{index}] ({cb_id})"
    behaviour = raw.get("behaviour", "answer")
    if behaviour not in ("answer", "no_answer", "busy", "reject"):
        raise ScenarioError(f"{where}: behaviour must be answer, no_answer, busy or reject")
    digits = raw.get("digits", [])
    if not isinstance(digits, list) or not all(
        isinstance(d, str) and re.fullmatch(r"[0-9*#]", d) for d in digits
    ):
        raise ScenarioError(f"{where}: digits must be a list of single keys like ['1', '5']")
    return CallbackCustomer(
        id=cb_id,
        number=_number(where, "number", raw.get("number")),
        behaviour=behaviour,
        answer_after=_seconds(where, "answer_after", raw.get("answer_after", 3.0)) or 0.0,
        digits=tuple(digits),
        hangup_after=_seconds(where, "hangup_after", raw.get("hangup_after")),
        originate=bool(raw.get("originate", False)),
        start=_seconds(where, "start", raw.get("start", 0.0)) or 0.0,
        wait=_seconds(where, "wait", raw.get("wait", 120.0)) or 120.0,
        operator_answer_after=_seconds(
            where, "operator_answer_after", raw.get("operator_answer_after")
        ),
        specialist=_specialist(where, raw.get("specialist")),
        specialist_answer_after=_seconds(
            where, "specialist_answer_after", raw.get("specialist_answer_after", 2.0)
        )
        or 0.0,
    )


def _specialist(where: str, value: Any) -> str | None:
    if value is None:
        return None
    if value not in OPERATOR_IDS:
        raise ScenarioError(f"{where}: specialist must be one of 001-060")
    return str(value)


def parse(data: dict[str, Any], default_name: str = "scenario") -> Scenario:
    """Validate a decoded scenario; raise :class:`ScenarioError` naming the bad field."""
    _check_keys("scenario", data, {"name", "description", "calls", "callbacks"})
    calls = tuple(_call(i, c) for i, c in enumerate(data.get("calls", [])))
    callbacks = tuple(_callback(i, c) for i, c in enumerate(data.get("callbacks", [])))
    if not calls and not callbacks:
        raise ScenarioError("scenario: no [[calls]] and no [[callbacks]]")
    ids = [c.id for c in calls] + [b.id for b in callbacks]
    if len(set(ids)) != len(ids):
        raise ScenarioError("scenario: ids of calls and callbacks must be unique")
    callers = [c.caller for c in calls]
    if len(set(callers)) != len(callers):
        # The operator leg is matched to its call by the caller's number.
        raise ScenarioError("scenario: every call needs its own caller number")
    return Scenario(
        name=str(data.get("name", default_name)),
        description=str(data.get("description", "")),
        calls=calls,
        callbacks=callbacks,
    )


def shipped_names() -> list[str]:
    """Names of the scenarios shipped with ivr-agent."""
    folder = resources.files("ivr_agent.sim") / "scenarios"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def load(name_or_path: str) -> Scenario:
    """Load a scenario file, or a shipped scenario by name (``basic``)."""
    path = Path(name_or_path)
    if path.is_file():
        text, default = path.read_text(encoding="utf-8"), path.stem
    else:
        shipped = resources.files("ivr_agent.sim") / "scenarios" / f"{name_or_path}.toml"
        if not shipped.is_file():
            raise ScenarioError(
                f"no scenario file {name_or_path!r} and no shipped scenario of that name "
                f"(shipped: {', '.join(shipped_names())})"
            )
        text, default = shipped.read_text(encoding="utf-8"), name_or_path
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{name_or_path}: not valid TOML: {exc}") from None
    return parse(data, default)


# --- load mode -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Mix:
    """Weights of the call kinds load mode draws from."""

    weights: dict[str, float] = field(default_factory=dict)

    KINDS = ("answered", "abandoned", "hold", "silent")

    @classmethod
    def parse(cls, text: str) -> Mix:
        """``answered=70,abandoned=15,hold=15`` → weights; unknown kinds are an error."""
        weights: dict[str, float] = {}
        for item in text.split(","):
            kind, sep, weight = item.strip().partition("=")
            if not sep or kind not in cls.KINDS:
                raise ScenarioError(f"--mix: {item!r}; use kind=weight with kinds {cls.KINDS}")
            try:
                weights[kind] = float(weight)
            except ValueError:
                raise ScenarioError(f"--mix: weight of {kind} must be a number") from None
        if sum(weights.values()) <= 0:
            raise ScenarioError("--mix: weights must add up to more than 0")
        return cls(weights)


def load_mode(*, calls: int, rate: float, mix: str, seed: int | None = None) -> Scenario:
    """``calls`` inbound calls arriving at ``rate`` per second, kinds drawn from ``mix``."""
    if not 0 < calls <= 100_000:
        raise ScenarioError("--calls must be 1-100000")
    if not 0 < rate <= 100:
        raise ScenarioError("--rate must be between 0 and 100 calls per second")
    weights = Mix.parse(mix).weights
    rng = random.Random(seed)  # noqa: S311 - load shape, not security
    kinds, w = list(weights), list(weights.values())
    generated = []
    for n in range(calls):
        kind = rng.choices(kinds, w)[0]
        common: dict[str, Any] = {
            "id": f"load{n + 1:05d}",
            "caller": f"139{n + 1:08d}",
            "start": round(n / rate, 3),
            "speech": (Speech(say="ivr-sim/hello", after_connect=1.0),),
        }
        answer_after = round(rng.uniform(1.0, 20.0), 1)
        talk = round(rng.uniform(8.0, 40.0), 1)
        if kind == "abandoned":
            call = InboundCall(**common, abandon_after=round(rng.uniform(2.0, 25.0), 1))
        elif kind == "hold":
            hold = Hold(start=3.0, seconds=round(rng.uniform(3.0, 15.0), 1))
            call = InboundCall(
                **common,
                operator="any",
                answer_after=answer_after,
                talk=max(talk, hold.start + hold.seconds + 3.0),
                hangup=rng.choice(["caller", "operator"]),
                holds=(hold,),
            )
        else:
            if kind == "silent":
                common["speech"] = ()
            call = InboundCall(
                **common,
                operator="any",
                answer_after=answer_after,
                talk=talk,
                hangup=rng.choice(["caller", "operator"]),
            )
        generated.append(call)
    return Scenario(
        name=f"load-{calls}x{rate:g}",
        description=f"load mode: {calls} calls at {rate:g}/s, mix {mix}",
        calls=tuple(generated),
    )
