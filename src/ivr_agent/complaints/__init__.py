"""Complaints (投诉, S7): the complaint store and timeline, its API, the runner that chases
and escalates handling departments and settles complaints by their callbacks. Other parts
use what is exported here; app.py composes the rest."""

from ivr_agent.complaints.model import Actor
from ivr_agent.complaints.store import open_for_record

__all__ = ["Actor", "open_for_record"]
