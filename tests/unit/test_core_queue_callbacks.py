"""In-queue callback requests: which waiting requests are dialled now (core/queue_callbacks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from ivr_agent.core.queue_callbacks import (
    QueuedCaller,
    QueueSnapshot,
    WaitingRequest,
    place_order,
    requests_to_dial,
)

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def snapshot(*joined: float, free: int = 1, return_calls: int = 0) -> QueueSnapshot:
    callers = tuple(QueuedCaller(f"c{n}", at(s)) for n, s in enumerate(joined))
    callers += tuple(QueuedCaller(f"r{n}", at(1000), return_call=True) for n in range(return_calls))
    return QueueSnapshot("hotline", callers, free)


def test_the_handbook_case_earlier_caller_first_then_places_in_order_one_per_free_operator() -> (
    None
):
    # Five callers joined at 0..4 s; the 3rd and 4th pressed 1. The 2nd is still waiting.
    requests = [WaitingRequest("d", at(3)), WaitingRequest("c", at(2))]
    assert requests_to_dial(snapshot(1, 4, free=1), requests) == ()
    # The 2nd caller was answered: the 3rd caller's place is at the front, one operator free.
    assert requests_to_dial(snapshot(4, free=1), requests) == ("c",)
    # Two free operators: both, in the order of their places, ahead of the 5th caller.
    assert requests_to_dial(snapshot(4, free=2), requests) == ("c", "d")


def test_no_free_operator_no_call() -> None:
    assert requests_to_dial(snapshot(free=0), [WaitingRequest("a", at(0))]) == ()


def test_return_calls_in_flight_take_free_operators_first() -> None:
    requests = [WaitingRequest("a", at(0), in_flight=True), WaitingRequest("b", at(1))]
    assert requests_to_dial(snapshot(free=1), requests) == ()
    assert requests_to_dial(snapshot(free=2), requests) == ("b",)
    # Queued again with its priority, a return call still counts against the operators.
    assert requests_to_dial(snapshot(free=1, return_calls=1), [WaitingRequest("b", at(1))]) == ()


def test_a_caller_of_the_same_moment_counts_as_earlier_only_if_strictly_before() -> None:
    assert requests_to_dial(snapshot(5), [WaitingRequest("a", at(5))]) == ("a",)
    assert requests_to_dial(snapshot(4.999), [WaitingRequest("a", at(5))]) == ()


def test_equal_places_are_taken_by_id_on_every_agent() -> None:
    requests = [WaitingRequest("b", at(1)), WaitingRequest("a", at(1))]
    assert requests_to_dial(snapshot(free=1), requests) == ("a",)


offsets = st.floats(min_value=0, max_value=600, allow_nan=False)
request_lists = st.lists(
    st.builds(
        WaitingRequest,
        callback_id=st.uuids().map(str),
        queued_at=offsets.map(at),
        in_flight=st.booleans(),
    ),
    max_size=12,
    unique_by=lambda r: r.callback_id,
)
snapshots = st.builds(
    QueueSnapshot,
    queue=st.just("hotline"),
    callers=st.lists(
        st.builds(
            QueuedCaller,
            uniqueid=st.uuids().map(str),
            joined_at=offsets.map(at),
            return_call=st.booleans(),
        ),
        max_size=12,
    ).map(tuple),
    free_operators=st.integers(0, 6),
)


@given(snapshots, request_lists)
def test_properties_of_every_decision(snap: QueueSnapshot, requests: list[WaitingRequest]) -> None:
    chosen = requests_to_dial(snap, requests)
    by_id = {r.callback_id: r for r in requests}
    in_flight = sum(r.in_flight for r in requests) + sum(c.return_call for c in snap.callers)
    # Never more than the free operators left by the return calls already in flight.
    assert len(chosen) <= max(snap.free_operators - in_flight, 0)
    # Exactly once: no request twice, none already in flight.
    assert len(set(chosen)) == len(chosen)
    assert not any(by_id[c].in_flight for c in chosen)
    # Never ahead of a caller still waiting who joined earlier.
    for c in chosen:
        assert all(
            caller.return_call or caller.joined_at >= by_id[c].queued_at for caller in snap.callers
        )
    # In the order of their places, and a prefix of them: nobody skipped over.
    waiting = sorted((r for r in requests if not r.in_flight), key=place_order)
    assert list(chosen) == [r.callback_id for r in waiting[: len(chosen)]]


@given(snapshots, request_lists)
def test_a_decision_taken_again_after_releasing_dials_nobody_twice(
    snap: QueueSnapshot, requests: list[WaitingRequest]
) -> None:
    # Two agents deciding one after the other (the second sees the first's releases).
    first = set(requests_to_dial(snap, requests))
    after = [
        WaitingRequest(r.callback_id, r.queued_at, r.in_flight or r.callback_id in first)
        for r in requests
    ]
    assert not first & set(requests_to_dial(snap, after))
    assert len(first) + len(requests_to_dial(snap, after)) <= max(
        snap.free_operators
        - sum(r.in_flight for r in requests)
        - sum(c.return_call for c in snap.callers),
        0,
    )
