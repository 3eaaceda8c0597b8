"""Simulated customers who wait for the agent's automatic callback after giving up.

A caller who abandons after more than the short-abandon limit gets a return call (S8); traffic
that includes abandons (the demo, the chaos run) adds one waiting customer per such caller,
on the caller's number, answering in turn as :data:`CUSTOMER_BEHAVIOURS` says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ivr_agent.sim.scenario import Behaviour, CallbackCustomer, InboundCall

#: Keys a customer who takes a service callback's whole survey presses, one as each prompt
#: ends: 1 agrees, 1 "the problem was solved", then the five scores.
SERVICE_SURVEY_DIGITS = ("1", "1", "5", "4", "5", "5", "4")
#: What the waiting customers do when called back (a return call, S8: greeting, then the
#: hotline queue), in turn.
CUSTOMER_BEHAVIOURS: tuple[tuple[Behaviour, tuple[str, ...]], ...] = (
    ("answer", ()),  # stays on the line until an operator answers, talks, hangs up
    ("no_answer", ()),  # lets it ring: retried after the interval
)
#: A customer who answers the return call: the operator phone the queue rings for them
#: answers after this, and the customer hangs up this long after answering the call back.
OPERATOR_ANSWER_AFTER_SECONDS = 2.0
RETURN_CALL_HANGUP_SECONDS = 30.0
#: Margin over the short-abandon threshold: the agent measures the wait from its own
#: events, so a caller hanging up right at the threshold may count as short (no callback).
SHORT_ABANDON_MARGIN_SECONDS = 3.0


def waiting_customers(
    calls: Iterable[InboundCall],
    *,
    short_abandon_seconds: float,
    wait: Callable[[InboundCall], float],
) -> tuple[CallbackCustomer, ...]:
    """One customer per caller of ``calls`` who abandons clearly past the short-abandon
    limit, waiting ``wait(call)`` seconds for the callback from the call's start."""
    customers: list[CallbackCustomer] = []
    for call in calls:
        if call.abandon_after is None:
            continue
        if call.abandon_after < short_abandon_seconds + SHORT_ABANDON_MARGIN_SECONDS:
            continue  # a short abandon gets no callback (S1: a misdial)
        behaviour, digits = CUSTOMER_BEHAVIOURS[len(customers) % len(CUSTOMER_BEHAVIOURS)]
        customers.append(
            CallbackCustomer(
                id=f"callback-{call.id}",
                number=call.caller,
                behaviour=behaviour,
                answer_after=3.0,
                digits=digits,
                operator_answer_after=OPERATOR_ANSWER_AFTER_SECONDS,
                hangup_after=RETURN_CALL_HANGUP_SECONDS if behaviour == "answer" else None,
                start=call.start,
                wait=wait(call),
            )
        )
    return tuple(customers)
