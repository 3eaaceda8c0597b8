"""Typed keys of what the composition root puts on the aiohttp application."""

from __future__ import annotations

from aiohttp import web

from ivr_agent.db.database import Database
from ivr_agent.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
