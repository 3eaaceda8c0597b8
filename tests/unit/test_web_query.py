"""web/query.py: every numeric query parameter is ASCII digits in range, else a 400 naming it
(issue 14, finding 10: ``?limit=²`` was a 500)."""

from __future__ import annotations

import pytest

from ivr_agent.web.errors import ApiError
from ivr_agent.web.query import int_parameter

HOSTILE = [
    "²",  # str.isdigit() is True, int() raises: the 500 of finding 10
    "1²",
    "٣",  # Arabic-Indic three: int() accepts it, no client means it
    "１",  # full-width one
    "9" * 5000,  # over CPython's 4,300-digit int() limit: ValueError, a 500 too
    "9" * 19,
    "",
    " 5",
    "5 ",
    "+5",
    "-1",
    "0x10",
    "1e3",
    "1_000",
    "5\n",
    "0",
    "101",
]


@pytest.mark.parametrize("raw", HOSTILE)
def test_given_a_hostile_value_then_400_names_the_parameter(raw: str) -> None:
    with pytest.raises(ApiError) as caught:
        int_parameter({"limit": raw}, "limit", default=10, low=1, high=100)
    assert caught.value.status == 400
    assert caught.value.error_id == "invalid_parameter"
    assert caught.value.details == {"field": "limit"}
    assert caught.value.message == "limit: must be an integer from 1 to 100"


@pytest.mark.parametrize(("raw", "value"), [("1", 1), ("100", 100), ("007", 7), ("42", 42)])
def test_given_ascii_digits_in_range_then_their_value(raw: str, value: int) -> None:
    assert int_parameter({"limit": raw}, "limit", default=10, low=1, high=100) == value


def test_given_no_parameter_then_the_default() -> None:
    assert int_parameter({}, "limit", default=10, low=1, high=100) == 10
