"""Regular callback campaigns (S5: 每月1号、15号定期回访), pure: time is always passed in.

Theory of operation
-------------------
A campaign dials its customer list on set **days of the month** (e.g. 1 and 15), inside its
calling windows (its own, or the settings' ``IVR_AGENT_CALLBACK_WINDOWS``). One campaign on
one of its days is a **run**, named by its local date in the call centre's time zone; each
run gives every customer of the list exactly one callback (reason ``campaign``, scheduled by
:func:`ivr_agent.core.callbacks.schedule`: due at the run day's first window, retried within
that day).

*Which runs exist* (:func:`latest_run_date`). A day beyond a month's length (29–31) runs on
that month's last day, so ``31`` means "the end of every month". The scheduler creates, for
each active campaign, the **latest** run day that is today or before and not before the
campaign's first day (the local date it was created): an agent that starts later on a run
day catches up that day; one that was down the whole run day creates that run when it comes
back (late, due at the next window), but only the latest missed one — runs are never piled
up, and a run missed before a newer run day is skipped. A run day that is not a working day
(a Sunday, a public holiday) is dialled at the next working day's first window.

*Customer lists* (:func:`customer_list`). Numbers are normalised (full-width digits and
separators — spaces, ``-``, ``.``, parentheses — are folded away) and then checked by the
one rule for a stored customer number (``core.phone.check_customer_number``); names by the
callbacks' name rule. A number listed twice is one customer (its first name given wins).
A list with any bad row is refused whole, every bad row named (up to a cap).
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import date, time, timedelta
from typing import Any

from ivr_agent.core.callbacks import Window, check_customer_name
from ivr_agent.core.figures import figure, ratio
from ivr_agent.core.phone import check_customer_number

CAMPAIGN_NAME_MAX = 100
#: The most customers one campaign may list (a run is one INSERT of that many callbacks).
MAX_CUSTOMERS = 50_000
#: The most bad rows one error lists (the rest are counted).
MAX_ROW_ERRORS = 20
#: Separators people write inside phone numbers (138-0013-8000, (010) 1234 5678).
_SEPARATORS = re.compile(r"[\s\-.()]")
_WINDOW = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")


def parse_days(value: str | Iterable[int]) -> tuple[int, ...]:
    """The days of the month a campaign runs on, sorted, each once: ``"1,15"`` or ``[1, 15]``;
    ``ValueError`` unless each is 1–31 and there is at least one."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not all(p.isascii() and p.isdigit() for p in parts):
            raise ValueError("must be days of the month 1-31, comma-separated, e.g. 1,15")
        days = [int(p) for p in parts]
    else:
        days = list(value)
    if not days:
        raise ValueError("must list at least one day of the month, e.g. 1,15")
    if any(isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 31 for d in days):
        raise ValueError("each day must be a day of the month, 1 to 31")
    return tuple(sorted(set(days)))


def format_days(days: Iterable[int]) -> str:
    """``(1, 15)`` → ``"1,15"`` (the stored form)."""
    return ",".join(str(d) for d in days)


def parse_windows(value: str) -> tuple[Window, ...]:
    """``HH:MM-HH:MM`` windows, comma-separated (``10:30-11:30,15:00-17:30``), as the
    ``IVR_AGENT_CALLBACK_WINDOWS`` setting writes them; ``ValueError`` saying what is wrong."""
    windows = []
    for chunk in value.split(","):
        match = _WINDOW.fullmatch(chunk)
        if not match:
            raise ValueError("must be comma-separated HH:MM-HH:MM windows, e.g. 10:30-11:30")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        try:
            windows.append(Window(time(h1, m1), time(h2, m2)))
        except ValueError:
            raise ValueError(f"{chunk.strip()!r} is not a window of valid times of day") from None
    return tuple(windows)


def format_windows(windows: Iterable[Window]) -> str:
    """The stored form of :func:`parse_windows`."""
    return ",".join(str(w) for w in windows)


def stored_windows(value: str | None) -> tuple[Window, ...] | None:
    """A callback's or campaign's stored ``calling_windows`` (None: the settings')."""
    return None if value is None else parse_windows(value)


def run_dates_in_month(days: Iterable[int], year: int, month: int) -> list[date]:
    """The run dates of a campaign in one month, sorted; a day past the month's end is its
    last day (31 in April is 30 April; 30 and 31 in February are one run)."""
    last = calendar.monthrange(year, month)[1]
    return sorted({date(year, month, min(day, last)) for day in days})


def latest_run_date(days: Iterable[int], today: date, first_day: date) -> date | None:
    """The latest run date on or before ``today`` and on or after ``first_day``; None if
    there is none yet (see the module's docstring)."""
    days = tuple(days)
    year, month = today.year, today.month
    # Every month has a run (days past its end clamp to it), so two months back suffice.
    for _ in range(2):
        for run in reversed(run_dates_in_month(days, year, month)):
            if first_day <= run <= today:
                return run
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return None


@dataclass(frozen=True)
class Customer:
    """One customer of a campaign's list, checked and normalised."""

    number: str
    name: str | None = None


@dataclass(frozen=True)
class RowError:
    """A bad row of a customer list: its row number as the file shows it, and the fault."""

    row: int
    problem: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.problem}"


class CustomerListError(ValueError):
    """A customer list with bad rows: nothing of it is stored. ``rows`` lists them (up to
    :data:`MAX_ROW_ERRORS`), ``total`` counts them all."""

    def __init__(self, rows: list[RowError], total: int, summary: str = "") -> None:
        self.rows = rows
        self.total = total
        listed = "; ".join(str(r) for r in rows)
        more = f"; and {total - len(rows)} more bad rows" if total > len(rows) else ""
        head = summary or f"{total} bad row{'s' if total != 1 else ''}"
        super().__init__(f"{head}: {listed}{more}" if rows else head)


def normalise_number(value: object) -> str:
    """A customer number as written in a list, normalised and checked (see the module's
    docstring); ``ValueError`` saying what is wrong."""
    if isinstance(value, bool) or value is None:
        raise ValueError("the number is missing")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))  # a spreadsheet cell holding the number as a number
    elif isinstance(value, str):
        text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", value))
    else:
        raise ValueError(f"the number {value!r} is not digits")
    if not text:
        raise ValueError("the number is missing")
    return check_customer_number(text)


def customer_list(rows: Iterable[tuple[int, Mapping[str, Any]]]) -> list[Customer]:
    """The customers of ``(row number, {"number", "name"})`` rows, in order, each number
    once (the first name given wins); :class:`CustomerListError` naming every bad row,
    or when there is no customer or more than :data:`MAX_CUSTOMERS`."""
    found: dict[str, Customer] = {}
    errors: list[RowError] = []
    total_errors = 0
    for row, cells in rows:
        try:
            number = normalise_number(cells.get("number"))
            name = check_customer_name(_text(cells.get("name")))
        except ValueError as exc:
            total_errors += 1
            if len(errors) < MAX_ROW_ERRORS:
                errors.append(RowError(row, str(exc)))
            continue
        known = found.get(number)
        if known is None or (known.name is None and name is not None):
            found[number] = Customer(number, name)
    if total_errors:
        raise CustomerListError(errors, total_errors)
    if not found:
        raise CustomerListError([], 0, "the list has no customers")
    if len(found) > MAX_CUSTOMERS:
        raise CustomerListError(
            [], 0, f"the list has {len(found)} customers, at most {MAX_CUSTOMERS} are allowed"
        )
    return list(found.values())


def _text(value: object) -> object:
    # Spreadsheet cells may hold a name as a number (a customer named by an account id).
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def check_campaign_name(value: object) -> str:
    """``value`` stripped, if it is an acceptable campaign name; ``ValueError`` otherwise."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value):
        raise ValueError("must not contain control characters or line breaks")
    name = value.strip()
    if not name:
        raise ValueError("must not be empty")
    if len(name) > CAMPAIGN_NAME_MAX:
        raise ValueError(f"must be at most {CAMPAIGN_NAME_MAX} characters")
    return name


def next_run_after(days: Iterable[int], after: date) -> date:
    """The first run date strictly after ``after`` (for listings: "next run")."""
    days = tuple(days)
    year, month = after.year, after.month
    for _ in range(2):
        for run in run_dates_in_month(days, year, month):
            if run > after:
                return run
        year, month = (year, month + 1) if month < 12 else (year + 1, 1)
    return after + timedelta(days=1)  # unreachable: every month has a run


@dataclass(frozen=True)
class RunCounts:
    """What SQL counted over the callbacks of one run (or of all runs: they add up)."""

    callbacks: int = 0
    completed: int = 0
    declined: int = 0
    unreachable: int = 0
    cancelled: int = 0
    open: int = 0
    overdue: int = 0
    satisfaction_sum: float = 0.0
    satisfaction_scored: int = 0

    def __add__(self, other: RunCounts) -> RunCounts:
        """The counts of both sets of callbacks together."""
        return RunCounts(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )


def campaign_figures(customers: int, counts: RunCounts, scope: str) -> dict[str, dict[str, Any]]:
    """A campaign's figures over ``scope`` ("the run" or "all runs"), each with its formula,
    as ``{name: {"value", "formula"}}``; a ratio over nothing is None."""
    c = counts
    return {
        "customers": figure(customers, "count of distinct numbers in the campaign's list"),
        "callbacks": figure(
            c.callbacks, f"count of callbacks of {scope} (one per customer and run)"
        ),
        "completed": figure(c.completed, f"count of callbacks of {scope} with status = completed"),
        "declined": figure(c.declined, f"count of callbacks of {scope} with status = declined"),
        "unreachable": figure(
            c.unreachable, f"count of callbacks of {scope} with status = unreachable"
        ),
        "cancelled": figure(c.cancelled, f"count of callbacks of {scope} with status = cancelled"),
        "open": figure(
            c.open, f"count of callbacks of {scope} with status = pending or in_progress"
        ),
        "overdue": figure(
            c.overdue,
            f"count of callbacks of {scope} flagged overdue (an attempt due or made after the "
            "deadline: the end of the run day's windows)",
        ),
        "completion_rate": figure(
            ratio(c.completed, c.callbacks),
            f"completed / callbacks = {c.completed} / {c.callbacks}",
        ),
        "satisfaction_index": figure(
            ratio(c.satisfaction_sum, c.satisfaction_scored),
            "mean satisfaction_index (mean of the five survey scores, 1–5) of completed "
            f"callbacks of {scope} = {c.satisfaction_sum:g} / {c.satisfaction_scored}",
        ),
    }
