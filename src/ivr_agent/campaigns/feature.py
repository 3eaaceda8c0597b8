"""The campaigns feature's routes (the scheduler runs as a task of the app, ``app.py``)."""

from __future__ import annotations

from aiohttp import web

from ivr_agent.campaigns.http import setup_campaigns_api


def setup(app: web.Application) -> None:
    """``POST/GET /api/campaigns``, ``GET/PATCH /api/campaigns/{id}``."""
    setup_campaigns_api(app)
