"""``ivr-agent replay FILE.jsonl``: feed a capture through the tracker, print outcomes.

Prints one ``CallOutcome.to_json_line()`` per finished call on stdout — the same lines the
live run stored and ``ivr-agent calls export`` prints — and a one-line summary on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ivr_agent.cli import Subparsers
from ivr_agent.settings import Settings


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from ivr_agent.core.config import StandardsConfig
    from ivr_agent.core.outcome import dumps_line
    from ivr_agent.core.replay import Replay
    from ivr_agent.pbx.capture import CaptureFormatError, read_capture

    path: Path = args.file
    if not path.is_file():
        print(f"ivr-agent replay: {path}: no such file", file=sys.stderr)
        return 2
    job = Replay(StandardsConfig.from_settings(settings), args.pbx_id or settings.pbx_id)
    out = sys.stdout
    try:
        for finished in job.run(read_capture(path), drain=args.drain):
            out.write(finished.outcome.to_json_line() + "\n")
            if args.timeline:
                line = {
                    "call_id": finished.outcome.call_id,
                    "timeline": [t.to_json() for t in finished.timeline],
                }
                out.write(dumps_line(line) + "\n")
    except CaptureFormatError as exc:
        print(f"ivr-agent replay: {exc}", file=sys.stderr)
        return 1
    stats = job.stats
    summary = {
        "rows": stats.rows,
        "consumed": stats.consumed,
        "ignored": stats.ignored,
        "malformed": stats.malformed,
        "calls": job.tracker.stats.calls_finished,
        "in_flight_at_end": len(job.tracker),
        "duplicates": job.tracker.stats.duplicates,
        "anomalies": job.tracker.stats.anomalies,
    }
    print(f"ivr-agent replay: {json.dumps(summary)}", file=sys.stderr)
    for example in stats.malformed_examples:
        print(f"ivr-agent replay: malformed {example}", file=sys.stderr)
    return 0


def register(subparsers: Subparsers) -> None:
    """Add ``replay``."""
    parser = subparsers.add_parser(
        "replay",
        help="feed a captured AMI stream through the call tracker; print outcomes as JSON lines",
    )
    parser.add_argument("file", type=Path, help="capture file (JSON lines of raw AMI fields)")
    parser.add_argument(
        "--drain",
        action="store_true",
        help="also print calls still in flight at the end (complete: false)",
    )
    parser.add_argument(
        "--timeline", action="store_true", help="after each outcome, print its timeline line"
    )
    parser.add_argument("--pbx-id", help="PBX id for call ids (default: IVR_AGENT_PBX_ID)")
    parser.set_defaults(handler=_replay)
