"""The recording routes' response models (a recording's metadata is ``qa``'s
:class:`~ivr_agent.qa.RecordingInfo`: the replay bundle carries it too)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from ivr_agent.platform.apidoc import Reply
from ivr_agent.recordings.waveform import MAX_BUCKETS


class Peaks(Reply):
    """``GET /api/recordings/{recording_id}/peaks``: waveform levels for the player."""

    recording_id: str
    seconds: float | None
    peaks: list[float] = Field(description="One level 0-1 per bucket.")


class PeaksQuery(BaseModel):
    """``GET /api/recordings/{recording_id}/peaks`` query parameters."""

    buckets: int = Field(default=600, ge=1, le=MAX_BUCKETS)


class RecordingPaused(Reply):
    """``POST /api/calls/{call_id}/recording/pause`` and ``…/resume``."""

    call_id: str
    paused: bool
    at: datetime
