"""The prompt catalogue: what each scripted prompt says, who hears it, and which file plays it.

The catalogue (``catalogue.toml`` in this package, or ``IVR_AGENT_PROMPTS_CATALOGUE``) holds
one text per language for every prompt of STANDARDS.md S4 and the callback survey. Texts use
the variables ``{company}`` and ``{department}`` (from the settings), ``{operator_id}``
(rendered ahead of time for every ``IVR_AGENT_OPERATOR_IDS``) and ``{customer_name}`` (known
only during a call).

File names, as the PBX plays them (``sound:<PROMPTS_MEDIA_PREFIX>/<language>/<stem>``):

* ``<name>`` for prompts whose variables all come from the settings;
* ``<name>-<operator_id>`` for the 工号播报 (``operator_intro``);
* ``<name>-<hash>`` for a text with call-time variables (``{customer_name}``): rendered on
  demand by :meth:`PromptCatalogue.ensure_media`, the hash being the text's cache key. Such a
  prompt has a ``fallback`` text without those variables, built ahead as ``<name>``; it is
  what :meth:`~PromptCatalogue.text` and :meth:`~PromptCatalogue.media` give when the
  variable is absent or empty, and what ``ensure_media`` plays when rendering fails.

``ivr-agent prompts build`` (:mod:`ivr_agent.cli.prompts`) renders every file ahead of time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Literal, cast, get_args

from ivr_agent.platform.logging import get_logger
from ivr_agent.prompts import render
from ivr_agent.prompts.render import RenderError, RenderJob, Voice
from ivr_agent.settings import Settings

log = get_logger(__name__)

Audience = Literal["caller", "both"]

#: Every variable a text may use, and where its value comes from.
VARIABLE_SOURCES: Mapping[str, Literal["settings", "operator", "call"]] = MappingProxyType(
    {
        "company": "settings",
        "department": "settings",
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
        "callback_recording_failed",
        "survey_skill",
        "survey_attitude",
        "survey_timeliness",
        "survey_parts",
        "survey_overall",
        "survey_invalid_input",
    }
)
#: The file the dialplan hook plays when the agent is away (``ivr-agent/welcome``): a copy of
#: the default language's external greeting, installed by the build.
WELCOME_ALIAS = ("greeting_external", "welcome.wav")

_NO_VARIABLES: Mapping[str, str] = MappingProxyType({})
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_ON_DEMAND_SUFFIX = re.compile(r"-[0-9a-f]{16}$")
_OPERATOR_ID = re.compile(r"[0-9A-Za-z]{1,16}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_MAX_VALUE_CHARS = 64


class CatalogueError(ValueError):
    """The catalogue file is invalid; the message names the file, the prompt and the problem."""


class UnknownPrompt(ValueError):
    """No prompt of this name (or no text in this language) in the catalogue."""


class MissingVariable(ValueError):
    """A prompt's text needs a variable that was not given (or has an invalid value)."""


class PromptUnavailable(RuntimeError):
    """:meth:`PromptCatalogue.ensure_media` could produce no file to play."""


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


# --- loading ---------------------------------------------------------------------------------


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
        if "{" in _PLACEHOLDER.sub("", value) or "}" in _PLACEHOLDER.sub("", value):
            problems.append(f"{where}: the {key} text has an unmatched brace")
            continue
        used = set(_PLACEHOLDER.findall(value))
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


# --- the catalogue ---------------------------------------------------------------------------


class PromptCatalogue:
    """The prompts in one language, with their texts, audiences and media files."""

    def __init__(
        self,
        spec: CatalogueSpec,
        *,
        language: str,
        company: str,
        department: str,
        operator_ids: tuple[str, ...] = (),
        prompts_dir: Path,
        media_prefix: str = "ivr-agent",
        voices_dir: Path | None = None,
    ) -> None:
        if language not in spec.voices:
            raise UnknownPrompt(
                f"language {language!r} is not in the catalogue "
                f"(it has {', '.join(sorted(spec.voices))})"
            )
        self.spec = spec
        self.language = language
        self.constants: Mapping[str, str] = MappingProxyType(
            {"company": company, "department": department}
        )
        self.operator_ids = operator_ids
        self.prompts_dir = prompts_dir
        self.media_prefix = media_prefix.strip("/")
        self.voices_dir = voices_dir
        self.names: frozenset[str] = frozenset(spec.prompts)
        self._rendering: dict[str, asyncio.Lock] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> PromptCatalogue:
        """The catalogue these settings select (language, override file, directories)."""
        return cls(
            load_catalogue(settings.prompts_catalogue),
            language=settings.prompt_language,
            company=settings.company,
            department=settings.department,
            operator_ids=settings.operator_ids,
            prompts_dir=settings.prompts_dir,
            media_prefix=settings.prompts_media_prefix,
            voices_dir=settings.prompts_voices_dir or settings.data_dir / "voices",
        )

    @property
    def languages(self) -> tuple[str, ...]:
        """Every language the catalogue has texts for."""
        return tuple(self.spec.voices)

    def prompt(self, name: str) -> Prompt:
        """The catalogue entry; :class:`UnknownPrompt` if there is none."""
        try:
            return self.spec.prompts[name]
        except KeyError:
            raise UnknownPrompt(
                f"no prompt {name!r} in the catalogue (known: {', '.join(sorted(self.names))})"
            ) from None

    def audience(self, name: str) -> Audience:
        """Who hears the prompt when whispered: the caller only, or both parties."""
        return self.prompt(name).audience

    def text(
        self,
        name: str,
        variables: Mapping[str, str] = _NO_VARIABLES,
        *,
        language: str | None = None,
    ) -> str:
        """The prompt's text with its variables filled in.

        ``company`` and ``department`` come from the settings unless given. A prompt with
        call-time variables (``customer_name``) gives its fallback text when they are absent or
        empty. Raises :class:`UnknownPrompt` or :class:`MissingVariable`.
        """
        return self._resolve(name, variables, language)[1]

    def media(
        self,
        name: str,
        variables: Mapping[str, str] = _NO_VARIABLES,
        *,
        language: str | None = None,
    ) -> str:
        """ARI media URI of the file for this prompt and these variables.

        The build produces it ahead of time unless the text has call-time variables (then
        :meth:`ensure_media` renders it) or ``operator_id`` is not a configured operator.
        """
        return self._uri(self.job(name, variables, language=language))

    async def ensure_media(self, name: str, variables: Mapping[str, str]) -> str:
        """Like :meth:`media`, rendering the file first if it is not there yet.

        Rendering (espeak-ng + sox, same cache as the build) runs in a worker thread, never on
        the event loop. If it fails and the prompt has a fallback text (the variant without
        ``customer_name``), the fallback's file is returned instead, rendered too if need be;
        :class:`PromptUnavailable` when no file can be produced. A file already present is
        returned as is: after changing the catalogue, run ``ivr-agent prompts build``.
        """
        job = self.job(name, variables)
        try:
            await self._ensure(job)
        except RenderError as exc:
            prompt = self.prompt(name)
            fallback = self.job(
                name, {k: v for k, v in variables.items() if k not in prompt.call_variables}
            )
            if prompt.fallback is None or fallback == job:
                raise PromptUnavailable(f"cannot play {name}: {exc}") from None
            log.warning("prompt_render_failed_using_fallback", prompt=name, error=str(exc))
            try:
                await self._ensure(fallback)
            except RenderError as again:
                raise PromptUnavailable(f"cannot play {name} (nor its fallback): {again}") from None
            return self._uri(fallback)
        return self._uri(job)

    # --- building ----------------------------------------------------------------------------

    def job(
        self,
        name: str,
        variables: Mapping[str, str] = _NO_VARIABLES,
        *,
        language: str | None = None,
    ) -> RenderJob:
        """The file (stem, spoken text, voice) for this prompt and these variables."""
        prompt, text, values = self._resolve(name, variables, language)
        lang = language or self.language
        voice = self.spec.voices[lang]
        used = set(_PLACEHOLDER.findall(self._template(prompt, values, lang)))
        stem = name
        if "operator_id" in used:
            stem += "-" + values["operator_id"]
        if any(VARIABLE_SOURCES[v] == "call" for v in used):
            stem += "-" + render.cache_key(text, voice)[:16]
        return RenderJob(language=lang, stem=stem, speech=text, voice=voice)

    def build_jobs(self, language: str | None = None) -> list[RenderJob]:
        """Every file the build renders for one language (each operator's 工号播报 included)."""
        jobs: list[RenderJob] = []
        for name in sorted(self.names):
            prompt = self.prompt(name)
            if "operator_id" in prompt.variables:
                jobs.extend(
                    self.job(name, {"operator_id": op}, language=language)
                    for op in self.operator_ids
                )
            else:
                jobs.append(self.job(name, language=language))
        return jobs

    # --- internals ---------------------------------------------------------------------------

    def _template(self, prompt: Prompt, values: Mapping[str, str], language: str) -> str:
        if prompt.fallback is not None and any(
            not (values.get(v) or "").strip() for v in prompt.call_variables
        ):
            return prompt.fallback[language]
        return prompt.texts[language]

    def _resolve(
        self, name: str, variables: Mapping[str, str], language: str | None
    ) -> tuple[Prompt, str, dict[str, str]]:
        prompt = self.prompt(name)
        lang = language or self.language
        if lang not in self.spec.voices:
            raise UnknownPrompt(f"prompt {name}: no texts in language {lang!r}")
        values = {**self.constants, **{k: v for k, v in variables.items() if v is not None}}
        template = self._template(prompt, values, lang)
        needed = set(_PLACEHOLDER.findall(template))
        for variable in sorted(needed):
            value = values.get(variable)
            if value is None or not str(value).strip():
                raise MissingVariable(f"prompt {name} needs the variable {variable}")
            values[variable] = _check_value(name, variable, str(value))
        text = _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
        return prompt, text, values

    def _uri(self, job: RenderJob) -> str:
        return f"sound:{self.media_prefix}/{job.language}/{job.stem}"

    def on_demand_files(self, older_than_seconds: float, now: float) -> list[str]:
        """Files ``ensure_media`` rendered for call-time values, not played for this long.

        ``<name>-<16 hex>.wav`` of prompts with call-time variables, by modification time
        (``ensure_media`` touches a file each time it hands it out).
        """
        stale = []
        for prompt in self.spec.prompts.values():
            if not prompt.call_variables:
                continue
            for language in self.languages:
                for path in (self.prompts_dir / language).glob(f"{prompt.name}-*.wav"):
                    if not _ON_DEMAND_SUFFIX.fullmatch(path.stem[len(prompt.name) :]):
                        continue
                    with contextlib.suppress(OSError):
                        if now - path.stat().st_mtime > older_than_seconds:
                            stale.append(f"{language}/{path.name}")
        return sorted(stale)

    async def _ensure(self, job: RenderJob) -> None:
        path = self.prompts_dir / job.relative
        if path.is_file():
            if _ON_DEMAND_SUFFIX.search(job.stem):
                # Keeps on-demand renderings in use out of the build's pruning.
                with contextlib.suppress(OSError):
                    os.utime(path)
            return
        # One rendering per file at a time; concurrent callers wait for it.
        lock = self._rendering.setdefault(job.relative, asyncio.Lock())
        try:
            async with lock:
                if (self.prompts_dir / job.relative).is_file():
                    return
                await asyncio.to_thread(self._install, job)
        finally:
            # Latecomers find the file; after a failure the next caller tries afresh.
            if not lock.locked():
                self._rendering.pop(job.relative, None)

    def _install(self, job: RenderJob) -> None:
        render.ensure_dir(self.prompts_dir)
        render.install(job, self.prompts_dir, self.voices_dir)


def _check_value(prompt: str, variable: str, value: str) -> str:
    value = value.strip()
    if variable == "operator_id" and not _OPERATOR_ID.fullmatch(value):
        raise MissingVariable(
            f"prompt {prompt}: operator_id {value!r} must be 1-16 letters or digits"
        )
    if len(value) > _MAX_VALUE_CHARS or any(ord(c) < 32 for c in value):
        raise MissingVariable(
            f"prompt {prompt}: {variable} must be at most {_MAX_VALUE_CHARS} printable characters"
        )
    return value
