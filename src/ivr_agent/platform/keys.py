"""Typed keys of what the composition root puts on the aiohttp application."""

from __future__ import annotations

from aiohttp import web

from ivr_agent.db.database import Database
from ivr_agent.notify import Directory, Notifier
from ivr_agent.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
#: Who is told what (S7 chase and escalation, S10 report mail): e-mail and signed webhooks.
NOTIFIER = web.AppKey("notifier", Notifier)
#: The departments that handle complaints and their contacts (IVR_AGENT_DEPARTMENTS_FILE).
DIRECTORY = web.AppKey("directory", Directory)
