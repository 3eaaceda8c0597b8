"""The rules of placing a callback, apart from placing it: our channel id, the dial string,
what an unanswered call's status means, which database errors are worth waiting out, and
the stored result of an answered call's report."""

from __future__ import annotations

from ivr_agent.callbacks.attempts import AttemptResult
from ivr_agent.callbacks.call import CallReport
from ivr_agent.core.callbacks import FailedOutcome
from ivr_agent.core.phone import is_dialable
from ivr_agent.db.errors import StoreError
from ivr_agent.pbx.ari import JsonObject

CHANNEL_PREFIX = "ivr-agent-cb-"
#: SQLSTATE classes of a database that is down, restarting or overloaded (retried until it
#: is back); any other SQL state is the server refusing the write itself.
_TRANSIENT_SQLSTATE_CLASSES = ("08", "40", "53", "57", "58")
#: Dial statuses and hang-up causes (Q.850) of calls nobody answered.
_DIAL_STATUS: dict[str, FailedOutcome] = {
    "BUSY": "busy",
    "NOANSWER": "no_answer",
    "CANCEL": "no_answer",
}
_CAUSES: dict[int, FailedOutcome] = {
    17: "busy",
    21: "busy",
    18: "no_answer",
    19: "no_answer",
    16: "no_answer",
}


def channel_id_for(attempt_id: str) -> str:
    """Our ARI channel id for an attempt (stored with the attempt before the originate)."""
    return f"{CHANNEL_PREFIX}{attempt_id}"


def dial_string(template: str, number: str) -> str:
    """``template`` with ``{number}``; ValueError unless ``number`` is digits (optional ``+``)."""
    # The API validated it already (core.phone.check_customer_number); this is the last gate.
    if not is_dialable(number):
        raise ValueError(f"customer number {number!r} is not 3-20 digits with an optional +")
    return template.replace("{number}", number)


def specialist_endpoint(template: str, operator_id: str) -> str:
    """The specialist's dial string: ``template`` with ``{operator_id}``; ValueError unless
    the id is 1-6 digits (nothing else reaches a dial string)."""
    if not (operator_id.isascii() and operator_id.isdigit() and 1 <= len(operator_id) <= 6):
        raise ValueError(f"operator id {operator_id!r} is not 1-6 digits")
    return template.replace("{operator_id}", operator_id)


def unanswered_outcome(dial_status: str | None, cause: int | None) -> tuple[FailedOutcome, str]:
    """The attempt outcome of a call that ended before it was answered, and why."""
    if dial_status in _DIAL_STATUS:
        return _DIAL_STATUS[dial_status], f"dial status {dial_status}"
    if cause in _CAUSES:
        why = "rejected by the customer's phone" if cause == 21 else f"hang-up cause {cause}"
        return _CAUSES[cause], why
    return "failed", f"dial status {dial_status or 'unknown'}, hang-up cause {cause}"


def cause_of(event: JsonObject) -> int | None:
    """The Q.850 hang-up cause of an ARI channel event, if it has one."""
    cause = event.get("cause")
    return cause if isinstance(cause, int) else None


def is_transient(exc: StoreError) -> bool:
    """True if ``exc`` says the database is unreachable or busy, not that it refused."""
    return exc.sqlstate is None or exc.sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES


def attempt_result(report: CallReport) -> AttemptResult:
    """The store's :class:`AttemptResult` of an answered call's report."""
    return AttemptResult(
        outcome=report.outcome,
        answered_at=report.answered_at,
        scores=dict(report.scores),
        recording=report.recording,
        detail=report.reason,
        ended_at=report.ended_at,
        better_time=report.better_time,
        problem_solved=report.problem_solved,
    )
