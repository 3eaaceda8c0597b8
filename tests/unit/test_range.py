"""HTTP Range parsing for recording audio (web/byte_range.py): given a header and a size,
then the span served (206) or the refusal (416)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr_agent.web.byte_range import (
    ByteSpan,
    RangeNotSatisfiable,
    parse_range,
    unsatisfiable_content_range,
)

SIZE = 1000

SERVED = [
    ("bytes=0-", ByteSpan(0, 999, SIZE)),
    ("bytes=0-0", ByteSpan(0, 0, SIZE)),
    ("bytes=100-199", ByteSpan(100, 199, SIZE)),
    ("bytes=999-", ByteSpan(999, 999, SIZE)),
    ("bytes=900-5000", ByteSpan(900, 999, SIZE)),  # an end past the file is clamped
    ("bytes=-100", ByteSpan(900, 999, SIZE)),
    ("bytes=-5000", ByteSpan(0, 999, SIZE)),  # a suffix longer than the file: all of it
    (" bytes=10-20 ", ByteSpan(10, 20, SIZE)),
]

REFUSED = [
    "bytes=100-50",  # end before start
    "bytes=1000-",  # starts at the end
    "bytes=5000-6000",  # beyond the end
    "bytes=-0",
    "bytes=0-1,5-6",  # several ranges
    "bytes=abc-",
    "bytes=-",
    "items=0-10",
    "bytes 0-10",
    "",
    "bytes=" + "9" * 40 + "-",
]


@pytest.mark.parametrize(("header", "span"), SERVED)
def test_given_a_satisfiable_range_then_the_span_is_served(header: str, span: ByteSpan) -> None:
    assert parse_range(header, SIZE) == span


@pytest.mark.parametrize("header", REFUSED)
def test_given_a_bad_or_unsatisfiable_range_then_it_is_refused(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, SIZE)


def test_given_no_header_then_the_whole_file() -> None:
    assert parse_range(None, SIZE) is None


def test_given_an_empty_file_then_every_range_is_refused() -> None:
    for header in ("bytes=0-", "bytes=-1", "bytes=0-0"):
        with pytest.raises(RangeNotSatisfiable):
            parse_range(header, 0)


def test_headers_of_the_answers() -> None:
    span = ByteSpan(100, 199, SIZE)
    assert (span.content_range, span.length, span.describe()) == (
        "bytes 100-199/1000",
        100,
        "100-199",
    )
    assert unsatisfiable_content_range(SIZE) == "bytes */1000"


@given(st.integers(0, 2000), st.integers(0, 2000), st.integers(1, 1500))
def test_any_served_span_lies_inside_the_file(start: int, end: int, size: int) -> None:
    try:
        span = parse_range(f"bytes={start}-{end}", size)
    except RangeNotSatisfiable:
        assert end < start or start >= size
        return
    assert span is not None
    assert 0 <= span.start <= span.end < size
    assert span.length == min(end, size - 1) - start + 1
