"""``ivr-agent prompts build|list``: render the prompt catalogue where the PBX plays it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ivr_agent.cli import Subparsers
from ivr_agent.settings import Settings


def _build(args: argparse.Namespace, settings: Settings) -> int:
    from ivr_agent.prompts.build import build_prompts
    from ivr_agent.prompts.catalogue import PromptCatalogue, UnknownPrompt
    from ivr_agent.prompts.render import RenderError
    from ivr_agent.prompts.spec import CatalogueError

    try:
        catalogue = PromptCatalogue.from_settings(settings)
        dest = args.dest or catalogue.prompts_dir
        print(f"building prompts into {dest.absolute()}", file=sys.stderr)
        report = build_prompts(
            catalogue,
            languages=args.language,
            dest=dest,
            progress=lambda line: print(line, file=sys.stderr),
        )
    except (CatalogueError, UnknownPrompt) as exc:
        print(f"ivr-agent prompts build: {exc}", file=sys.stderr)
        return 2
    except RenderError as exc:
        print(f"ivr-agent prompts build: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from ivr_agent.prompts.catalogue import PromptCatalogue, UnknownPrompt
    from ivr_agent.prompts.spec import CatalogueError

    try:
        catalogue = PromptCatalogue.from_settings(settings)
        language = args.language or catalogue.language
        for name in sorted(catalogue.names):
            prompt = catalogue.prompt(name)
            sample = {"operator_id": catalogue.operator_ids[0]} if catalogue.operator_ids else {}
            variables = ",".join(sorted(prompt.variables)) or "-"
            try:
                media = catalogue.media(name, sample, language=language)
                text = catalogue.text(name, sample, language=language)
            except ValueError as exc:
                media, text = "-", str(exc)
            print(f"{name}\t{prompt.audience}\t{variables}\t{media}\t{text}")
    except (CatalogueError, UnknownPrompt) as exc:
        print(f"ivr-agent prompts list: {exc}", file=sys.stderr)
        return 2
    return 0


def register(subparsers: Subparsers) -> None:
    """Add ``prompts build`` and ``prompts list``."""
    prompts = subparsers.add_parser("prompts", help="the scripted prompts (catalogue, audio)")
    commands = prompts.add_subparsers(dest="prompts_command", metavar="COMMAND", required=True)
    build = commands.add_parser(
        "build",
        help="render every prompt to 8 kHz mono WAV (espeak-ng + sox) and install it",
        description="Render the catalogue (every language unless --language) into the prompts "
        "directory as <language>/<name>.wav. Unchanged prompts are not rendered again; a "
        "recorded voice at PROMPTS_VOICES_DIR/<language>/<name>.wav wins over TTS.",
    )
    build.add_argument(
        "--language",
        action="append",
        metavar="LANG",
        help="only this language (repeatable), e.g. zh-CN",
    )
    build.add_argument(
        "--dest", type=Path, metavar="DIR", help="install here instead of IVR_AGENT_PROMPTS_DIR"
    )
    build.set_defaults(handler=_build)
    listing = commands.add_parser(
        "list", help="name, audience, variables, media URI and text of every prompt"
    )
    listing.add_argument("--language", metavar="LANG", help="default IVR_AGENT_PROMPT_LANGUAGE")
    listing.set_defaults(handler=_list)
