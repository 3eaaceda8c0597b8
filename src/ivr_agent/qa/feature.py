"""The QA feature: its API (replay bundle, scores) and its pages."""

from __future__ import annotations

from aiohttp import web

from ivr_agent.qa.http import setup_qa_api
from ivr_agent.qa.pages import setup_qa


def setup(app: web.Application) -> None:
    """The QA replay and score routes, ``/qa`` and ``/qa/calls/{id}``."""
    setup_qa_api(app)
    setup_qa(app)
