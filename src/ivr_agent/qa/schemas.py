"""The QA API's models: a score as submitted and as stored, the replay bundle, a recording's
metadata. A score body is validated through :class:`ScoreBody` from the JSON API and from
the QA page's form alike."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from ivr_agent.calls import Call
from ivr_agent.core.satisfaction import SCORE_MAX, SCORE_MIN
from ivr_agent.platform.apidoc import Reply
from ivr_agent.qa.scores import MAX_COMMENT


def _index(value: object) -> object:
    # A form sends text: ASCII digits only ("²".isdigit() is true, and int() raises on it).
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,3}", value.strip()):
        return int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"required, an integer {SCORE_MIN}-{SCORE_MAX}")
    return value


def _comment(value: str) -> str:
    value = value.strip()
    if len(value) > MAX_COMMENT:
        raise ValueError(f"longer than {MAX_COMMENT} characters")
    return value


def _supersedes(value: object) -> object:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError("must be a score id")
    return value


Index = Annotated[int, BeforeValidator(_index), Field(ge=SCORE_MIN, le=SCORE_MAX)]


class ScoreBody(BaseModel):
    """``POST /api/calls/{call_id}/scores``: the five indices 1-5, a comment, and for a
    correction the ``score_id`` of the call's latest score."""

    model_config = ConfigDict(extra="forbid")

    skill: Index
    attitude: Index
    timeliness: Index
    parts: Index
    overall: Index
    comment: Annotated[str, Field(strict=True), AfterValidator(_comment)] = Field(
        default="", json_schema_extra={"maxLength": MAX_COMMENT}
    )
    supersedes: Annotated[str | None, BeforeValidator(_supersedes)] = Field(
        default=None, description="The score_id a correction replaces (the call's latest)."
    )

    def indices(self) -> dict[str, int]:
        """The five indices by name."""
        return self.model_dump(include={"skill", "attitude", "timeliness", "parts", "overall"})


class QaScore(Reply):
    """One version of a call's QA score."""

    score_id: str
    call_id: str
    version: int
    supersedes: str | None
    scores: dict[str, int]
    satisfaction_index: float
    comment: str
    scored_by: str
    scorer_role: str
    created_at: datetime
    superseded: bool


class ScoreHistory(Reply):
    """``GET /api/calls/{call_id}/scores``: every version, oldest first."""

    scores: list[QaScore]


class RecordingInfo(Reply):
    """A recording's metadata (never its path)."""

    recording_id: str
    call_id: str | None
    attempt_id: str | None
    sha256: str | None
    seconds: float | None
    bytes: int | None
    status: Literal["ok", "corrupt", "missing", "purged"]
    reason: str | None
    started_at: datetime | None
    kind: Literal["call", "suggestion"] = Field(
        description="call: the whole call; suggestion: what the caller said after pressing 2."
    )


class Marker(Reply):
    """One thing on the replay timeline: seconds from the recording's start."""

    kind: str
    label: str
    start: float
    end: float | None


class PauseMark(Reply):
    """A recording pause or resume."""

    at: datetime
    action: Literal["pause", "resume"]
    by: str


class ReplayBundle(Reply):
    """``GET /api/calls/{call_id}/qa``: what QA replay needs about a call."""

    call: Call
    recording: RecordingInfo | None
    suggestions: list[RecordingInfo] = Field(
        description="The caller's spoken suggestions (S9), oldest first."
    )
    origin: datetime
    markers: list[Marker]
    pauses: list[PauseMark]
    scores: list[QaScore]
