"""The scheduling rules of callbacks (STANDARDS.md S5), pure: time is always passed in.

Theory of operation
-------------------
*Allowed times.* A callback may be dialled only inside a calling window (default 10:30–11:30
and 15:00–17:30) on a working day, in the call centre's time zone. A working day is one of
the working weekdays, less the public holidays (``days_off``), plus the make-up working days
(调休, ``days_on``): the dates come from the national calendar and the admin's overrides
(:mod:`ivr_agent.callbacks.calendar`); the rules here only look them up. A window whose end is
earlier than its start crosses midnight and belongs to the day it **opens** on: 22:00–02:00
on a Friday runs into Saturday morning even when Saturday is not a working day, but no such
window opens on Saturday night. Service-completed callbacks may also be dialled at any time
inside working hours when ``service_ignores_windows`` is set; this applies to every attempt
of such a callback, not only the first, because their whole life is the 3-hour deadline.

*Instants, not wall clocks.* Every boundary is turned into a UTC instant for its local date
(so arithmetic never runs on wall-clock time, where ``+ 30 min`` across a DST change would be
wrong). A boundary that does not exist locally (clocks jump forward over it) is the instant
the clocks jump; a boundary that exists twice (clocks go back) is its first occurrence.

*Due time and deadline* (:func:`schedule`), from the request's reference time and ``now``:

============================  ====================================  ==========================
reason                        first allowed dial at or after         deadline
============================  ====================================  ==========================
``service_completed``         max(reference, now)                    3 h of working time from
                                                                     the reference (setting)
``complaint_resolved``        max(reference + 24 h, now)             reference + 72 h (setting)
``abandoned_call``/``manual`` max(reference, now) (as soon as         end of the window in which
``queue_callback``            possible; a queue callback is first    the last attempt would fall
                              dialled when its place in the queue    if every attempt failed
                              reaches the front, not by this time)
``campaign``                  max(reference, now); the reference    the later of: the end of
                              is the start of the run's local day   the last window of the day
                              (its first window, or the next one    it is first dialled, and
                              when the run is created late)         the abandoned/manual rule
============================  ====================================  ==========================

A ``campaign`` callback (a regular campaign's run, 每月1号、15号定期回访) has the whole of the
day it is first dialled for its failures to be retried in, and never less than every
attempt needs: so it is never overdue at creation, and a customer unreachable all day is
dialled once more (overdue) on the next working day at the most.

*Own windows.* A callback may carry calling windows of its own (a campaign's, S5: "a setting
per campaign"): they replace the settings' windows for that callback — its due time, the
claim's re-check and every retry (``windows`` of :func:`schedule` and
:class:`CallbackState`, ``own`` of :meth:`CallbackConfig.allowed_windows`).

The "within 30 minutes" of a service callback is the target :attr:`Schedule.target_by`;
``due_at`` is the first allowed moment, which may be later (outside working hours). Both
the 30 min and the 3 h run in **working time** (S5): a service completed on Friday at 19:00
starts its clock at Monday's opening (09:00: target 09:30, deadline 12:00), and one
completed at 17:00 has one hour that day and two the next working morning
(:func:`add_working_time`).

*After an attempt* (:func:`next_state`), given the callback's state and the attempt's result:

- ``completed`` → ``completed``; ``declined`` (the customer refuses) → ``declined``.
- ``connected`` (a return call, S8: the customer answered, heard the return-call greeting and
  was handed to the admin's operator route) → ``completed``. Whether an operator then answered
  is measured on the resulting call (the tracker's outcome, linked by the attempt's channel
  id = that call's Linkedid); a customer who gives up in the queue is not redialled
  automatically (a return call's own abandon creates no new return call), so nobody is
  called in a loop. A customer who hangs up during the greeting is ``hung_up``: a failure,
  retried under the rules below.
- ``no_answer``, ``busy``, ``hung_up`` (the customer hung up before the survey ended) and
  ``failed`` (the agent could not run the call, e.g. recording did not start) are
  **failures**: never an immediate redial — the next attempt is the first allowed moment at
  least ``retry_interval`` after the attempt ended; after ``max_attempts`` failures the
  callback is ``unreachable``. A specialist call-back (S8) is first tried again
  ``specialist_retry_gap`` after the failure while its deadline allows
  (:mod:`.specialist_retries`). A technical failure counts too: the customer's phone may have
  rung, and an endless retry loop would harass them.
- ``rescheduled`` (the customer pressed 2, "not now") is **not** a failure: it is scheduled
  like one (≥ retry interval, inside a window) but counted separately — at the time the
  customer chose, when they chose one (:data:`BetterTime`: later today, or the next working
  day's morning or afternoon window; see :func:`better_time_at`); a customer who says
  "not now" more than ``max_attempts`` times is taken to have declined (status ``declined``,
  outcome ``rescheduled``), so the number of dials stays bounded.
- *Deadline.* If the next attempt would fall after the deadline, the callback is flagged
  ``overdue`` and still dialled **once** more, at that allowed time; an attempt that itself
  started after the deadline gets no successor (a failure then ends ``unreachable``, a
  reschedule ``declined``). So at most one attempt of a callback starts after its deadline.
  A callback whose very first allowed time is past the deadline is created ``overdue`` and
  dialled once. The flag stays set whatever comes of the callback.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

from .specialist_retries import specialist_retry_at

#: Reasons a callback may be requested for (API, abandoned calls); ``campaign`` callbacks are
#: made only by their campaign's runs (``ivr_agent.campaigns``).
RequestableReason = Literal["service_completed", "complaint_resolved", "abandoned_call", "manual"]
#: ``queue_callback``: a caller who pressed 1 in the queue (S8, ``core/queue_callbacks.py``),
#: made only from that call's report.
#: ``specialist``: a problem handed to a specialist (S8: "他会在3分钟内与您联系"), requested
#: through the API with ``kind: specialist`` and the specialist's operator id.
Reason = Literal[RequestableReason, "campaign", "queue_callback", "specialist"]
#: A callback still to be dialled (or being dialled).
OpenStatus = Literal["pending", "in_progress"]
#: A callback never dialled again.
FinalStatus = Literal["completed", "declined", "unreachable", "cancelled"]
Status = Literal[OpenStatus, FinalStatus]
#: How an attempt ended when the customer answered and made a choice (the survey done, "no",
#: "not now") or — a return call (S8) — was handed to the admin's operator route after the
#: greeting (``connected``): the call must have a recording.
AnsweredOutcome = Literal["completed", "declined", "rescheduled", "connected"]
#: How an attempt failed: counted against ``max_attempts`` (see the module's docstring).
FailedOutcome = Literal["no_answer", "busy", "hung_up", "failed"]
#: How an attempt ended: the one definition of the callback outcomes.
Outcome = Literal[AnsweredOutcome, FailedOutcome]
#: How the survey script ends once the customer answered: a choice, or they hung up midway.
ScriptOutcome = Literal[AnsweredOutcome, "hung_up"]

#: What a callback call does once answered: the recorded survey (S5), or a return call that
#: greets the customer and connects them to an operator (S8: 呼损回拨, service, not a survey).
#: Or a specialist call-back (S8): the specialist's phone rings first, then the customer's.
CallbackKind = Literal["survey", "return_call", "specialist"]
CALLBACK_KINDS: tuple[str, ...] = get_args(CallbackKind)
#: Reasons whose callbacks are return calls: an abandoned caller never received the service a
#: survey would ask about (S5), so they are called back to be served. Always, no setting.
RETURN_CALL_REASONS = frozenset({"abandoned_call", "queue_callback"})

#: When a customer who said "not now" would rather be called, chosen on the keypad (S5: on
#: "not convenient", apologise and ask for a better time). "Tomorrow" is the next working day.
BetterTime = Literal["later_today", "tomorrow_morning", "tomorrow_afternoon"]
BETTER_TIMES: tuple[str, ...] = get_args(BetterTime)
#: Where "morning" ends and "afternoon" begins, local time.
NOON = time(12, 0)

REASONS: tuple[str, ...] = get_args(Reason)
STATUSES: tuple[str, ...] = get_args(Status)
OUTCOMES: tuple[str, ...] = get_args(Outcome)
#: Statuses of a callback still to be dialled.
OPEN_STATUSES: tuple[str, ...] = get_args(OpenStatus)
#: Outcomes that count against ``max_attempts``.
FAILURES = frozenset(get_args(FailedOutcome))
#: Outcomes of a customer who answered and made a choice: the call must have a recording.
ANSWERED_OUTCOMES = frozenset(get_args(AnsweredOutcome))

CUSTOMER_NAME_MAX = 64

# How far ahead to look for an allowed time: past any holiday break (a week holds a working
# weekday, the config requires one, but days off can stack: the Spring Festival is 9 days),
# plus the day before for windows that opened yesterday and cross midnight.
_SEARCH_DAYS = range(-1, 367)
_SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Window:
    """A daily local-time window ``[start, end)``; ``end <= start`` means it crosses midnight."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError(f"window {self} is empty")

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    @property
    def crosses_midnight(self) -> bool:
        """True when the window ends on the day after it opens."""
        return self.end < self.start


@dataclass(frozen=True)
class CallbackConfig:
    """The S5 numbers the rules need. Build with :meth:`from_settings`; tests build directly."""

    zone: tzinfo = _SHANGHAI
    windows: tuple[Window, ...] = (
        Window(time(10, 30), time(11, 30)),
        Window(time(15, 0), time(17, 30)),
    )
    #: Monday = 0 … Sunday = 6.
    working_days: frozenset[int] = frozenset(range(5))
    #: Dates off although on a working weekday (public holidays and their days off in lieu).
    days_off: frozenset[date] = frozenset()
    #: Dates worked although not on a working weekday (make-up working days, 调休).
    days_on: frozenset[date] = frozenset()
    working_hours: tuple[Window, ...] = (Window(time(9, 0), time(18, 0)),)
    service_ignores_windows: bool = True
    service_due: timedelta = timedelta(minutes=30)
    service_deadline: timedelta = timedelta(hours=3)
    complaint_min: timedelta = timedelta(hours=24)
    complaint_max: timedelta = timedelta(hours=72)
    retry_interval: timedelta = timedelta(minutes=30)
    max_attempts: int = 3
    #: S8: a specialist contacts the customer within this (他会在3分钟内与您联系).
    specialist_due: timedelta = timedelta(minutes=3)
    #: S8: a failed specialist call-back is tried again this long after, within its due time.
    specialist_retry_gap: timedelta = timedelta(seconds=15)

    def __post_init__(self) -> None:
        if not self.windows:
            raise ValueError("windows: at least one calling window is required")
        if not self.working_days or not self.working_days <= set(range(7)):
            raise ValueError("working_days: at least one day, numbered 0 (Mon) to 6 (Sun)")
        if self.retry_interval <= timedelta(0):
            raise ValueError("retry_interval must be positive (never an immediate redial)")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if timedelta(0) > self.complaint_min or self.complaint_min > self.complaint_max:
            raise ValueError("complaint_min must be between 0 and complaint_max")
        if self.service_deadline <= timedelta(0) or self.service_due <= timedelta(0):
            raise ValueError("service_due and service_deadline must be positive")
        if self.specialist_retry_gap <= timedelta(0):
            raise ValueError("specialist_retry_gap must be positive (never an immediate redial)")

    def is_working_day(self, day: date) -> bool:
        """Whether callbacks may be placed on local ``day`` (and working hours run on it)."""
        if day in self.days_on:
            return True
        return day.weekday() in self.working_days and day not in self.days_off

    @classmethod
    def from_settings(
        cls,
        settings: Any,
        *,
        days_off: frozenset[date] = frozenset(),
        days_on: frozenset[date] = frozenset(),
    ) -> CallbackConfig:
        """The config of :class:`ivr_agent.settings.Settings` (``callback_*`` fields), with
        the calendar's dates (``ivr_agent.callbacks.callback_config`` reads them)."""

        def windows(values: Any) -> tuple[Window, ...]:
            return tuple(Window(w.start, w.end) for w in values)

        return cls(
            zone=ZoneInfo(settings.timezone),
            windows=windows(settings.callback_windows),
            working_days=frozenset(settings.callback_working_days),
            days_off=days_off,
            days_on=days_on,
            working_hours=windows(settings.working_hours),
            service_ignores_windows=settings.callback_service_ignores_windows,
            service_due=timedelta(minutes=settings.callback_service_due_minutes),
            service_deadline=timedelta(hours=settings.callback_service_deadline_hours),
            complaint_min=timedelta(hours=settings.callback_complaint_min_hours),
            complaint_max=timedelta(hours=settings.callback_complaint_max_hours),
            retry_interval=timedelta(minutes=settings.callback_retry_minutes),
            max_attempts=settings.callback_max_attempts,
            specialist_due=timedelta(seconds=settings.specialist_due_seconds),
            specialist_retry_gap=timedelta(seconds=settings.specialist_retry_seconds),
        )

    def allowed_windows(
        self, reason: str, own: tuple[Window, ...] | None = None
    ) -> tuple[Window, ...]:
        """The windows a callback for ``reason`` may be dialled in; ``own``: the callback's
        own calling windows (a campaign's), in place of the settings' ``windows``."""
        _check_reason(reason)
        windows = own or self.windows
        if reason == "service_completed" and self.service_ignores_windows:
            return windows + self.working_hours
        return windows


def kind_of(reason: str) -> CallbackKind:
    """What a callback for ``reason`` does once answered: ``return_call`` for an abandoned
    call or an in-queue request (S8), ``specialist`` for a specialist call-back (S8), else the
    ``survey`` (S5)."""
    _check_reason(reason)
    if reason == "specialist":
        return "specialist"
    return "return_call" if reason in RETURN_CALL_REASONS else "survey"


def _check_reason(reason: str) -> None:
    if reason not in REASONS:
        raise ValueError(f"reason must be one of {', '.join(REASONS)} (got {reason!r})")


def _aware(name: str, moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must carry a time zone")
    return moment.astimezone(UTC)


def _wall(moment: datetime, zone: tzinfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None, fold=0)


def local_instant(day: date, at: time, zone: tzinfo) -> datetime:
    """The UTC instant of local wall time ``at`` on ``day``.

    A wall time that exists twice (clocks go back) is its first occurrence; one that does
    not exist (clocks jump forward over it) is the instant of the jump.
    """
    naive = datetime.combine(day, at)
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _wall(first, zone) == naive:
        return first
    # In a gap, fold=1 applies the later offset (an instant before the jump) and fold=0 the
    # earlier one (after it): bisect between them for the first instant at or past ``naive``.
    before = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    lo, hi = int(min(before, first).timestamp()), int(max(before, first).timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _wall(datetime.fromtimestamp(mid, UTC), zone) >= naive:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def _intervals(
    day: date, windows: tuple[Window, ...], config: CallbackConfig
) -> list[tuple[datetime, datetime]]:
    """The UTC intervals of the windows opening on local ``day`` (none on a day off)."""
    if not config.is_working_day(day):
        return []
    spans = []
    for window in windows:
        opens = local_instant(day, window.start, config.zone)
        end_day = day + timedelta(days=1) if window.crosses_midnight else day
        closes = local_instant(end_day, window.end, config.zone)
        if closes > opens:
            spans.append((opens, closes))
    return spans


def allowed_span(
    moment: datetime, windows: tuple[Window, ...], config: CallbackConfig
) -> tuple[datetime, datetime]:
    """The first allowed instant at or after ``moment`` and the end of its window (UTC).

    ``moment`` itself when it is inside a window on a working day, else the next opening.
    """
    start = _aware("moment", moment)
    today = start.astimezone(config.zone).date()
    best: tuple[datetime, datetime] | None = None
    for offset in _SEARCH_DAYS:
        if best is not None and offset > 0:
            break  # a later day's windows all open after the ones found
        for opens, closes in _intervals(today + timedelta(days=offset), windows, config):
            if closes <= start:
                continue
            candidate = (max(opens, start), closes)
            if (
                best is None
                or candidate[0] < best[0]
                or (candidate[0] == best[0] and candidate[1] > best[1])
            ):
                best = candidate
    if best is None:
        raise ValueError(
            f"no calling window on a working day in the year after {today}: "
            "are all days off (the holiday calendar and its override file)?"
        )
    return best


def next_allowed(moment: datetime, windows: tuple[Window, ...], config: CallbackConfig) -> datetime:
    """The first instant at or after ``moment`` inside one of ``windows`` on a working day."""
    return allowed_span(moment, windows, config)[0]


def is_allowed(moment: datetime, windows: tuple[Window, ...], config: CallbackConfig) -> bool:
    """True when ``moment`` lies inside one of ``windows`` on a working day."""
    return next_allowed(moment, windows, config) == _aware("moment", moment)


@dataclass(frozen=True)
class Schedule:
    """When a new callback is first dialled, its hard deadline, and the target (UTC)."""

    due_at: datetime
    deadline: datetime
    #: When the standard wants the callback done by (service: reference + 30 min).
    target_by: datetime
    overdue: bool


def schedule(
    reason: str,
    reference_time: datetime,
    now: datetime,
    config: CallbackConfig,
    *,
    windows: tuple[Window, ...] | None = None,
) -> Schedule:
    """Due time and deadline of a new callback (see the module's table); ``windows``: the
    callback's own calling windows (None: the settings')."""
    _check_reason(reason)
    reference = _aware("reference_time", reference_time)
    current = _aware("now", now)
    windows = config.allowed_windows(reason, windows)
    if reason == "service_completed":
        due = next_allowed(max(reference, current), windows, config)
        deadline = add_working_time(reference, config.service_deadline, config)
        target = add_working_time(reference, config.service_due, config)
    elif reason == "complaint_resolved":
        due = next_allowed(max(reference + config.complaint_min, current), windows, config)
        deadline = reference + config.complaint_max
        target = deadline
    elif reason == "specialist":
        # S8: at once, whatever the windows (the customer was just promised it), due within
        # three minutes of the hand-over.
        due = max(reference, current)
        deadline = reference + config.specialist_due
        target = deadline
    elif reason == "campaign":
        due = next_allowed(max(reference, current), windows, config)
        deadline = max(_day_end(due, windows, config), _worst_case_end(due, windows, config))
        target = due
    else:
        due = next_allowed(max(reference, current), windows, config)
        deadline = _worst_case_end(due, windows, config)
        target = due
    return Schedule(due_at=due, deadline=deadline, target_by=target, overdue=due > deadline)


#: The smallest step of a datetime: the instant just before another.
_TICK = timedelta(microseconds=1)


def add_working_time(start: datetime, duration: timedelta, config: CallbackConfig) -> datetime:
    """The instant ``duration`` of working time after ``start`` (UTC): only time inside
    working hours on working days counts, so a clock started outside them starts at the next
    opening."""
    remaining = duration
    at = _aware("start", start)
    if not remaining and allowed_span(at - _TICK, config.working_hours, config)[1] == at:
        # No time to add from the very close of working hours: that close is the answer, as
        # it was the answer of the addition that ended there (so two additions equal one).
        return at
    while True:
        opens, closes = allowed_span(at, config.working_hours, config)
        if opens + remaining <= closes:
            return opens + remaining
        remaining -= closes - opens
        at = closes


def _worst_case_end(due: datetime, windows: tuple[Window, ...], config: CallbackConfig) -> datetime:
    """End of the window holding the last attempt if every attempt failed at its earliest."""
    at, closes = allowed_span(due, windows, config)
    for _ in range(config.max_attempts - 1):
        at, closes = allowed_span(at + config.retry_interval, windows, config)
    return closes


def _day_end(at: datetime, windows: tuple[Window, ...], config: CallbackConfig) -> datetime:
    """The close of the last window opening on the local day whose window holds ``at`` (an
    allowed instant): the day a window crossing midnight opened on, for one after midnight."""
    local_day = at.astimezone(config.zone).date()
    for day in (local_day, local_day - timedelta(days=1)):
        spans = _intervals(day, windows, config)
        if any(opens <= at < closes for opens, closes in spans):
            return max(closes for _, closes in spans)
    return allowed_span(at, windows, config)[1]


@dataclass(frozen=True)
class CallbackState:
    """What the rules need to know about a callback whose attempt just ended."""

    reason: str
    deadline: datetime
    #: Failures (see :data:`FAILURES`) before the attempt that just ended.
    failed_attempts: int = 0
    #: "Not now" answers before the attempt that just ended.
    reschedules: int = 0
    overdue: bool = False
    #: The callback's own calling windows (a campaign's); None: the settings'.
    windows: tuple[Window, ...] | None = None


@dataclass(frozen=True)
class NextState:
    """The callback after an attempt: its status, when it is dialled next, its counters."""

    status: Status
    next_attempt_at: datetime | None
    overdue: bool
    failed_attempts: int
    reschedules: int
    outcome: str
    #: Why the callback ended or was moved, for the log and the API.
    why: str


def better_time_at(
    ended_at: datetime, better: str, windows: tuple[Window, ...], config: CallbackConfig
) -> datetime:
    """The first allowed instant at the time a customer chose (:data:`BetterTime`), never
    sooner than ``retry_interval`` after the call ended: later today (the usual retry), or
    the next working day from its start (morning) or from noon (afternoon). A day without a
    window then gets the next one there is."""
    if better not in BETTER_TIMES:
        raise ValueError(f"better time must be one of {', '.join(BETTER_TIMES)} (got {better!r})")
    ended = _aware("ended_at", ended_at)
    earliest = ended + config.retry_interval
    if better == "later_today":
        return next_allowed(earliest, windows, config)
    day = ended.astimezone(config.zone).date() + timedelta(days=1)
    for _ in range(366):
        if config.is_working_day(day):
            break
        day += timedelta(days=1)
    start = local_instant(day, NOON if better == "tomorrow_afternoon" else time(0), config.zone)
    return next_allowed(max(start, earliest), windows, config)


def next_state(
    state: CallbackState,
    outcome: str,
    *,
    started_at: datetime,
    ended_at: datetime,
    config: CallbackConfig,
    better_time: str | None = None,
) -> NextState:
    """The callback's next state after an attempt that started and ended at these times.

    ``better_time``: for ``rescheduled``, when the customer would rather be called
    (:data:`BetterTime`; None: no choice, the usual retry). Raises ``ValueError`` for an
    unknown outcome, reason or better time, naive times, or an end before the start.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)} (got {outcome!r})")
    if better_time is not None and better_time not in BETTER_TIMES:
        raise ValueError(
            f"better time must be one of {', '.join(BETTER_TIMES)} (got {better_time!r})"
        )
    _check_reason(state.reason)
    started = _aware("started_at", started_at)
    ended = _aware("ended_at", ended_at)
    deadline = _aware("deadline", state.deadline)
    if ended < started:
        raise ValueError("ended_at must not be before started_at")
    late = state.overdue or started > deadline
    failed, reschedules = state.failed_attempts, state.reschedules

    def final(status: Status, why: str) -> NextState:
        return NextState(status, None, late, failed, reschedules, outcome, why)

    if outcome == "completed":
        return final("completed", "survey completed")
    if outcome == "connected":
        return final("completed", "return call handed to the operators")
    if outcome == "declined":
        return final("declined", "customer declined")
    if outcome == "rescheduled":
        reschedules += 1
        if reschedules > config.max_attempts:
            return final("declined", f"customer said 'not now' {reschedules} times")
        give_up: Status = "declined"
    else:
        failed += 1
        if failed >= config.max_attempts:
            return final("unreachable", f"{failed} failed attempts (maximum {config.max_attempts})")
        give_up = "unreachable"
        if state.reason == "specialist":
            soon = specialist_retry_at(ended, deadline, config.specialist_retry_gap)
            if soon is not None:
                why = f"retry within the due time after {outcome}"
                return NextState("pending", soon, late, failed, reschedules, outcome, why)

    windows = config.allowed_windows(state.reason, state.windows)
    # Never an immediate redial: counted from the end of the attempt, not its start.
    at = next_allowed(ended + config.retry_interval, windows, config)
    why = f"retry after {outcome}"
    if outcome == "rescheduled" and better_time is not None:
        at = better_time_at(ended, better_time, windows, config)
        why = f"the customer chose {better_time}"
    if at > deadline:
        if started > deadline:
            return final(give_up, "past the deadline and the one overdue attempt was made")
        return NextState("pending", at, True, failed, reschedules, outcome, "overdue: one more")
    return NextState("pending", at, late, failed, reschedules, outcome, why)


def check_customer_name(value: object) -> str | None:
    """``value`` (stripped) if it is an acceptable customer name, ``None`` for none/blank."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value):
        raise ValueError("must not contain control characters or line breaks")
    name = value.strip()
    if len(name) > CUSTOMER_NAME_MAX:
        raise ValueError(f"must be at most {CUSTOMER_NAME_MAX} characters")
    return name or None


def needs_follow_up(problem_solved: bool | None) -> bool:
    """S5: a callback whose customer last said the problem is not solved needs someone to
    act on it; one never asked, or last told "solved", does not."""
    return problem_solved is False
