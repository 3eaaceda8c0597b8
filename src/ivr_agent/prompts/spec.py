"""The prompt catalogue file: what each scripted prompt says and who hears it.

The catalogue (``catalogue.toml`` in this package, or ``IVR_AGENT_PROMPTS_CATALOGUE``) holds
one text per language for every prompt of STANDARDS.md S4 and the callback survey, and each
language's espeak-ng voice. Texts use the variables ``{company}``, ``{department}`` and
``{hotline}`` (from the settings; a prompt naming an unset one is not built), ``{operator_id}``
(rendered ahead of time for every ``IVR_AGENT_OPERATOR_IDS``) and ``{customer_name}`` (known
only during a call); a prompt using a call-time variable has a ``fallback`` text per language
without it.

:func:`load_catalogue` gives a validated, read-only :class:`CatalogueSpec` or raises
:class:`CatalogueError` naming every problem; the run-time
:class:`~ivr_agent.prompts.catalogue.PromptCatalogue` turns it into texts and files.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Literal, cast, get_args

from ivr_agent.prompts.render import Voice

Audience = Literal["caller", "both"]

#: Every variable a text may use, and where its value comes from.
VARIABLE_SOURCES: Mapping[str, Literal["settings", "operator", "call"]] = MappingProxyType(
    {
        "company": "settings",
        "department": "settings",
        "hotline": "settings",
        "operator_id": "operator",
        "customer_name": "call",
    }
)
#: The prompts other components play (contracts.md); a catalogue must define all of them.
PROMPT_NAMES = frozenset(
    {
        "greeting_external",
        "greeting_internal",
        "operator_intro",
        "long_wait_apology",
        "hold_reminder",
        "hold_end_apology",
        "silence_first",
        "silence_last",
        "satisfaction",
        "callback_opening",
        "callback_closing",
        "callback_not_convenient",
        "callback_better_time",
        "callback_recording_failed",
        "return_call_greeting",
        "queue_callback_offer",
        "queue_callback_confirmed",
        "queue_callback_greeting",
        "survey_confidential",
        "survey_thanks",
        "survey_problem_solved",
        "survey_follow_up",
        "callback_hotline",
        "invalid_key",
        "suggestion_record",
        "suggestion_thanks",
        "survey_skill",
        "survey_attitude",
        "survey_timeliness",
        "survey_parts",
        "survey_overall",
        "survey_invalid_input",
    }
)
#: A ``{variable}`` in a text.
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")


class CatalogueError(ValueError):
    """The catalogue file is invalid; the message names the file, the prompt and the problem."""


@dataclass(frozen=True)
class Prompt:
    """One catalogue entry."""

    name: str
    audience: Audience
    variables: frozenset[str]
    texts: Mapping[str, str]
    #: Texts without the call-time variables; present exactly when the prompt has some.
    fallback: Mapping[str, str] | None

    @property
    def call_variables(self) -> frozenset[str]:
        """Variables known only during a call (rendered on demand)."""
        return frozenset(v for v in self.variables if VARIABLE_SOURCES[v] == "call")


@dataclass(frozen=True)
class CatalogueSpec:
    """A parsed, validated catalogue file: the languages' voices and the prompts."""

    voices: Mapping[str, Voice]
    prompts: Mapping[str, Prompt]


def builtin_catalogue_text() -> str:
    """The catalogue shipped with ivr-agent."""
    return (resources.files("ivr_agent.prompts") / "catalogue.toml").read_text(encoding="utf-8")


def load_catalogue(path: Path | None = None) -> CatalogueSpec:
    """Parse and validate ``path`` (the built-in catalogue when None)."""
    if path is None:
        return parse_catalogue(builtin_catalogue_text(), source="built-in catalogue.toml")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"cannot read the prompt catalogue {path}: {exc}") from None
    return parse_catalogue(text, source=str(path))


def parse_catalogue(text: str, source: str = "catalogue") -> CatalogueSpec:
    """Validate a catalogue's TOML text; :class:`CatalogueError` names every problem found."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{source}: not valid TOML: {exc}") from None
    problems: list[str] = []
    voices = _parse_voices(data.get("languages"), problems)
    prompts: dict[str, Prompt] = {}
    raw_prompts = data.get("prompts")
    if not isinstance(raw_prompts, dict):
        problems.append("no [prompts.<name>] tables")
        raw_prompts = {}
    for name, entry in raw_prompts.items():
        prompt = _parse_prompt(name, entry, voices, problems)
        if prompt is not None:
            prompts[name] = prompt
    missing = sorted(PROMPT_NAMES - raw_prompts.keys())
    if missing:
        problems.append(f"prompts missing: {', '.join(missing)}")
    unknown_top = sorted(set(data) - {"languages", "prompts"})
    if unknown_top:
        problems.append(f"unknown top-level keys: {', '.join(unknown_top)}")
    if problems:
        raise CatalogueError(f"{source}: invalid prompt catalogue:\n  " + "\n  ".join(problems))
    return CatalogueSpec(voices=MappingProxyType(voices), prompts=MappingProxyType(prompts))


def _parse_voices(raw: object, problems: list[str]) -> dict[str, Voice]:
    if not isinstance(raw, dict) or not raw:
        problems.append("no [languages.<language>] tables (espeak_voice, words_per_minute)")
        return {}
    voices = {}
    for language, entry in raw.items():
        where = f"[languages.{language}]"
        if not _LANGUAGE.fullmatch(language):
            problems.append(f"{where}: language must look like zh-CN or en-US")
            continue
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be a table")
            continue
        voice, wpm = entry.get("espeak_voice"), entry.get("words_per_minute", 150)
        if not isinstance(voice, str) or not re.fullmatch(r"[A-Za-z0-9_+\-]{1,40}", voice):
            problems.append(f"{where}: espeak_voice must be an espeak-ng voice name like cmn")
            continue
        if not isinstance(wpm, int) or isinstance(wpm, bool) or not 80 <= wpm <= 450:
            problems.append(f"{where}: words_per_minute must be a whole number 80-450")
            continue
        unknown = sorted(set(entry) - {"espeak_voice", "words_per_minute"})
        if unknown:
            problems.append(f"{where}: unknown keys {', '.join(unknown)}")
        voices[language] = Voice(espeak_voice=voice, words_per_minute=wpm)
    return voices


def _parse_prompt(
    name: str, entry: object, voices: Mapping[str, Voice], problems: list[str]
) -> Prompt | None:
    where = f"[prompts.{name}]"
    if not _NAME.fullmatch(name):
        problems.append(f"{where}: a name is lower-case letters, digits and _")
        return None
    if not isinstance(entry, dict):
        problems.append(f"{where}: must be a table")
        return None
    before = len(problems)
    audience = entry.get("audience")
    if audience not in get_args(Audience):
        problems.append(f"{where}: audience must be 'caller' or 'both' (got {audience!r})")
    declared = entry.get("variables", [])
    if not isinstance(declared, list) or not all(isinstance(v, str) for v in declared):
        problems.append(f"{where}: variables must be a list of names")
        declared = []
    unknown = sorted(set(declared) - VARIABLE_SOURCES.keys())
    if unknown:
        problems.append(
            f"{where}: unknown variables {', '.join(unknown)} "
            f"(known: {', '.join(VARIABLE_SOURCES)})"
        )
    variables = frozenset(declared) & VARIABLE_SOURCES.keys()
    texts = _texts(f"{where}", entry, voices, variables, problems, skip={"audience", "variables"})
    call_vars = {v for v in variables if VARIABLE_SOURCES[v] == "call"}
    fallback: dict[str, str] | None = None
    raw_fallback = entry.get("fallback")
    if call_vars:
        if not isinstance(raw_fallback, dict):
            problems.append(
                f"{where}: uses {', '.join(sorted(call_vars))} (known only during a call), so "
                f"it needs a [prompts.{name}.fallback] text per language without them"
            )
        else:
            fallback = _texts(
                f"[prompts.{name}.fallback]", raw_fallback, voices, variables - call_vars, problems
            )
    elif raw_fallback is not None:
        problems.append(f"{where}: a fallback is only for prompts with call-time variables")
    if len(problems) > before:
        return None
    return Prompt(
        name=name,
        audience=cast(Audience, audience),
        variables=variables,
        texts=MappingProxyType(texts),
        fallback=MappingProxyType(fallback) if fallback is not None else None,
    )


def _texts(
    where: str,
    entry: Mapping[str, object],
    voices: Mapping[str, Voice],
    variables: frozenset[str],
    problems: list[str],
    skip: frozenset[str] | set[str] = frozenset(),
) -> dict[str, str]:
    texts: dict[str, str] = {}
    for key, value in entry.items():
        if key in skip or key == "fallback":
            continue
        if key not in voices:
            problems.append(f"{where}: {key!r} is not a language of [languages] nor a known key")
            continue
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{where}: the {key} text must be a non-empty string")
            continue
        if "{" in PLACEHOLDER.sub("", value) or "}" in PLACEHOLDER.sub("", value):
            problems.append(f"{where}: the {key} text has an unmatched brace")
            continue
        used = set(PLACEHOLDER.findall(value))
        undeclared = sorted(used - variables)
        if undeclared:
            problems.append(
                f"{where}: the {key} text uses unknown variable "
                + ", ".join("{" + v + "}" for v in undeclared)
                + f" (this prompt's variables: {', '.join(sorted(variables)) or 'none'})"
            )
            continue
        texts[key] = value
    absent = sorted(voices.keys() - texts.keys())
    if absent:
        problems.append(f"{where}: no text for {', '.join(absent)}")
    return texts
