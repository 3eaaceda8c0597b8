"""Property tests of the core: robustness to event order, S1 arithmetic, replay determinism."""

from __future__ import annotations

from fractions import Fraction
from math import floor
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ivr_agent.core.config import StandardsConfig
from ivr_agent.core.events import (
    BridgeEnter,
    DialBegin,
    DialEnd,
    Hangup,
    Newchannel,
    PbxEvent,
    parse_ami,
)
from ivr_agent.core.tracker import Tracker

from .ami_table import table
from .test_core_scenarios import ATTENDED_TRANSFER, queue_call

CONFIG = StandardsConfig()


def _events(rows: list[dict[str, str]]) -> list[PbxEvent]:
    events = [parse_ami(r) for r in rows]
    return [e for e in events if e is not None]


SCENARIOS: dict[str, list[PbxEvent]] = {
    "queue_hold_prompts": _events(
        queue_call(
            9.0,
            80.0,
            extra="""
            20.000 Hold op1
            30.000 UserEvent caller UserEvent=IvrAgentPrompt Prompt=hold_reminder Phase=started
            33.000 Unhold op1
            35.000 ChannelTalkingStart caller
            39.000 ChannelTalkingStop caller Duration=1500
            50.000 Hold op1
            52.000 Hangup op1
            """,
        )
    ),
    "silent": _events(
        queue_call(
            2.0,
            30.0,
            extra="""
            7.002  UserEvent caller UserEvent=IvrAgentPrompt Prompt=silence_first Phase=started
            9.000  UserEvent caller UserEvent=IvrAgentPrompt Prompt=silence_first Phase=finished
            """,
        )
    ),
    "transfer": _events(table(ATTENDED_TRANSFER)),
    "abandon": _events(
        table(
            """
            0.000  Newchannel          caller
            0.500  QueueCallerJoin     caller
            0.501  Newchannel          op1
            0.502  AgentCalled         caller>op1
            3.000  QueueCallerAbandon  caller
            3.000  Hangup              caller
            3.002  Hangup              op1
            """
        )
    ),
}


def _capture(name: str) -> list[PbxEvent]:
    path = Path(__file__).parent.parent / "fixtures" / "captures" / f"{name}.jsonl"
    if not path.exists():
        return []
    from ivr_agent.pbx.capture import read_capture

    return _events(list(read_capture(path)))


# Real Asterisk 22 streams too (ringall to 10 operators, holds, talk detection).
for _name in ("basic", "hold_12s", "abandoned_short"):
    if _recorded := _capture(_name):
        SCENARIOS[f"capture:{_name}"] = _recorded


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(sorted(SCENARIOS)),
    data=st.data(),
)
def test_given_any_order_or_subset_of_a_calls_events_then_tracker_never_raises(
    name: str, data: st.DataObject
) -> None:
    events = SCENARIOS[name]
    shuffled = data.draw(st.permutations(events))
    kept = data.draw(st.lists(st.booleans(), min_size=len(events), max_size=len(events)))
    chosen = [e for e, keep in zip(shuffled, kept, strict=True) if keep] or shuffled
    tracker = Tracker(CONFIG, "pbx1")
    outcomes = []
    for event in chosen:
        outcomes.extend(tracker.feed(event).outcomes)
        tracker.tick(event.at_us)
    outcomes.extend(tracker.drain().outcomes)
    # exactly one outcome per call, whatever happened, and it always serialises
    assert len(outcomes) == 1
    assert outcomes[0].to_json_line()
    assert len(tracker) == 0


def _dial_call(ring_us: int) -> list[PbxEvent]:
    base = 1_700_000_000_000_000
    caller = {"linkedid": "L1", "channel": "PJSIP/pbx-00000001", "uniqueid": "L1"}
    op = {"linkedid": "L1", "channel": "PJSIP/op001-00000002", "uniqueid": "L1.2"}
    begin = base + 1_000_000
    answer = begin + ring_us
    return [
        Newchannel(at_us=base, **caller),
        Newchannel(at_us=begin, **op),
        DialBegin(
            at_us=begin,
            linkedid="L1",
            channel=caller["channel"],
            uniqueid="L1",
            dest_channel=op["channel"],
            dest_uniqueid="L1.2",
        ),
        DialEnd(
            at_us=answer,
            linkedid="L1",
            channel=caller["channel"],
            uniqueid="L1",
            dest_channel=op["channel"],
            dest_uniqueid="L1.2",
            dial_status="ANSWER",
        ),
        BridgeEnter(at_us=answer, bridge_id="b", **caller),
        BridgeEnter(at_us=answer, bridge_id="b", **op),
        Hangup(at_us=answer + 10_000_000, **caller),
        Hangup(at_us=answer + 10_000_001, **op),
    ]


@settings(max_examples=500, deadline=None)
@given(
    cycle_ms=st.integers(min_value=100, max_value=12_000),
    max_rings=st.integers(min_value=1, max_value=10),
    ring_us=st.one_of(
        st.integers(min_value=0, max_value=300_000_000),
        # exact multiples of the cycle and their neighbours are where float math breaks
        st.tuples(st.integers(0, 30), st.integers(-1_000, 1_000)),
    ),
)
def test_given_any_cadence_and_ring_time_then_rings_and_standard_agree_with_ring_seconds(
    cycle_ms: int, max_rings: int, ring_us: int | tuple[int, int]
) -> None:
    if isinstance(ring_us, tuple):
        ring_us = max(ring_us[0] * cycle_ms * 1000 + ring_us[1], 0)
    config = StandardsConfig(ring_cycle_seconds=cycle_ms / 1000, max_rings=max_rings)
    tracker = Tracker(config, "pbx1")
    outcomes = tracker.feed_all(_dial_call(ring_us)).outcomes
    assert len(outcomes) == 1
    reported = outcomes[0].to_json()
    ring_seconds = reported["ring_seconds"]
    exact = Fraction(repr(ring_seconds))
    cycle = Fraction(cycle_ms, 1000)
    assert reported["rings"] == floor(exact / cycle) + 1
    assert reported["answered_within_standard"] is (exact < max_rings * cycle)
    assert reported["answered_within_standard"] is (reported["rings"] <= max_rings)
    assert abs(ring_seconds - ring_us / 1e6) <= 0.0005 + 1e-9


def _many_calls() -> list[PbxEvent]:
    events: list[PbxEvent] = []
    for n, (answer, end, extra) in enumerate(
        [
            (3.5, 40.0, ""),
            (27.5, 500.0, "100 Hold op1\n 175 Unhold op1"),
            (2.0, 14.0, ""),
            (6.0, 60.0, "12 ChannelTalkingStart caller\n 15 ChannelTalkingStop caller Duration=8"),
        ],
        start=1,
    ):
        rows = queue_call(answer, end, extra=extra)
        for row in rows:
            # distinct ids per call, interleaved in time
            for key in ("Uniqueid", "Linkedid", "DestUniqueid", "DestLinkedid"):
                if key in row:
                    row[key] = row[key].replace("1700000001", f"17000000{n:02d}")
            row["Timestamp"] = f"{float(row['Timestamp']) + n * 1.25:.6f}"
        events.extend(_events(rows))
    return sorted(events, key=lambda e: e.at_us)


def test_given_same_events_when_replayed_into_fresh_trackers_then_byte_identical() -> None:
    events = _many_calls()
    first = [o.to_json_line() for o in Tracker(CONFIG, "pbx1").feed_all(events).outcomes]
    second = [o.to_json_line() for o in Tracker(CONFIG, "pbx1").feed_all(events).outcomes]
    assert len(first) == 4
    assert first == second


@settings(max_examples=50, deadline=None)
@given(ticks=st.lists(st.integers(min_value=0, max_value=600_000_000), max_size=30))
def test_given_live_ticks_at_any_time_then_outcomes_equal_the_replay(ticks: list[int]) -> None:
    events = _many_calls()
    replay = [o.to_json_line() for o in Tracker(CONFIG, "pbx1").feed_all(events).outcomes]
    live = Tracker(CONFIG, "pbx1")
    start = events[0].at_us
    pending = sorted(start + t for t in ticks)
    lines = []
    for event in events:
        while pending and pending[0] <= event.at_us:
            assert not live.tick(pending.pop(0)).outcomes
        lines.extend(o.to_json_line() for o in live.feed(event).outcomes)
    assert lines == replay
