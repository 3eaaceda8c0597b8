"""Callbacks (S5): jobs in PostgreSQL, the dialer placing them over ARI, the recorded survey.

Other parts of the agent use what is exported here; app.py and cli/ compose the modules.
"""

from ivr_agent.callbacks.calendar import CalendarError, callback_config
from ivr_agent.callbacks.jobs import (
    CallbackRequest,
    CreatedCallback,
    callback_for_abandoned,
    create_callback,
)
from ivr_agent.callbacks.queries import get_callback, iter_callback_calls, list_callbacks
from ivr_agent.callbacks.queue_requests import answer_in_place, request_for_queue_callback
from ivr_agent.callbacks.sessions import in_transaction, utc
from ivr_agent.callbacks.specialist import (
    CUSTOMER_CHANNEL_PREFIX,
    attempt_of_customer_channel,
)

__all__ = [
    "CUSTOMER_CHANNEL_PREFIX",
    "CalendarError",
    "CallbackRequest",
    "CreatedCallback",
    "answer_in_place",
    "attempt_of_customer_channel",
    "callback_config",
    "callback_for_abandoned",
    "create_callback",
    "get_callback",
    "in_transaction",
    "iter_callback_calls",
    "list_callbacks",
    "request_for_queue_callback",
    "utc",
]
