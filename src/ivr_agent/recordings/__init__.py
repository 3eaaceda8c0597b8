"""Recordings: the recording file (verified, kept by opaque id), inbound call recording, the
recording and QA replay routes, and retention.

Other parts of the agent use the file API exported here; app.py and cli/ compose the rest.
"""

from ivr_agent.recordings.disk_wait import download_when_disk_allows, when_disk_allows
from ivr_agent.recordings.files import (
    RecordingFile,
    RecordingStatus,
    is_recording_id,
    keep_verified,
    keep_verified_file,
    resolve_stored,
    store_recording,
    verify_wav,
)

__all__ = [
    "RecordingFile",
    "RecordingStatus",
    "download_when_disk_allows",
    "is_recording_id",
    "keep_verified",
    "keep_verified_file",
    "resolve_stored",
    "store_recording",
    "verify_wav",
    "when_disk_allows",
]
