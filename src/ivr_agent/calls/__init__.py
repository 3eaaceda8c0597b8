"""Calls: the AMI ingest into the tracker, the outbox to PostgreSQL, the stored outcomes and
their timelines, and the calls API. Other parts read stored calls through what is exported
here; app.py and cli/ compose the rest."""

from ivr_agent.calls.ingest import CommandRoutes
from ivr_agent.calls.links import call_links
from ivr_agent.calls.schemas import Call
from ivr_agent.calls.store import get_call, get_timeline

__all__ = ["Call", "CommandRoutes", "call_links", "get_call", "get_timeline"]
