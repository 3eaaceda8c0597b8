"""The calls feature's routes (the AMI → tracker → outbox line itself is the composition
root's main line, ``app.py``)."""

from __future__ import annotations

from aiohttp import web

from ivr_agent.calls.http import setup_calls_api


def setup(app: web.Application) -> None:
    """``GET /api/calls`` and ``GET /api/calls/{id}``."""
    setup_calls_api(app)
