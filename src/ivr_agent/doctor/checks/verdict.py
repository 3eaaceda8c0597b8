"""One line of the doctor's report (:class:`Check`) and the wording helpers every verdict uses."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class Status(enum.StrEnum):
    """Outcome of one check."""

    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True)
class Check:
    """One line of the report: ``name``, ``status``, what was found and, unless OK, the fix."""

    name: str
    status: Status
    found: str
    fix: str = ""


def skipped(name: str, reason: str) -> Check:
    """A check that could not run (``reason`` names the check that failed first)."""
    return Check(name, Status.SKIP, f"not checked: {reason}")


def class_names(text: str) -> frozenset[str]:
    """The AMI class names of a comma list (``<none>`` is none), lower case."""
    return frozenset(c.strip().lower() for c in text.split(",") if c.strip()) - {"<none>"}


def joined(names: Iterable[str]) -> str:
    """``names`` sorted, comma-separated (as AMI's manager.conf writes class lists)."""
    return ",".join(sorted(names))


def first_few(names: Sequence[str], limit: int = 5) -> str:
    """The first ``limit`` of ``names`` and how many more there are."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
