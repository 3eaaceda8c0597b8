"""The text ``ivr-agent doctor`` prints, and its exit status.

One line per check: the status, the check's name, what was found; a check that is not OK
(and not skipped) gets its fix on the next line, indented. A summary line ends the report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from ivr_agent.doctor.checks import Check, Status

_ORDER = (Status.FAIL, Status.WARN, Status.SKIP, Status.OK)


def render(checks: Sequence[Check]) -> str:
    """The report: one line per check (plus its fix), then the count of each status."""
    width = max((len(check.name) for check in checks), default=0)
    lines = []
    for check in checks:
        lines.append(f"{check.status.value:<4}  {check.name:<{width}}  {check.found}")
        if check.fix and check.status in (Status.FAIL, Status.WARN):
            lines.append(f"{'':<4}  {'':<{width}}  fix: {check.fix}")
    lines.append(summary(checks))
    return "\n".join(lines) + "\n"


def summary(checks: Sequence[Check]) -> str:
    """``2 FAIL, 1 WARN, 11 OK`` (statuses that occur, worst first)."""
    counts = Counter(check.status for check in checks)
    return ", ".join(f"{counts[status]} {status.value}" for status in _ORDER if counts[status])


def exit_status(checks: Sequence[Check]) -> int:
    """1 when any check failed, else 0 (warnings and skips alone do not fail)."""
    return 1 if any(check.status is Status.FAIL for check in checks) else 0
