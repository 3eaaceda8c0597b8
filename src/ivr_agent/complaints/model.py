"""A complaint as the store reads it back: its row, its timeline, and their JSON."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from ivr_agent.core.complaints import ComplaintEvent, EventKind, overdue
from ivr_agent.db.models import ComplaintEventRow, ComplaintRow


class ComplaintError(ValueError):
    """A complaint request that cannot be stored as given; ``field`` names the problem."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnknownComplaint(ComplaintError):
    """No complaint has this id."""


class ComplaintExists(ComplaintError):
    """The call already has its complaint (one per call)."""

    def __init__(self, message: str, complaint_id: str) -> None:
        super().__init__(message, "call_id")
        self.complaint_id = complaint_id


@dataclass(frozen=True)
class Actor:
    """Who acts: the name the timeline and the audit log keep (``token:<id>``,
    ``chaser``, ``callback``) and their role."""

    name: str
    role: str


@dataclass(frozen=True)
class TimelineEntry:
    """One stored timeline event."""

    event_id: int
    at: datetime
    actor: str
    kind: EventKind
    note: str
    details: dict[str, Any]

    def core(self) -> ComplaintEvent:
        """The entry as the pure chase rule reads it."""
        return ComplaintEvent(self.kind, self.at, self.actor, self.note)

    def to_json(self, zone: tzinfo) -> dict[str, Any]:
        """JSON-ready dict, the time in ``zone``."""
        return {
            "event_id": self.event_id,
            "at": self.at.astimezone(zone).isoformat(),
            "actor": self.actor,
            "kind": self.kind,
            "note": self.note,
            "details": self.details,
        }


def entry_of(row: ComplaintEventRow) -> TimelineEntry:
    """A timeline row as an entry."""
    kind: EventKind = row.kind  # type: ignore[assignment]  # the CHECK constraint lists them
    return TimelineEntry(row.event_id, row.at, row.actor, kind, row.note, dict(row.details))


def _local(moment: datetime | None, zone: tzinfo) -> str | None:
    return None if moment is None else moment.astimezone(zone).isoformat()


@dataclass(frozen=True)
class Complaint:
    """A stored complaint, with its timeline when read one at a time."""

    row: ComplaintRow
    timeline: tuple[TimelineEntry, ...] = ()

    @property
    def complaint_id(self) -> str:
        """The complaint's id."""
        return str(self.row.complaint_id)

    def is_overdue(self, now: datetime, chase_after: timedelta) -> bool:
        """Open and nobody has acted on it for longer than ``chase_after``."""
        return overdue(self.row.state, self.row.silent_since, now, chase_after)

    def to_json(
        self, zone: tzinfo, now: datetime, chase_after: timedelta, *, timeline: bool = True
    ) -> dict[str, Any]:
        """JSON-ready dict (times in ``zone``); ``timeline`` adds the events, oldest first."""
        row = self.row
        body: dict[str, Any] = {
            "complaint_id": self.complaint_id,
            "call_id": row.call_id and str(row.call_id),
            "record_id": row.record_id and str(row.record_id),
            "customer_number": row.customer_number,
            "customer_name": row.customer_name,
            "summary": row.summary,
            "department_id": row.department_id,
            "state": row.state,
            "created_by": row.created_by,
            "created_at": _local(row.created_at, zone),
            "updated_at": _local(row.updated_at, zone),
            "silent_since": _local(row.silent_since, zone),
            "resolved_at": _local(row.resolved_at, zone),
            "chased_at": _local(row.chased_at, zone),
            "escalated_at": _local(row.escalated_at, zone),
            "callback_id": row.callback_id and str(row.callback_id),
            "overdue": self.is_overdue(now, chase_after),
        }
        if timeline:
            body["timeline"] = [e.to_json(zone) for e in self.timeline]
        return body
