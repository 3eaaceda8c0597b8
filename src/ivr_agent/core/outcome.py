"""The outcome of one finished call: the contract other tools rely on (DESIGN.md).

``CallOutcome.to_json()`` is what ``ivr-agent calls export``, ``ivr-agent replay``,
``GET /api/calls`` and ``GET /api/calls/{call_id}`` return. Key order and number formatting
are fixed, so replaying the same capture gives byte-identical output.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from .texts import N_

Direction = Literal["inbound", "callback"]
#: Who ended the call first (S9): the caller (on a callback: the customer), the operator,
#: or the PBX (the agent's own hang-up of a silent caller, an application, a timeout).
HungUpBy = Literal["caller", "operator", "system"]
Silence = Literal["none", "prompted_then_spoke", "hung_up_silent"]

#: How pages name each :data:`Direction` and :data:`Silence` (in English; the pages show the
#: catalogue's translation).
DIRECTION_LABELS: Mapping[str, str] = {"inbound": N_("inbound"), "callback": N_("callback")}
#: How pages name the kind of call a callback placed (``core.callbacks.CallbackKind``, S5/S8).
CALL_KIND_LABELS: Mapping[str, str] = {
    "survey": N_("survey callback"),
    "return_call": N_("return call"),
    "specialist": N_("specialist call-back"),
}
SILENCE_LABELS: Mapping[str, str] = {
    "none": N_("caller spoke"),
    "prompted_then_spoke": N_("prompted, then spoke"),
    "hung_up_silent": N_("silent, hung up"),
}

# Fixed namespace: call ids derived from (pbx_id, linkedid) are the same on every agent,
# so a replay or a second agent writes the same row instead of a duplicate.
_CALL_ID_NAMESPACE = uuid.UUID("8f6c1f0e-4b8e-4c57-9f3a-2d0b7c3e9a11")


def call_id_for(pbx_id: str, linkedid: str) -> str:
    """The stable, opaque id of the call ``linkedid`` on PBX ``pbx_id``."""
    return str(uuid.uuid5(_CALL_ID_NAMESPACE, f"{pbx_id}/{linkedid}"))


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 with zone and microseconds, or ``None``."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("outcome times must carry a zone")
    return moment.isoformat(timespec="microseconds")


def seconds(value: float | None) -> float | None:
    """Seconds rounded to the millisecond: AMI timestamps carry microseconds, but ms is honest."""
    return None if value is None else round(value, 3)


@dataclass(frozen=True)
class HoldInterval:
    """One hold of the caller by the operator."""

    started_at: datetime
    ended_at: datetime | None
    seconds: float | None
    reminders_played: int = 0

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict in contract order."""
        return {
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at),
            "seconds": seconds(self.seconds),
            "reminders_played": self.reminders_played,
        }


@dataclass(frozen=True)
class PromptPlayed:
    """A scripted prompt the call heard (or was due to hear: ``played`` says which)."""

    prompt: str
    at: datetime
    played: bool = True
    finished: bool | None = None
    to: Literal["caller", "both", "customer"] = "caller"

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict in contract order."""
        return {
            "prompt": self.prompt,
            "at": iso(self.at),
            "played": self.played,
            "finished": self.finished,
            "to": self.to,
        }


@dataclass(frozen=True)
class CallOutcome:
    """Everything measured about one finished call (STANDARDS.md S1–S3, S6, S9)."""

    call_id: str
    pbx_id: str
    linkedid: str
    direction: Direction
    caller_number: str | None
    operator_id: str | None
    offered_at: datetime
    wait_started_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime
    ring_seconds: float | None
    rings: int | None
    answered_within_standard: bool | None
    abandoned: bool
    short_abandon: bool
    holds: tuple[HoldInterval, ...] = ()
    max_hold_seconds: float | None = None
    hold_over_limit: bool = False
    silence: Silence = "none"
    prompts_played: tuple[PromptPlayed, ...] = ()
    talk_seconds: float | None = None
    duration_seconds: float = 0.0
    over_max_duration: bool = False
    #: None: no hang-up request was seen (a capture or PBX without those events).
    hung_up_by: HungUpBy | None = None
    operator_hung_up_first: bool = False
    recording_id: str | None = None
    complete: bool = True
    incomplete_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The contract object, keys in a fixed order."""
        return {
            "call_id": self.call_id,
            "pbx_id": self.pbx_id,
            "linkedid": self.linkedid,
            "direction": self.direction,
            "caller_number": self.caller_number,
            "operator_id": self.operator_id,
            "offered_at": iso(self.offered_at),
            "wait_started_at": iso(self.wait_started_at),
            "answered_at": iso(self.answered_at),
            "ended_at": iso(self.ended_at),
            "ring_seconds": seconds(self.ring_seconds),
            "rings": self.rings,
            "answered_within_standard": self.answered_within_standard,
            "abandoned": self.abandoned,
            "short_abandon": self.short_abandon,
            "holds": [h.to_json() for h in self.holds],
            "max_hold_seconds": seconds(self.max_hold_seconds),
            "hold_over_limit": self.hold_over_limit,
            "silence": self.silence,
            "prompts_played": [p.to_json() for p in self.prompts_played],
            "talk_seconds": seconds(self.talk_seconds),
            "duration_seconds": seconds(self.duration_seconds),
            "over_max_duration": self.over_max_duration,
            "hung_up_by": self.hung_up_by,
            "operator_hung_up_first": self.operator_hung_up_first,
            "recording_id": self.recording_id,
            "complete": self.complete,
            "incomplete_reason": self.incomplete_reason,
        }

    def to_json_line(self) -> str:
        """One line of ``calls export`` / ``replay`` output."""
        return dumps_line(self.to_json())


def dumps_line(obj: dict[str, Any]) -> str:
    """Canonical JSON line: UTF-8 text kept readable (caller names are Chinese)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
