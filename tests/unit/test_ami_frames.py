"""AMI frame parsing: bad bytes and bad frames are counted and skipped, good ones survive."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr_agent.pbx.ami import (
    MAX_FRAME_BYTES,
    AmiError,
    AmiFrameParser,
    AmiStats,
    eventfilter_lines,
    flatten,
    validate_header,
)

NAME = "张三丰"
FRAME = (
    "Event: Newchannel\r\nChannel: PJSIP/100-00000001\r\n"
    f"CallerIDName: {NAME}\r\nUniqueid: 1.1\r\nLinkedid: 1.1\r\n\r\n"
).encode()


def test_given_a_chinese_name_split_byte_by_byte_then_it_survives_whole() -> None:
    parser = AmiFrameParser(AmiStats())
    messages = []
    for i in range(len(FRAME)):
        messages += parser.feed(FRAME[i : i + 1])
    assert [flatten(m)["CallerIDName"] for m in messages] == [NAME]
    assert parser.stats.replaced_bytes == 0


@given(st.lists(st.integers(min_value=1, max_value=len(FRAME) * 3), max_size=20))
def test_any_chunking_of_the_stream_gives_the_same_messages(cuts: list[int]) -> None:
    stream = FRAME * 3
    parser = AmiFrameParser(AmiStats())
    positions = sorted({0, *[c % len(stream) for c in cuts], len(stream)})
    messages = []
    for start, end in itertools.pairwise(positions):
        messages += parser.feed(stream[start:end])
    assert [flatten(m)["CallerIDName"] for m in messages] == [NAME] * 3


@pytest.mark.parametrize(
    ("garbage", "counter"),
    [
        (b"this line has no colon-space\r\n\r\n", "malformed_frames"),
        (b"Foo: bar\r\nBaz: qux\r\n\r\n", "malformed_frames"),
        (b"Event: X\r\nHuge: " + b"a" * (MAX_FRAME_BYTES + 10) + b"\r\n\r\n", "oversized_frames"),
        (b"Event: Bad\r\nName: \xff\xfe\r\n\r\n", "replaced_bytes"),
    ],
)
def test_given_a_bad_frame_then_it_is_counted_and_the_next_frame_still_parses(
    garbage: bytes, counter: str
) -> None:
    parser = AmiFrameParser(AmiStats())
    messages = parser.feed(garbage + FRAME)
    assert getattr(parser.stats, counter) >= 1
    assert flatten(messages[-1])["CallerIDName"] == NAME


def test_given_a_frame_that_never_ends_then_the_buffer_is_bounded() -> None:
    parser = AmiFrameParser(AmiStats())
    parser.feed(b"Event: Endless\r\nX: " + b"a" * (MAX_FRAME_BYTES + 1))
    assert parser.stats.oversized_frames == 1
    assert flatten(parser.feed(FRAME)[0])["CallerIDName"] == NAME


@pytest.mark.parametrize("value", ["100\r\n\r\nAction: Command", "1\n", "x\x00"])
def test_given_a_header_value_with_line_breaks_then_it_is_refused(value: str) -> None:
    with pytest.raises(AmiError, match="Channel"):
        validate_header("Channel", value)


def test_eventfilters_name_each_event_once_plus_the_control_events() -> None:
    lines = eventfilter_lines(["Newstate", "Hangup", "Newstate"])
    assert "eventfilter(action(include),name(Newstate)) =" in lines
    assert "eventfilter(action(include),name(FullyBooted)) =" in lines
    assert len(lines) == len(set(lines)) == 4
