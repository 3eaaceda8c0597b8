"""QA: recordings rows and their audit, versioned QA scores and per-operator averages, the
replay timeline, the QA API and pages. Other parts use what is exported here; app.py and
cli/ compose the rest."""

from ivr_agent.qa.http import request_actor
from ivr_agent.qa.records import (
    PAUSE,
    PLAY,
    PURGE,
    RESUME,
    Recording,
    audit,
    audit_row,
    calls_recorded,
    get_recording,
    recordings_of_call,
    save_call_recording,
)
from ivr_agent.qa.schemas import RecordingInfo
from ivr_agent.qa.scores import operator_qa_averages

__all__ = [
    "PAUSE",
    "PLAY",
    "PURGE",
    "RESUME",
    "Recording",
    "RecordingInfo",
    "audit",
    "audit_row",
    "calls_recorded",
    "get_recording",
    "operator_qa_averages",
    "recordings_of_call",
    "request_actor",
    "save_call_recording",
]
