"""Call records (来电记录 / 工单, S7–S8): versioned records of answered calls, their API,
the operator's wrap-up page. Other parts use what is exported here; app.py and cli/ compose
the rest."""

from ivr_agent.records.store import PendingCall, calls_without_record

__all__ = ["PendingCall", "calls_without_record"]
