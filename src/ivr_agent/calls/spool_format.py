"""The spool's line format: one finished call (outcome, extra facts, timeline) per JSON line,
and back. The spool outlives agent versions, so reading is strict: a line that does not
decode to a valid outcome raises, and the outbox sets it aside."""

from __future__ import annotations

import json
import typing
from dataclasses import fields
from datetime import datetime
from typing import Any

from ivr_agent.core.outcome import CallOutcome, HoldInterval, PromptPlayed
from ivr_agent.core.timeline import TimelineEvent

_DATETIME_FIELDS = frozenset(
    f.name
    for f in fields(CallOutcome)
    if "datetime" in str(typing.get_type_hints(CallOutcome).get(f.name))
)


def _when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def outcome_from_json(data: dict[str, Any]) -> CallOutcome:
    """The inverse of ``CallOutcome.to_json()`` (times parsed, holds and prompts rebuilt)."""
    known = {f.name for f in fields(CallOutcome)}  # "extra" included when the caller gives it
    values: dict[str, Any] = {k: v for k, v in data.items() if k in known}
    for name in _DATETIME_FIELDS & values.keys():
        values[name] = _when(values[name])
    values["holds"] = tuple(
        HoldInterval(
            started_at=datetime.fromisoformat(h["started_at"]),
            ended_at=_when(h["ended_at"]),
            seconds=h["seconds"],
            reminders_played=h["reminders_played"],
        )
        for h in data.get("holds", ())
    )
    values["prompts_played"] = tuple(
        PromptPlayed(**{**p, "at": datetime.fromisoformat(p["at"])})
        for p in data.get("prompts_played", ())
    )
    return CallOutcome(**values)


def timeline_from_json(data: list[dict[str, Any]]) -> tuple[TimelineEvent, ...]:
    """The inverse of ``TimelineEvent.to_json()`` for a whole timeline."""
    return tuple(
        TimelineEvent(
            at=datetime.fromisoformat(e["at"]),
            kind=e["kind"],
            channel=e["channel"],
            details=e["details"],
        )
        for e in data
    )


#: Beyond this size the spool takes no new line: outcomes are held in memory (and go straight
#: to PostgreSQL when it is up) and an error is logged. 256 MiB is about 100 000 outcomes
#: (2–3 KB a line): a day or more of a busy centre's calls with PostgreSQL down, while a
#: runaway spool cannot fill the disk that the PBX's recordings and PostgreSQL share.
def encode_line(outcome: CallOutcome, timeline: typing.Sequence[TimelineEvent]) -> bytes:
    """One spool line (JSON and a newline) holding a finished call."""
    record = {
        "outcome": outcome.to_json(),
        "extra": outcome.extra,
        "timeline": [e.to_json() for e in timeline],
    }
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def decode_line(raw: bytes) -> tuple[CallOutcome, tuple[TimelineEvent, ...]]:
    """The outcome and timeline of a spool line; ValueError, KeyError or TypeError if bad."""
    record = json.loads(raw)
    outcome = outcome_from_json({**record["outcome"], "extra": record.get("extra", {})})
    outcome.to_json()  # a time without a zone: rejected here, not by the store
    return outcome, timeline_from_json(record["timeline"])
