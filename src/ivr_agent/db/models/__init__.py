"""The database schema as SQLAlchemy 2 typed models (the migrations are the source of truth
for the live schema; these models must match them, a test checks it).

Keys make every write idempotent: a call is keyed by ``(pbx_id, linkedid)`` and its
``call_id`` is derived from them; callbacks, attempts, recordings and tokens carry ids the
agent chooses before it acts. Children of a call (holds, prompts, events) are keyed by
``(call_id, seq)`` and replaced as a whole when the call is saved again. Every time is
``timestamptz``; every constraint has a stable name from :data:`NAMING_CONVENTION`.

One module per subject (``base``, ``calls``, ``callbacks``, ``follow_up``, ``access``,
``rollups``), all on one metadata; import the models from this package.
"""

from ivr_agent.db.models.access import (
    ApiSessionRow,
    ApiTokenRow,
    AuditLogRow,
)
from ivr_agent.db.models.base import (
    ATTEMPT_OUTCOMES,
    ATTEMPT_STATES,
    CALLBACK_REASONS,
    CALLBACK_STATUSES,
    NAMING_CONVENTION,
    RECORDING_KINDS,
    RECORDING_STATUSES,
    TOKEN_ROLES,
    Base,
    Timestamp,
    table_of,
)
from ivr_agent.db.models.callbacks import (
    CallbackAttemptRow,
    CallbackRow,
    CampaignCustomerRow,
    CampaignRow,
    CampaignRunRow,
    SurveyScoreRow,
)
from ivr_agent.db.models.calls import (
    CallEventRow,
    CallRow,
    HoldRow,
    PromptPlayedRow,
    RecordingRow,
)
from ivr_agent.db.models.follow_up import (
    QA_INDICES,
    CallRecordRow,
    ComplaintEventRow,
    ComplaintRow,
    QaScoreRow,
)
from ivr_agent.db.models.rollups import (
    RollupBasisRow,
    RollupCallbackFactsRow,
    RollupCallbacksRow,
    RollupCallsByOperatorDailyRow,
    RollupCallsByOperatorRow,
    RollupCallsRow,
)

__all__ = [
    "ATTEMPT_OUTCOMES",
    "ATTEMPT_STATES",
    "CALLBACK_REASONS",
    "CALLBACK_STATUSES",
    "NAMING_CONVENTION",
    "QA_INDICES",
    "RECORDING_KINDS",
    "RECORDING_STATUSES",
    "TOKEN_ROLES",
    "ApiSessionRow",
    "ApiTokenRow",
    "AuditLogRow",
    "Base",
    "CallEventRow",
    "CallRecordRow",
    "CallRow",
    "CallbackAttemptRow",
    "CallbackRow",
    "CampaignCustomerRow",
    "CampaignRow",
    "CampaignRunRow",
    "ComplaintEventRow",
    "ComplaintRow",
    "HoldRow",
    "PromptPlayedRow",
    "QaScoreRow",
    "RecordingRow",
    "RollupBasisRow",
    "RollupCallbackFactsRow",
    "RollupCallbacksRow",
    "RollupCallsByOperatorDailyRow",
    "RollupCallsByOperatorRow",
    "RollupCallsRow",
    "SurveyScoreRow",
    "Timestamp",
    "table_of",
]
