"""Callbacks (S5): jobs in PostgreSQL, the dialer placing them over ARI, the recorded survey.

Other parts of the agent use what is exported here; app.py and cli/ compose the modules.
"""

from ivr_agent.callbacks.calendar import CalendarError, callback_config
from ivr_agent.callbacks.hand_over import HandOver, hand_to_specialist, specialist_callbacks_of
from ivr_agent.callbacks.http import WAKE_DIALER
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
    "WAKE_DIALER",
    "CalendarError",
    "CallbackRequest",
    "CreatedCallback",
    "HandOver",
    "answer_in_place",
    "attempt_of_customer_channel",
    "callback_config",
    "callback_for_abandoned",
    "create_callback",
    "get_callback",
    "hand_to_specialist",
    "in_transaction",
    "iter_callback_calls",
    "list_callbacks",
    "request_for_queue_callback",
    "specialist_callbacks_of",
    "utc",
]
