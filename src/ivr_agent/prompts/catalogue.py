"""The prompt catalogue at run time: each prompt's text in one language and the file that plays it.

File names (the PBX plays ``sound:<PROMPTS_URL>/prompts/<language>/<stem>.wav``, fetched
from the agent's own :mod:`~ivr_agent.prompts.http` route, or with directory delivery
``sound:<PROMPTS_MEDIA_PREFIX>/<language>/<stem>`` from its sounds directory):

* ``<name>`` for prompts whose variables all come from the settings;
* ``<name>-<operator_id>`` for the 工号播报 (``operator_intro``);
* ``<name>-<hash>`` for a text with call-time variables (``{customer_name}``): rendered on
  demand by :meth:`PromptCatalogue.ensure_media`, the hash being the text's cache key. Such a
  prompt has a ``fallback`` text without those variables, built ahead as ``<name>``; it is
  what :meth:`~PromptCatalogue.text` and :meth:`~PromptCatalogue.media` give when the
  variable is absent or empty, and what ``ensure_media`` plays when rendering fails. Such
  files not handed out for :data:`ON_DEMAND_KEEP_DAYS` are deleted (with their manifest
  entries) when a new one is rendered, at most once per :data:`PRUNE_EVERY_SECONDS`, and by
  ``ivr-agent prompts build``: the directory does not grow with every customer's name.

``ivr-agent prompts build`` (:mod:`ivr_agent.cli.prompts`) renders every file ahead of time.
The catalogue file (texts, variables, voices) is loaded by :mod:`ivr_agent.prompts.spec`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from ivr_agent.platform.logging import get_logger
from ivr_agent.prompts import render
from ivr_agent.prompts.render import RenderError, RenderJob
from ivr_agent.prompts.spec import (
    PLACEHOLDER,
    VARIABLE_SOURCES,
    Audience,
    CatalogueSpec,
    Prompt,
    load_catalogue,
)
from ivr_agent.settings import Settings

log = get_logger(__name__)

#: The file the dialplan hook plays when the agent is away (``ivr-agent/welcome``): a copy of
#: the default language's external greeting, installed by the build.
WELCOME_ALIAS = ("greeting_external", "welcome.wav")

#: On-demand renderings (a customer's name) not handed out this long are deleted.
ON_DEMAND_KEEP_DAYS = 7.0
#: The agent looks for such files at most this often (when it renders a new one).
PRUNE_EVERY_SECONDS = 3600.0

#: The agent's route serving the prompt files (http delivery): ``<ROUTE>/<language>/<file>``.
ROUTE = "/prompts"

_NO_VARIABLES: Mapping[str, str] = MappingProxyType({})
_ON_DEMAND_SUFFIX = re.compile(r"-[0-9a-f]{16}$")
_OPERATOR_ID = re.compile(r"[0-9A-Za-z]{1,16}")
_MAX_VALUE_CHARS = 64


class UnknownPrompt(ValueError):
    """No prompt of this name (or no text in this language) in the catalogue."""


class MissingVariable(ValueError):
    """A prompt's text needs a variable that was not given (or has an invalid value)."""


class PromptUnavailable(RuntimeError):
    """:meth:`PromptCatalogue.ensure_media` could produce no file to play."""


class PromptCatalogue:
    """The prompts in one language, with their texts, audiences and media files."""

    def __init__(
        self,
        spec: CatalogueSpec,
        *,
        language: str,
        company: str,
        department: str,
        hotline: str | None = None,
        operator_ids: tuple[str, ...] = (),
        prompts_dir: Path,
        media_prefix: str = "ivr-agent",
        media_url: str | None = None,
        voices_dir: Path | None = None,
    ) -> None:
        if language not in spec.voices:
            raise UnknownPrompt(
                f"language {language!r} is not in the catalogue "
                f"(it has {', '.join(sorted(spec.voices))})"
            )
        self.spec = spec
        self.language = language
        # A variable of the settings left unset (the hotline) is absent: the prompts that need
        # it are not built and never played (see :meth:`build_jobs`).
        self.constants: Mapping[str, str] = MappingProxyType(
            {"company": company, "department": department}
            | ({"hotline": spoken_number(hotline)} if hotline else {})
        )
        self.operator_ids = operator_ids
        self.prompts_dir = prompts_dir
        self.media_prefix = media_prefix.strip("/")
        #: http delivery: the URL of the agent's prompt route as the PBX reaches it (media
        #: URIs are ``sound:<media_url>/<language>/<stem>.wav``); None: directory delivery.
        self.media_url = media_url.rstrip("/") if media_url else None
        self.voices_dir = voices_dir
        self.names: frozenset[str] = frozenset(spec.prompts)
        self._rendering: dict[str, asyncio.Lock] = {}
        self._prune_lock = threading.Lock()
        self._pruned_at: float | None = None  # time.monotonic() of the last look

    @classmethod
    def from_settings(cls, settings: Settings) -> PromptCatalogue:
        """The catalogue these settings select (language, override file, directories, and
        where the PBX gets the files: ``prompts_delivery``)."""
        base = settings.prompts_base_url if settings.prompts_delivery == "http" else None
        return cls(
            load_catalogue(settings.prompts_catalogue),
            language=settings.prompt_language,
            company=settings.company,
            department=settings.department,
            hotline=settings.hotline,
            operator_ids=settings.operator_ids,
            prompts_dir=settings.prompts_dir,
            media_prefix=settings.prompts_media_prefix,
            media_url=None if base is None else base + ROUTE,
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
        return self.media_uri(self.job(name, variables, language=language))

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
            return self.media_uri(fallback)
        return self.media_uri(job)

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
        used = set(PLACEHOLDER.findall(self._template(prompt, values, lang)))
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
            if not self.available(name):
                continue
            if "operator_id" in prompt.variables:
                jobs.extend(
                    self.job(name, {"operator_id": op}, language=language)
                    for op in self.operator_ids
                )
            else:
                jobs.append(self.job(name, language=language))
        return jobs

    def available(self, name: str) -> bool:
        """Whether the settings give every settings variable of prompt ``name`` (a prompt
        naming the hotline is not available while ``IVR_AGENT_HOTLINE`` is unset)."""
        return all(
            v in self.constants
            for v in self.prompt(name).variables
            if VARIABLE_SOURCES[v] == "settings"
        )

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
        needed = set(PLACEHOLDER.findall(template))
        for variable in sorted(needed):
            value = values.get(variable)
            if value is None or not str(value).strip():
                raise MissingVariable(f"prompt {name} needs the variable {variable}")
            values[variable] = _check_value(name, variable, str(value))
        text = PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
        return prompt, text, values

    def media_uri(self, job: RenderJob) -> str:
        """ARI media URI of one file: fetched from the agent (http delivery) or from the
        PBX's sounds directory."""
        if self.media_url is not None:
            return f"sound:{self.media_url}/{job.language}/{job.stem}.wav"
        return f"sound:{self.media_prefix}/{job.language}/{job.stem}"

    def servable(self, language: str, file_name: str) -> bool:
        """Whether ``<language>/<file_name>`` is a file this catalogue can ask the PBX to
        play: ``<name>.wav``, ``<name>-<operator id>.wav`` (a prompt with ``{operator_id}``)
        or ``<name>-<16 hex>.wav`` (one with call-time variables), of a prompt the catalogue
        has, in one of its languages. Says nothing about whether the file exists."""
        if language not in self.spec.voices or not file_name.endswith(".wav"):
            return False
        stem = file_name.removesuffix(".wav")
        if stem in self.spec.prompts:
            return True
        name, dash, rest = stem.rpartition("-")
        prompt = self.spec.prompts.get(name) if dash else None
        if prompt is None:
            return False
        if "operator_id" in prompt.variables and _OPERATOR_ID.fullmatch(rest):
            return True
        return bool(prompt.call_variables) and _ON_DEMAND_SUFFIX.fullmatch("-" + rest) is not None

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

    def prune_on_demand(
        self, keep_seconds: float = ON_DEMAND_KEEP_DAYS * 86_400, now: float | None = None
    ) -> list[str]:
        """Delete the on-demand renderings not handed out for ``keep_seconds`` (see
        :meth:`on_demand_files`) and forget their cache keys, and the keys of on-demand files
        that are gone; the paths deleted, under the prompts directory. Blocking."""
        stale = self.on_demand_files(keep_seconds, time.time() if now is None else now)
        orphans = [
            relative
            for relative in render.manifest_entries(self.prompts_dir)
            if self._is_on_demand(relative) and not (self.prompts_dir / relative).exists()
        ]
        if stale or orphans:
            render.prune(self.prompts_dir, [*stale, *orphans])
        return stale

    def _is_on_demand(self, relative: str) -> bool:
        stem = Path(relative).stem
        return any(
            prompt.call_variables
            and stem.startswith(f"{prompt.name}-")
            and _ON_DEMAND_SUFFIX.fullmatch(stem[len(prompt.name) :]) is not None
            for prompt in self.spec.prompts.values()
        )

    def _prune_now_and_then(self) -> None:
        with self._prune_lock:
            now = time.monotonic()
            if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY_SECONDS:
                return
            self._pruned_at = now
        try:
            pruned = self.prune_on_demand()
        except (OSError, RenderError) as exc:
            log.warning("prompt_prune_failed", error=str(exc))
            return
        if pruned:
            log.info("prompt_on_demand_pruned", files=len(pruned))

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
        if _ON_DEMAND_SUFFIX.search(job.stem):
            # A new customer's name: the time to delete the names nobody asked for lately.
            self._prune_now_and_then()


def spoken_number(number: str) -> str:
    """A phone number as it is read out, digit by digit in its groups (``400-800-8888`` →
    ``4 0 0, 8 0 0, 8 8 8 8``): a TTS voice would otherwise read one large number."""
    groups = [g for g in re.split(r"[\s-]+", number.strip()) if g]
    return ", ".join(" ".join(group) for group in groups)


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
