"""Ingest throughput and memory: raw AMI bytes → typed events → tracker → outcomes.

Usage (from the repository root)::

    .venv/bin/python benchmarks/ingest.py                       # 1,000,000 events
    .venv/bin/python benchmarks/ingest.py --events 200000 --memory-calls 20000   # quick

What it measures, in one process, on the same bytes:

* **bare**: panoramisk 1.4's own parsing of the stream, exactly as
  ``AMIProtocol.data_received`` does it (decode each read, split on blank lines,
  ``Message.from_line``), without dispatching;
* **ingest**: the path the live agent runs, driven through the live objects: a real (never
  connected) ``pbx.ami.AmiConnection`` subscribed to ``core.events.SUBSCRIBED_EVENTS``, its
  protocol's ``data_received`` (``AmiFrameParser``: incremental UTF-8, frame limits, headers
  of unsolicited events into a dict; replies still through panoramisk) →
  ``AmiConnection.on_event`` (one set lookup) → ``ingest.Ingest.on_ami_event``
  (``core.events.parse_ami`` → ``core.tracker.Tracker.feed`` → finished calls handed on),
  with the in-flight journal (``calls.inflight``) written to a temporary directory as the
  agent writes it: one ``write(2)`` per read, compacted as the tick would.

Both run under Python's default GC thresholds and again under a raised generation-0
threshold (``--gc-gen0``), since the tracker keeps every event of a call in flight for its
timeline and the default collector keeps re-scanning them. Cumulative stages show where the
time goes.

The stream is built from call templates — the recorded sandbox captures in
``tests/fixtures/captures/`` when ``--captures`` is given, else the built-in scenario tables
(Asterisk 22 field names) — replayed with fresh Uniqueids/Linkedids and channel names,
shifted in time so about ``--concurrent`` calls are in flight at once, merged in time order,
written as AMI wire bytes and cut into reads of ``--read-size`` bytes (cuts fall inside
multi-byte UTF-8 caller names too).

Memory: tracemalloc peak while ``--concurrent`` calls are in flight (per 1,000 calls), and
the tracker's traced memory sampled every 10 % of ``--memory-calls`` sequential calls, which
must stay flat (finished calls are dropped; only a bounded set of recent linkedids is kept).
"""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import logging
import os
import platform
import re
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the scenario tables live with the tests

from panoramisk import utils  # noqa: E402
from panoramisk.message import Message  # noqa: E402
from pydantic import SecretStr  # noqa: E402
from tests.unit.ami_table import table  # noqa: E402
from tests.unit.test_core_scenarios import queue_call  # noqa: E402

from ivr_agent.calls.inflight import InflightJournal  # noqa: E402
from ivr_agent.calls.ingest import Ingest  # noqa: E402
from ivr_agent.core.config import StandardsConfig  # noqa: E402
from ivr_agent.core.events import SUBSCRIBED_EVENTS, parse_ami  # noqa: E402
from ivr_agent.core.tracker import FinishedCall, Tracker  # noqa: E402
from ivr_agent.pbx.ami import AmiConnection, AmiFrameParser, AmiStats, _Protocol  # noqa: E402
from ivr_agent.platform.health import Component  # noqa: E402
from ivr_agent.settings import Endpoint  # noqa: E402

Row = dict[str, str]
_ID_KEYS = ("Uniqueid", "Linkedid", "DestUniqueid", "DestLinkedid")
_CHANNEL_KEYS = ("Channel", "DestChannel")
_CHAN_SUFFIX = re.compile(r"-[0-9a-f]{8}(;[12])?$")


# --------------------------------------------------------------------------- templates --


def builtin_templates() -> list[list[Row]]:
    """Calls like the simulator's scenarios, written with Asterisk 22 field names."""
    return [
        queue_call(
            3.5,
            60.0,
            extra="6 ChannelTalkingStart caller\n 9 ChannelTalkingStop caller Duration=800",
        ),
        queue_call(12.5, 90.0, extra="20 Hold op1\n 32 Unhold op1\n 40 ChannelTalkingStart caller"),
        queue_call(
            27.5,
            120.0,
            extra="30 ChannelTalkingStart caller\n 33 ChannelTalkingStop caller Duration=900",
        ),
        queue_call(5.0, 20.0),  # silent caller
        table(
            """
            0.000  Newchannel          caller
            0.500  QueueCallerJoin     caller
            0.501  Newchannel          op1
            0.502  AgentCalled         caller>op1
            0.502  DialBegin           caller>op1
            3.000  QueueCallerAbandon  caller  Position=1 OriginalPosition=1 HoldTime=3
            3.000  QueueCallerLeave    caller
            3.000  Hangup              caller  Cause=16
            3.001  DialEnd             caller>op1 DialStatus=CANCEL
            3.002  Hangup              op1     Cause=16
            """
        ),
        table(
            """
            0.000  Newchannel   caller
            0.010  Newchannel   op1
            0.011  DialBegin    caller>op1
            0.200  Newstate     op1         ChannelStateDesc=Ringing
            8.000  Newstate     op1         ChannelStateDesc=Up
            8.001  DialEnd      caller>op1  DialStatus=ANSWER
            8.002  BridgeEnter  caller      BridgeUniqueid=b7
            8.002  BridgeEnter  op1         BridgeUniqueid=b7
            9.000  ChannelTalkingStart caller
            12.000 ChannelTalkingStop  caller Duration=1200
            60.000 BridgeLeave  op1         BridgeUniqueid=b7
            60.000 Hangup       op1         Cause=16
            60.010 BridgeLeave  caller      BridgeUniqueid=b7
            60.010 Hangup       caller      Cause=16
            """
        ),
    ]


def capture_templates(directory: Path) -> list[list[Row]]:
    """Each call (rows sharing a Linkedid) of every recorded capture."""
    from ivr_agent.pbx.capture import read_capture

    calls: dict[str, list[Row]] = {}
    for path in sorted(directory.glob("*.jsonl")):
        if path.name.endswith(".expected.jsonl"):
            continue
        for row in read_capture(path):
            linkedid = row.get("Linkedid") or row.get("DestLinkedid")
            if linkedid and "Timestamp" in row:
                calls.setdefault(f"{path.name}/{linkedid}", []).append(row)
    return [rows for rows in calls.values() if any(r.get("Event") == "Hangup" for r in rows)]


# ----------------------------------------------------------------------------- stream --


def _us(stamp: str) -> int:
    sec, _, frac = stamp.partition(".")
    return int(sec) * 1_000_000 + int((frac + "000000")[:6])


def clone(template: list[Row], n: int, start_us: int) -> list[tuple[int, Row]]:
    """``template`` again as call ``n``: fresh ids and channel names, starting at ``start_us``."""
    first = min(_us(r["Timestamp"]) for r in template)
    ids: dict[str, str] = {}
    out = []
    for row in template:
        new = dict(row)
        for key in _ID_KEYS:
            if key in new:
                new[key] = ids.setdefault(new[key], f"{1_800_000_000 + n}.{len(ids)}")
        for key in _CHANNEL_KEYS:
            if key in new:
                new[key] = _CHAN_SUFFIX.sub(lambda m: f"-{n:08x}{m.group(1) or ''}", new[key])
        at = start_us + _us(row["Timestamp"]) - first
        new["Timestamp"] = f"{at // 1_000_000}.{at % 1_000_000:06d}"
        out.append((at, new))
    return out


def wire(row: Row) -> str:
    """One AMI event as Asterisk writes it."""
    lines = [f"Event: {row['Event']}"]
    lines.extend(f"{k}: {v}" for k, v in row.items() if k != "Event")
    return "\r\n".join(lines) + "\r\n\r\n"


def stream_rows(
    templates: list[list[Row]], events: int, concurrent: int
) -> Iterator[tuple[int, Row]]:
    """About ``events`` events of cloned calls, in time order, ~``concurrent`` in flight."""
    durations = [
        (max(_us(r["Timestamp"]) for r in t) - min(_us(r["Timestamp"]) for r in t))
        for t in templates
    ]
    per_call = statistics.mean(len(t) for t in templates)
    spacing = max(int(statistics.mean(durations) / concurrent), 1)
    calls = int(events / per_call) + 1
    heap: list[tuple[int, int, int, Row]] = []
    seq = 0
    emitted = 0
    base = 1_800_000_000_000_000
    for n in range(calls):
        start = base + n * spacing
        # emit everything that happened before this call started: memory stays bounded
        while heap and heap[0][0] < start:
            at, _, _, row = heapq.heappop(heap)
            yield at, row
            emitted += 1
            if emitted >= events:
                return
        for at, row in clone(templates[n % len(templates)], n, start):
            heapq.heappush(heap, (at, seq, n, row))
            seq += 1
    while heap and emitted < events:
        at, _, _, row = heapq.heappop(heap)
        yield at, row
        emitted += 1


def build_stream(
    templates: list[list[Row]], events: int, concurrent: int, read_size: int
) -> list[bytes]:
    """The AMI byte stream cut into reads of ``read_size`` bytes."""
    text = "Asterisk Call Manager/9.0.0\r\n" + "".join(
        wire(row) for _, row in stream_rows(templates, events, concurrent)
    )
    data = text.encode("utf-8")
    return [data[i : i + read_size] for i in range(0, len(data), read_size)]


# ------------------------------------------------------------------------------ paths --


class BareParser:
    """panoramisk 1.4 ``AMIProtocol.data_received`` without dispatching the messages."""

    def __init__(self) -> None:
        self.queue: deque[str] = deque()
        self.log = logging.getLogger("panoramisk.ami_protocol")
        self.count = 0

    def data_received(self, data: bytes) -> None:
        text = data.decode("utf8", "ignore")
        if self.queue:
            text = self.queue.popleft() + text
        lines = text.split(utils.EOL + utils.EOL)
        self.queue.append(lines.pop(-1))
        for line in lines:
            message = Message.from_line(line.strip())
            self.log.debug("message interpreted: %r", message)
            if message is None:
                continue
            self.count += 1


def run_bare(chunks: list[bytes]) -> tuple[float, int]:
    """Seconds and messages for panoramisk's bare parsing of ``chunks``."""
    parser = BareParser()
    gc.collect()
    start = time.perf_counter()
    for chunk in chunks:
        parser.data_received(chunk)
    return time.perf_counter() - start, parser.count - 1  # minus the login banner's reply


def live_protocol(sink: Any) -> tuple[Any, AmiConnection]:
    """The live connection's protocol object, wired to a real (never connected)
    :class:`AmiConnection` that subscribes to ``SUBSCRIBED_EVENTS`` and hands events to
    ``sink``: ``data_received`` runs exactly the code a live connection runs."""
    connection = AmiConnection(
        Endpoint("ami", "127.0.0.1", 5038, "bench", SecretStr("bench")),
        sink,
        events=SUBSCRIBED_EVENTS,
        component=Component("ami"),
    )
    protocol = _Protocol(connection._manager)
    protocol.connection_made(_NoTransport())
    return protocol, connection


class _NoTransport:
    def write(self, data: bytes) -> None:  # pragma: no cover - nothing is sent
        raise AssertionError("the benchmark sends nothing")


class _Count:
    """The finished-call sink: counts and drops, as the outbox does once a call is written
    (keeping them all would make the collector rescan every event of the run)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, finished: FinishedCall) -> None:
        self.count += 1


def run_live(chunks: list[bytes], journal: bool = True) -> tuple[float, int, int]:
    """Seconds, events and finished calls for the whole live ingest path (without the
    in-flight journal when ``journal`` is false, to show its share)."""
    finished = _Count()
    with tempfile.TemporaryDirectory(prefix="ivr-ingest-bench-") as folder:
        deferred: list[Callable[[], None]] = []
        box = InflightJournal(Path(folder) / "calls-in-flight.bench.jsonl", defer=deferred.append)
        box.recover()
        ingest = Ingest(
            Tracker(StandardsConfig(), "bench"), finished, journal=box if journal else None
        )
        protocol, connection = live_protocol(ingest.on_ami_event)
        gc.collect()
        start = time.perf_counter()
        for chunk in chunks:
            protocol.data_received(chunk)
            # What the event loop does after each read: the deferred write, then (every
            # 0.25 s in the agent; after every read here, an upper bound) the compaction check.
            for flush in deferred:
                flush()
            deferred.clear()
            box.maintain()
        elapsed = time.perf_counter() - start
        box.close()
    return elapsed, connection.stats.events, finished.count


def run_stages(chunks: list[bytes]) -> dict[str, float]:
    """Seconds of each cumulative stage of the live path, to show where the time goes."""
    out: dict[str, float] = {}

    parser = AmiFrameParser(AmiStats())
    gc.collect()
    start = time.perf_counter()
    for chunk in chunks:
        parser.feed(chunk)
    out["frames and headers (AmiFrameParser)"] = time.perf_counter() - start

    protocol, _ = live_protocol(lambda raw, at: None)
    gc.collect()
    start = time.perf_counter()
    for chunk in chunks:
        protocol.data_received(chunk)
    out["+ connection routing (subscribed names)"] = time.perf_counter() - start

    parsed: list[Any] = []

    def parse_only(raw: dict[str, str], at: float) -> None:
        parsed.append(None if parse_ami(raw) is None else 1)

    protocol, _ = live_protocol(parse_only)
    gc.collect()
    start = time.perf_counter()
    for chunk in chunks:
        protocol.data_received(chunk)
    out["+ parse_ami"] = time.perf_counter() - start
    out["+ tracker → outcome (no journal)"] = run_live(chunks, journal=False)[0]
    return out


# ----------------------------------------------------------------------------- memory --


def memory_concurrent(templates: list[list[Row]], calls: int) -> dict[str, Any]:
    """Traced memory with ``calls`` calls in flight (every event but the hang-ups fed)."""
    rows = []
    for n in range(calls):
        rows.extend(
            row
            for _, row in clone(templates[n % len(templates)], n, 1_800_000_000_000_000 + n * 1000)
            if row["Event"] != "Hangup"
        )
    parsed = [(r, parse_ami(r)) for r in rows]
    events = [e for _, e in parsed if e is not None]
    raws = [(e.linkedid, r) for r, e in parsed if e is not None]
    del rows, parsed
    gc.collect()
    tracemalloc.start()
    tracker = Tracker(StandardsConfig(), "bench")
    for event in events:
        tracker.feed(event)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(tracker) == calls
    return {
        "calls_in_flight": calls,
        "bytes_per_1000_calls_current": round(current * 1000 / calls),
        "bytes_per_1000_calls_peak": round(peak * 1000 / calls),
        "journal_bytes_per_1000_calls": journal_memory(raws, calls),
    }


def journal_memory(raws: list[tuple[str, dict[str, str]]], calls: int) -> int:
    """Traced memory of the in-flight journal holding the same calls' events (its second
    copy of them, as lines), per 1,000 calls."""
    with tempfile.TemporaryDirectory(prefix="ivr-journal-mem-") as folder:
        deferred: list[Callable[[], None]] = []
        box = InflightJournal(Path(folder) / "calls-in-flight.bench.jsonl", defer=deferred.append)
        box.recover()
        gc.collect()
        tracemalloc.start()
        for linkedid, raw in raws:
            box.record(linkedid, raw)
        for flush in deferred:
            flush()
        current, _peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        box.close()
    return round(current * 1000 / calls)


def memory_flat(templates: list[list[Row]], calls: int) -> dict[str, Any]:
    """Traced memory of a tracker fed ``calls`` sequential calls (50 in flight), sampled."""
    per_call = statistics.mean(len(t) for t in templates)
    total_events = int(calls * per_call)
    samples = []
    tracemalloc.start()
    tracker = Tracker(StandardsConfig(), "bench")
    baseline = tracemalloc.get_traced_memory()[0]
    finished = 0
    step = max(calls // 10, 1)
    next_sample = step
    for _, row in stream_rows(templates, total_events, 50):
        event = parse_ami(row)
        if event is None:
            continue
        finished += len(tracker.feed(event).finished)
        if finished >= next_sample:
            gc.collect()
            samples.append(
                {
                    "calls_finished": finished,
                    "in_flight": len(tracker),
                    "traced_bytes": tracemalloc.get_traced_memory()[0] - baseline,
                }
            )
            next_sample += step
    tracemalloc.stop()
    return {"calls": finished, "samples": samples}


# ------------------------------------------------------------------------------- main --


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--concurrent", type=int, default=1000)
    parser.add_argument("--read-size", type=int, default=65536)
    parser.add_argument("--rounds", type=int, default=3, help="alternating bare/ingest rounds")
    parser.add_argument("--memory-calls", type=int, default=100_000)
    parser.add_argument("--captures", type=Path, help="directory of recorded captures (*.jsonl)")
    parser.add_argument(
        "--gc-gen0",
        type=int,
        default=50_000,
        help="generation-0 threshold of the 'tuned' GC run (the default run keeps Python's)",
    )
    args = parser.parse_args()

    templates = capture_templates(args.captures) if args.captures else builtin_templates()
    if not templates:
        print("no call templates found", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    chunks = build_stream(templates, args.events, args.concurrent, args.read_size)
    size = sum(len(c) for c in chunks)
    print(
        f"stream: {args.events:,} events, {size / 1e6:.0f} MB, {len(chunks):,} reads of "
        f"{args.read_size} B, {len(templates)} call templates, built in "
        f"{time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )

    results: dict[str, Any] = {
        "command": " ".join(["python", *sys.argv]),
        "python": platform.python_version(),
        "panoramisk": "1.4",
        "cpu": _cpu_model(),
        "events": args.events,
        "stream_mb": round(size / 1e6),
        "templates": len(templates),
    }
    thresholds = {"default": gc.get_threshold(), "tuned": (args.gc_gen0, 20, 100)}
    for label, threshold in thresholds.items():
        gc.set_threshold(*threshold)
        bare_times, live_times = [], []
        events = calls = 0
        for round_ in range(args.rounds):
            bare, bare_count = run_bare(chunks)
            elapsed, events, calls = run_live(chunks)
            bare_times.append(bare)
            live_times.append(elapsed)
            print(
                f"gc {label} {threshold} round {round_ + 1}: bare {bare_count / bare:,.0f} ev/s, "
                f"live ingest {args.events / elapsed:,.0f} ev/s, ratio {elapsed / bare:.2f}",
                file=sys.stderr,
            )
        stages = run_stages(chunks)
        bare_best, live_best = min(bare_times), min(live_times)
        results[f"gc_{label}"] = {
            "gc_threshold": list(threshold),
            "events_dispatched": events,
            "calls_finished": calls,
            "bare_events_per_s": round(args.events / bare_best),
            # Both rates count every event of the stream (the ingest path also has to read
            # the ones it does not dispatch: Asterisk sends what the user's classes allow).
            "ingest_events_per_s": round(args.events / live_best),
            "ratio_ingest_to_bare": round(live_best / bare_best, 2),
            "ratio_median": round(
                statistics.median(i / b for i, b in zip(live_times, bare_times, strict=True)), 2
            ),
            "us_per_event": {
                "bare panoramisk parsing": round(bare_best / args.events * 1e6, 2),
                **{k: round(v / args.events * 1e6, 2) for k, v in stages.items()},
                "+ in-flight journal (= live ingest)": round(live_best / args.events * 1e6, 2),
            },
        }
    gc.set_threshold(*thresholds["default"])
    del chunks
    results["memory_concurrent"] = memory_concurrent(templates, args.concurrent)
    results["memory_flat"] = memory_flat(templates, args.memory_calls)
    print(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} CPUs)"
    except OSError:
        pass
    return platform.machine()


if __name__ == "__main__":
    sys.exit(main())
