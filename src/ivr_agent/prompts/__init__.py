"""Prompts: the catalogue and its rendering to audio (``ivr-agent prompts build``), the
executor that plays the tracker's prompt commands by snoop-whisper, and the Stasis greeting
and satisfaction question. Other parts use what is exported here; app.py and cli/ compose
the rest."""

from ivr_agent.prompts.build import build_prompts
from ivr_agent.prompts.catalogue import PromptCatalogue
from ivr_agent.prompts.render import RenderError

__all__ = ["PromptCatalogue", "RenderError", "build_prompts"]
