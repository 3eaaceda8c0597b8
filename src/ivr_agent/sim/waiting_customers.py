"""Simulated customers who wait for the agent's automatic callback after giving up.

A caller who abandons after more than the short-abandon limit gets a callback (S5); traffic
that includes abandons (the demo, the chaos run) adds one waiting customer per such caller,
on the caller's number, answering in turn as :data:`CUSTOMER_BEHAVIOURS` says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ivr_agent.sim.scenario import Behaviour, CallbackCustomer, InboundCall

#: Keys a customer who takes the whole survey presses, one as each prompt ends.
SURVEY_DIGITS = ("1", "5", "4", "5", "5", "4")
#: The same for a service callback, which first asks whether the problem was solved (1: yes).
SERVICE_SURVEY_DIGITS = ("1", "1", "5", "4", "5", "5", "4")
#: What the waiting customers do when called back, in turn.
CUSTOMER_BEHAVIOURS: tuple[tuple[Behaviour, tuple[str, ...]], ...] = (
    ("answer", SURVEY_DIGITS),  # agrees and scores the five questions
    ("answer", ("2",)),  # "not now": rescheduled
    ("no_answer", ()),  # lets it ring: retried after the interval
)
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
                start=call.start,
                wait=wait(call),
            )
        )
    return tuple(customers)
