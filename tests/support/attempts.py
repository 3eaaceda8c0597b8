"""Which run of the current test this is, for the caches of live runs that tests share.

A failed live (``sandbox``) test runs once more (``tests/conftest.py``, pytest-rerunfailures).
Tests asserting on one shared run of a scenario would be handed the same data again, and
could only fail the same way: such caches key their runs by the attempt, so a rerun plays
the scenario anew (the tests that passed keep the first run).
"""

from __future__ import annotations

#: Set for each test by ``tests/conftest.py`` (1, then 2 for its rerun).
CURRENT = 1


def current() -> int:
    """The current test's attempt: 1 for its first run, 2 for its rerun."""
    return CURRENT
