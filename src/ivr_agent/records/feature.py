"""The call record feature: its API and the wrap-up pages."""

from __future__ import annotations

from aiohttp import web

from ivr_agent.records.http import setup_records_api
from ivr_agent.records.pages import setup_wrap_up


def setup(app: web.Application) -> None:
    """``/api/calls/{id}/record``, ``/calls/{id}/wrap-up`` and ``/wrap-up``."""
    setup_records_api(app)
    setup_wrap_up(app)
