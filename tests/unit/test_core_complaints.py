"""The complaint state machine and the S7 chase rule (pure): legal and illegal transitions,
the chase after the department's silence, the escalation after the chase, exactly one of
each per silence, and feedback restarting the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr_agent.core.complaints import (
    COMPLAINT_STATES,
    EVENT_OF,
    NOTHING,
    TRANSITIONS,
    ChaseSettings,
    ComplaintEvent,
    Due,
    IllegalTransition,
    allowed_transitions,
    due_step,
    next_state,
    overdue,
    standing,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
SETTINGS = ChaseSettings(chase_after=3 * DAY, escalate_after=24 * HOUR)


def ev(kind: str, at: datetime) -> ComplaintEvent:
    return ComplaintEvent(kind, at, "test")  # type: ignore[arg-type]


def assigned_at(t: datetime) -> list[ComplaintEvent]:
    return [ev("registered", T0), ev("assigned", t)]


@pytest.mark.parametrize(
    ("state", "transition", "after"),
    [
        ("registered", "assign", "assigned"),
        ("assigned", "assign", "assigned"),
        ("assigned", "feedback", "assigned"),
        ("assigned", "resolve", "resolved"),
        ("resolved", "confirm", "confirmed"),
        ("resolved", "reopen", "reopened"),
        ("reopened", "feedback", "reopened"),
        ("reopened", "resolve", "resolved"),
        ("reopened", "assign", "assigned"),
    ],
)
def test_given_a_legal_transition_then_the_next_state(
    state: str, transition: str, after: str
) -> None:
    assert next_state(state, transition) == after  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("state", "transition"),
    [
        ("registered", "resolve"),
        ("registered", "feedback"),
        ("registered", "confirm"),
        ("assigned", "confirm"),
        ("assigned", "reopen"),
        ("resolved", "resolve"),
        ("resolved", "feedback"),
        ("confirmed", "reopen"),
        ("confirmed", "assign"),
        ("assigned", "fly"),
    ],
)
def test_given_an_illegal_transition_then_the_error_names_the_state_and_transition(
    state: str, transition: str
) -> None:
    with pytest.raises(IllegalTransition) as caught:
        next_state(state, transition)  # type: ignore[arg-type]
    assert caught.value.state == state
    assert state in str(caught.value)
    assert repr(transition) in str(caught.value)


def test_confirmed_is_final_and_every_other_state_has_a_way_on() -> None:
    assert allowed_transitions("confirmed") == ()
    assert "final" in str(IllegalTransition("confirmed", "reopen"))
    for state in COMPLAINT_STATES:
        if state != "confirmed":
            assert allowed_transitions(state)


def test_given_a_timeline_not_starting_with_registration_then_refused() -> None:
    with pytest.raises(ValueError, match="registration"):
        standing([ev("assigned", T0)])


def test_given_a_registered_complaint_then_no_department_is_chased() -> None:
    assert due_step([ev("registered", T0)], T0 + 30 * DAY, SETTINGS) == NOTHING


def test_given_an_assignment_then_the_chase_falls_due_three_days_later() -> None:
    timeline = assigned_at(T0)
    just_before = due_step(timeline, T0 + 3 * DAY - timedelta(seconds=1), SETTINGS)
    assert just_before == Due(None, "chase", T0 + 3 * DAY)
    at = due_step(timeline, T0 + 3 * DAY, SETTINGS)
    assert at == Due("chase", "escalate", T0 + 4 * DAY)


def test_given_a_chase_then_the_escalation_follows_unless_the_department_answers() -> None:
    chased = [*assigned_at(T0), ev("chased", T0 + 3 * DAY + HOUR)]
    assert due_step(chased, T0 + 3 * DAY + 2 * HOUR, SETTINGS) == Due(
        None, "escalate", T0 + 4 * DAY + HOUR
    )
    assert due_step(chased, T0 + 4 * DAY + HOUR, SETTINGS) == Due("escalate", None, None)
    escalated = [*chased, ev("escalated", T0 + 4 * DAY + HOUR)]
    assert due_step(escalated, T0 + 40 * DAY, SETTINGS) == NOTHING
    # Feedback after the chase answers it: a new silence, a new chase 3 days on.
    answered = [*chased, ev("feedback", T0 + 3 * DAY + 5 * HOUR)]
    assert due_step(answered, T0 + 5 * DAY, SETTINGS) == Due(None, "chase", T0 + 6 * DAY + 5 * HOUR)


def test_given_a_resolved_or_confirmed_complaint_then_nothing_is_due() -> None:
    resolved = [*assigned_at(T0), ev("resolved", T0 + DAY)]
    assert due_step(resolved, T0 + 30 * DAY, SETTINGS) == NOTHING
    confirmed = [*resolved, ev("confirmed", T0 + 2 * DAY)]
    assert due_step(confirmed, T0 + 30 * DAY, SETTINGS) == NOTHING


def test_given_a_reopened_complaint_then_its_clock_starts_at_the_reopening() -> None:
    reopened = [*assigned_at(T0), ev("resolved", T0 + DAY), ev("reopened", T0 + 2 * DAY)]
    assert standing(reopened).state == "reopened"
    assert due_step(reopened, T0 + 4 * DAY, SETTINGS) == Due(None, "chase", T0 + 5 * DAY)
    assert due_step(reopened, T0 + 5 * DAY, SETTINGS).step == "chase"


def test_overdue_counts_open_complaints_silent_longer_than_the_chase_time() -> None:
    assert overdue("registered", T0, T0 + 3 * DAY + HOUR, 3 * DAY)
    assert not overdue("assigned", T0, T0 + 3 * DAY, 3 * DAY)
    assert not overdue("resolved", T0, T0 + 30 * DAY, 3 * DAY)


def test_chase_settings_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        ChaseSettings(chase_after=timedelta(0))


# --- properties ---------------------------------------------------------------------------

offsets = st.integers(min_value=0, max_value=20 * 24 * 60).map(lambda m: timedelta(minutes=m))
handling_kinds = st.sampled_from(["feedback", "chased", "escalated", "assigned"])


@st.composite
def handled_timelines(
    draw: st.DrawFn, kinds_drawn: st.SearchStrategy[str] = handling_kinds
) -> list[ComplaintEvent]:
    """A registered, assigned complaint followed by a random run of feedback, chases,
    escalations and re-assignments (or of ``kinds_drawn``), in time order."""
    moments = sorted(draw(st.lists(offsets, min_size=1, max_size=8)))
    kinds = draw(st.lists(kinds_drawn, min_size=len(moments) - 1, max_size=len(moments) - 1))
    timeline = [ev("registered", T0), ev("assigned", T0 + moments[0])]
    timeline += [ev(k, T0 + m) for k, m in zip(kinds, moments[1:], strict=True)]
    return timeline


def _apply(timeline: list[ComplaintEvent], due: Due, now: datetime) -> list[ComplaintEvent]:
    kind = {"chase": "chased", "escalate": "escalated"}[due.step or ""]
    return [*timeline, ev(kind, now)]


@given(handled_timelines(), offsets)
def test_property_a_step_done_is_never_due_again_at_the_same_time(
    timeline: list[ComplaintEvent], later: timedelta
) -> None:
    now = timeline[-1].at + later
    due = due_step(timeline, now, SETTINGS)
    if due.step is None:
        return
    after = due_step(_apply(timeline, due, now), now, SETTINGS)
    assert after.step is None
    if due.step == "chase":
        assert after == Due(None, "escalate", now + SETTINGS.escalate_after)


@given(handled_timelines(st.sampled_from(["feedback", "assigned"])), offsets)
def test_property_nothing_is_due_within_the_chase_time_of_the_last_answer(
    timeline: list[ComplaintEvent], later: timedelta
) -> None:
    # Answers only: the chases and escalations are the rule's own (applied as it runs).
    last_answer = timeline[-1].at
    now = last_answer + later
    due = due_step(timeline, now, SETTINGS)
    if later < SETTINGS.chase_after:
        assert due == Due(None, "chase", last_answer + SETTINGS.chase_after)
    else:
        assert due.step == "chase"


@given(handled_timelines(), offsets)
def test_property_a_waiting_step_falls_due_exactly_at_its_time(
    timeline: list[ComplaintEvent], later: timedelta
) -> None:
    now = timeline[-1].at + later
    due = due_step(timeline, now, SETTINGS)
    if due.step is None and due.next_at is not None:
        assert due.next_at > now
        assert due_step(timeline, due.next_at, SETTINGS).step == due.next_step
        assert due_step(timeline, due.next_at - timedelta(microseconds=1), SETTINGS).step is None


@given(handled_timelines(), st.lists(offsets, min_size=1, max_size=12))
def test_property_run_repeatedly_each_silence_gets_one_chase_then_one_escalation(
    timeline: list[ComplaintEvent], steps: list[timedelta]
) -> None:
    start = len(timeline)
    now = timeline[-1].at
    for step in sorted(steps):
        now = max(now, timeline[-1].at + step)
        due = due_step(timeline, now, SETTINGS)
        if due.step is not None:
            timeline = _apply(timeline, due, now)
    added = [e.kind for e in timeline[start:]]
    assert added in ([], ["chased"], ["chased", "escalated"]) or added == ["escalated"]
    escalations = [e for e in timeline[start:] if e.kind == "escalated"]
    chases = [e for e in timeline if e.kind == "chased"]
    for escalation in escalations:
        assert chases
        assert escalation.at - chases[-1].at >= SETTINGS.escalate_after


def test_every_transition_has_its_event() -> None:
    assert set(EVENT_OF) == set(TRANSITIONS)
