"""The callbacks feature's routes (the dialer runs with the ARI session, ``app.py``)."""

from __future__ import annotations

from aiohttp import web

from ivr_agent.callbacks.http import setup_callbacks_api


def setup(app: web.Application) -> None:
    """``POST/GET /api/callbacks[/{id}]``."""
    setup_callbacks_api(app)
