"""The call record (来电记录 / 工单, S7): its kinds and statuses, and how pages name them.

One definition for the table's CHECK constraints, the API's schema and the wrap-up form.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

from .texts import N_

RecordType = Literal["consultation", "complaint", "suggestion", "business"]
RecordStatus = Literal["open", "in_progress", "done"]

#: What the call was about: 咨询 | 投诉 | 建议 | 业务办理.
RECORD_TYPES: Final[tuple[RecordType, ...]] = (
    "consultation",
    "complaint",
    "suggestion",
    "business",
)
#: Where its follow-up stands: 待处理 | 处理中 | 已完成.
RECORD_STATUSES: Final[tuple[RecordStatus, ...]] = ("open", "in_progress", "done")

#: How pages name each type (English; the catalogue has the Chinese).
TYPE_LABELS: Mapping[str, str] = {
    "consultation": N_("Consultation"),
    "complaint": N_("Complaint"),
    "suggestion": N_("Suggestion"),
    "business": N_("Business request"),
}
#: How pages name each status.
STATUS_LABELS: Mapping[str, str] = {
    "open": N_("Open"),
    "in_progress": N_("In progress"),
    "done": N_("Done"),
}

#: How the wrap-up page names the state of a specialist call-back the record handed the
#: call over with (S8; ``core.callbacks.Status``).
CALLBACK_STATUS_LABELS: Mapping[str, str] = {
    "pending": N_("waiting to be dialled"),
    "in_progress": N_("being dialled"),
    "completed": N_("reached"),
    "declined": N_("declined"),
    "unreachable": N_("not reached"),
    "cancelled": N_("cancelled"),
}

#: Longest summary and result (characters): a wrap-up note, not a document.
MAX_TEXT = 4000
#: Longest follow-up owner (operator id) and contact name.
MAX_SHORT = 100
