"""In-queue callback requests: whom to keep an operator for, whom to dial, what to give back
(core/queue_callbacks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from ivr_agent.core.queue_callbacks import (
    QueuedCaller,
    QueueMember,
    QueueSnapshot,
    WaitingRequest,
    place_order,
    plan_dispatch,
    reservation_reason,
)

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
OP = "PJSIP/op011"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def snapshot(*joined: float, members: tuple[QueueMember, ...] = ()) -> QueueSnapshot:
    callers = tuple(QueuedCaller(f"c{n}", at(s)) for n, s in enumerate(joined))
    return QueueSnapshot("hotline", callers, members or (QueueMember(OP),))


def test_the_handbook_case_one_operator_kept_in_turn_for_each_place() -> None:
    third, fourth = WaitingRequest("c", at(2)), WaitingRequest("d", at(3))
    # The 2nd caller (joined at 1 s) still waits: nothing for the 3rd and 4th yet.
    busy = QueueMember(OP, busy=True)
    assert plan_dispatch(snapshot(1, 4, members=(busy,)), [fourth, third]).reserve == ()
    # The 2nd caller is with the operator: the 3rd keeps that operator (paused) ahead of the
    # 5th caller (joined at 4 s), and is dialled only once the operator is free.
    plan = plan_dispatch(snapshot(4, members=(busy,)), [fourth, third])
    assert (plan.reserve, plan.dial) == ((("c", OP),), ())
    kept = QueueMember(OP, busy=True, paused=True, paused_reason=reservation_reason("c"))
    held = WaitingRequest("c", at(2), member=OP)
    assert plan_dispatch(snapshot(4, members=(kept,)), [fourth, held]).dial == ()
    free = QueueMember(OP, paused=True, paused_reason=reservation_reason("c"))
    plan = plan_dispatch(snapshot(4, members=(free,)), [fourth, held])
    assert (plan.reserve, plan.dial, plan.unpause) == ((), ("c",), ())
    # Dialled, it rejoins the queue with its priority: its operator is given back to the
    # queue (which rings them for it); the 4th waits for the next operator.
    flying = WaitingRequest("c", at(2), in_flight=True, member=OP, channel_id="ivr-agent-cb-1")
    queued = QueueSnapshot(
        "hotline",
        (QueuedCaller("c4", at(4)), QueuedCaller("ivr-agent-cb-1", at(30), return_call=True)),
        (free,),
    )
    plan = plan_dispatch(queued, [fourth, flying])
    assert (plan.unpause, plan.forget) == ((OP,), ("c",))
    assert plan.dial == ()


def test_no_operator_no_reservation_and_later_places_wait() -> None:
    plan = plan_dispatch(QueueSnapshot("q"), [WaitingRequest("a", at(0))])
    assert plan == plan_dispatch(QueueSnapshot("q"), [])


def test_two_free_operators_two_places_in_order() -> None:
    members = (QueueMember("PJSIP/b"), QueueMember("PJSIP/a"))
    plan = plan_dispatch(
        snapshot(members=members), [WaitingRequest("y", at(2)), WaitingRequest("x", at(1))]
    )
    assert plan.reserve == (("x", "PJSIP/a"), ("y", "PJSIP/b"))
    assert plan.dial == ("x", "y")


def test_an_operator_paused_by_someone_else_is_never_kept_nor_given_back() -> None:
    lunch = QueueMember(OP, paused=True, paused_reason="lunch")
    plan = plan_dispatch(snapshot(members=(lunch,)), [WaitingRequest("a", at(0))])
    assert plan.reserve == plan.dial == plan.unpause == ()


def test_a_reservation_whose_request_is_gone_is_given_back() -> None:
    left = QueueMember(OP, paused=True, paused_reason=reservation_reason("gone"))
    assert plan_dispatch(snapshot(members=(left,)), []).unpause == (OP,)


def test_a_return_call_waiting_in_the_queue_takes_the_free_operator_first() -> None:
    queued = QueueSnapshot(
        "q", (QueuedCaller("ivr-agent-cb-1", at(30), return_call=True),), (QueueMember(OP),)
    )
    plan = plan_dispatch(queued, [WaitingRequest("d", at(3))])
    assert (plan.reserve, plan.dial) == ((), ())


def test_a_done_request_gives_its_operator_back_then_is_forgotten() -> None:
    done = WaitingRequest("c", at(2), member=OP, open=False)
    paused = QueueMember(OP, busy=True, paused=True, paused_reason=reservation_reason("c"))
    plan = plan_dispatch(snapshot(members=(paused,)), [done])
    assert (plan.unpause, plan.forget, plan.reserve) == ((OP,), (), ())
    plan = plan_dispatch(snapshot(members=(QueueMember(OP, busy=True),)), [done])
    assert (plan.unpause, plan.forget) == ((), ("c",))


def test_an_operator_kept_for_a_request_who_lost_their_pause_is_paused_again() -> None:
    # Given back while the database was out of reach: busy now, still kept for "c" (whose
    # place is ahead of the caller who joined at 4 s), so paused again before they come free.
    held = WaitingRequest("c", at(2), member=OP)
    plan = plan_dispatch(snapshot(4, members=(QueueMember(OP, busy=True),)), [held])
    assert (plan.restore, plan.reserve, plan.dial) == ((("c", OP),), (), ())
    # Free already: paused again and dialled (the return call is theirs).
    plan = plan_dispatch(snapshot(4, members=(QueueMember(OP),)), [held])
    assert (plan.restore, plan.dial) == ((("c", OP),), ("c",))
    # Still paused for it, or paused by someone else: nothing to restore.
    kept = QueueMember(OP, busy=True, paused=True, paused_reason=reservation_reason("c"))
    lunch = QueueMember(OP, paused=True, paused_reason="lunch")
    for member in (kept, lunch):
        assert plan_dispatch(snapshot(4, members=(member,)), [held]).restore == ()


def test_a_caller_of_the_same_moment_counts_as_earlier_only_if_strictly_before() -> None:
    assert plan_dispatch(snapshot(5), [WaitingRequest("a", at(5))]).dial == ("a",)
    assert plan_dispatch(snapshot(4.999), [WaitingRequest("a", at(5))]).dial == ()


offsets = st.floats(min_value=0, max_value=600, allow_nan=False)
interfaces = st.sampled_from([f"PJSIP/op{n:03d}" for n in range(1, 6)])


@st.composite
def cases(draw: st.DrawFn) -> tuple[QueueSnapshot, list[WaitingRequest]]:
    requests = draw(
        st.lists(
            st.builds(
                WaitingRequest,
                callback_id=st.uuids().map(str),
                queued_at=offsets.map(at),
                in_flight=st.booleans(),
                member=st.none() | interfaces,
                channel_id=st.none() | st.sampled_from(["ivr-agent-cb-1", "ivr-agent-cb-2"]),
                open=st.booleans(),
            ),
            max_size=8,
            unique_by=(lambda r: r.callback_id),
        )
    )
    # A member is kept for one request at most (the store's invariant).
    seen: set[str] = set()
    kept = []
    for r in requests:
        if r.member in seen:
            r = WaitingRequest(r.callback_id, r.queued_at, r.in_flight, None, r.channel_id, r.open)
        if r.member:
            seen.add(r.member)
        kept.append(r)
    ids = [r.callback_id for r in kept] + ["gone"]
    members = draw(
        st.lists(
            st.builds(
                QueueMember,
                interface=interfaces,
                reachable=st.booleans(),
                busy=st.booleans(),
                paused=st.booleans(),
                paused_reason=st.sampled_from(["", "lunch"])
                | st.sampled_from(ids).map(reservation_reason),
            ),
            max_size=5,
            unique_by=(lambda m: m.interface),
        )
    )
    callers = draw(
        st.lists(
            st.builds(
                QueuedCaller,
                uniqueid=st.sampled_from(["a", "b", "ivr-agent-cb-1", "ivr-agent-cb-2"]),
                joined_at=offsets.map(at),
                return_call=st.booleans(),
            ),
            max_size=6,
        )
    )
    return QueueSnapshot("q", tuple(callers), tuple(members)), kept


@given(cases())
def test_properties_of_every_plan(case: tuple[QueueSnapshot, list[WaitingRequest]]) -> None:
    snap, requests = case
    plan = plan_dispatch(snap, requests)
    by_id = {r.callback_id: r for r in requests}
    members = {m.interface: m for m in snap.members}
    reserved = dict(plan.reserve)
    # Exactly once: nobody dialled twice, nobody already in flight.
    assert len(set(plan.dial)) == len(plan.dial)
    assert not any(by_id[c].in_flight or not by_id[c].open for c in plan.dial)
    assert all(by_id[c].open for c, _ in plan.reserve)
    # Each dialled request has its own operator, and that operator is free: never more
    # return calls than free operators.
    operators = [reserved.get(c) or by_id[c].member for c in plan.dial]
    assert None not in operators
    assert len(set(operators)) == len(operators)
    assert all(not members[o].busy for o in operators if o is not None)
    # A return call already in the queue takes a free operator first.
    returning = sum(c.return_call for c in snap.callers)
    free = [m for m in snap.members if m.reachable and not m.busy and (not m.paused or m.ours)]
    assert len(plan.dial) <= max(len(free) - returning, 0)
    # Never ahead of a caller still waiting who joined earlier.
    for c in list(plan.dial) + list(reserved):
        assert all(x.return_call or x.joined_at >= by_id[c].queued_at for x in snap.callers)
    # In the order of their places: whoever gets an operator, everyone before them has one.
    waiting = sorted((r for r in requests if r.open and not r.in_flight), key=place_order)
    served = {c for c in reserved} | {r.callback_id for r in waiting if r.member in members}
    positions = [i for i, r in enumerate(waiting) if r.callback_id in reserved]
    for i in positions:
        assert all(w.callback_id in served for w in waiting[:i])
    # Operators paused for another reason are never kept nor given back; reservations are
    # new operators, kept by nobody else, each once.
    for interface in list(plan.unpause) + list(reserved.values()):
        member = members[interface]
        assert not member.paused or member.ours
    held = {r.member for r in requests if r.member and r.open}
    assert not set(reserved.values()) & held
    assert len(set(reserved.values())) == len(reserved)
    # Pauses restored: only the request's own operator, not paused by anyone now, never one
    # given back in the same plan.
    for callback_id, interface in plan.restore:
        assert by_id[callback_id].member == interface
        assert by_id[callback_id].open
        assert not members[interface].paused
        assert interface not in plan.unpause


@given(cases())
def test_a_plan_applied_then_taken_again_dials_nobody_twice(
    case: tuple[QueueSnapshot, list[WaitingRequest]],
) -> None:
    snap, requests = case
    first = plan_dispatch(snap, requests)
    reserved = dict(first.reserve)
    after = [
        WaitingRequest(
            r.callback_id,
            r.queued_at,
            r.in_flight or r.callback_id in first.dial,
            reserved.get(r.callback_id, r.member),
            r.channel_id,
            r.open,
        )
        for r in requests
    ]
    again = plan_dispatch(snap, after)
    assert not set(first.dial) & set(again.dial)
    assert not set(reserved) & {c for c, _ in again.reserve}
