"""Which recordings a new agent adopts from the one before it (a restart, a failover): the
recording snoops in our app whose recording is live; the rest is left alone or hung up. And
which calls it starts a recording for late: those the tracker says were answered, with no
recording adopted, whose caller is still on the line.

A previous agent's snoops cannot be made on demand on a real PBX at the moment of a
restart in a unit test; the channel listings have the shape Asterisk 22 gives (a snoop's
name ``Snoop/<spied uniqueid>-<n>``, ``dialplan.app_data`` ``<app>,<args>``). The sandbox
test of the whole restart is ``tests/integration/test_agent_restart_live.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from ivr_agent.core.commands import StartRecording
from ivr_agent.core.outcome import call_id_for
from ivr_agent.db.database import Database
from ivr_agent.pbx.ari import AriClient, AriError
from ivr_agent.pbx.session import Ivr
from ivr_agent.pbx.stasis import ANY_SNOOP_PREFIX, StasisRouter
from ivr_agent.recordings.inbound import InboundRecorder
from ivr_agent.recordings.takeover import RecordingTakeover
from ivr_agent.settings import load_settings
from tests.support.ivr import FileCatalogue

APP = "ivr-agent"
PREVIOUS = f"{ANY_SNOOP_PREFIX}0badc0de-rec-"


@dataclass
class FakeAri:
    """Lists ``listed``; answers ``GET /recordings/live/{name}`` for ``recording``."""

    listed: list[dict[str, Any]]
    recording: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)

    async def channels(self) -> list[dict[str, Any]]:
        return self.listed

    async def live_recording(self, name: str) -> dict[str, Any]:
        if name not in self.recording:
            raise AriError("GET", f"/recordings/live/{name}", 404, "Recording not found")
        return self.recording[name]

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self.calls.append(("hangup", channel_id))

    async def stored_recordings(self) -> list[dict[str, Any]]:
        return []  # nothing left in the spool (that case: test_inbound_recording_outage.py)


def snoop(channel_id: str, spied: str, data: str) -> dict[str, Any]:
    return {
        "id": channel_id,
        "name": f"Snoop/{spied}-0000002a",
        "state": "Up",
        "dialplan": {"app_name": "Stasis", "app_data": data},
    }


def recorder(ari: FakeAri, data_dir: Path) -> InboundRecorder:
    client = cast(AriClient, ari)
    settings = load_settings().model_copy(update={"data_dir": data_dir, "ari_app": APP})
    ivr = Ivr(
        client=client,
        router=StasisRouter(client, APP),
        catalogue=FileCatalogue(frozenset()),
        settings=settings,
    )
    # Adoption reads no rows; keeping what it adopted does (not reached here).
    return InboundRecorder(ivr, cast(Database, None))


async def test_a_live_recording_of_the_previous_agent_is_adopted_the_rest_left_or_hung_up(
    tmp_path: Path,
) -> None:
    recording = snoop(f"{PREVIOUS}1", "1795459486.190", f"{APP},record")
    never_started = snoop(f"{PREVIOUS}2", "1795459486.191", f"{APP},record")
    unknown_name = {**snoop(f"{PREVIOUS}3", "x", f"{APP},record"), "name": "Local/x"}
    whisper = snoop(f"{PREVIOUS}4", "1795459486.192", f"{APP},whisper")
    other_agents = snoop(f"{PREVIOUS}5", "1795459486.193", "ivr-agent-b,record")
    caller = {"id": "1795459486.190", "name": "PJSIP/trunk-00000001", "state": "Up"}
    ari = FakeAri(
        listed=[recording, never_started, unknown_name, whisper, other_agents, caller],
        recording={"ivr-agent-in-1795459486.190": {"state": "paused"}},
    )
    adopter = recorder(ari, tmp_path)
    takeover = RecordingTakeover(adopter, None, catch_up=False)
    try:
        assert await takeover.run() == 1
        call_id = call_id_for(adopter.settings.pbx_id, "1795459486.190")
        live = adopter.live[call_id]
        assert (live.name, live.snoop_id, live.paused) == (
            "ivr-agent-in-1795459486.190",
            recording["id"],
            True,
        )
        assert adopter.ivr.router.owned(recording["id"])
        # A snoop without a recording, or one we cannot place, is hung up; the whisper is
        # the router's (reclaim) and another app's snoop another agent's.
        assert ari.calls == [("hangup", never_started["id"]), ("hangup", unknown_name["id"])]
        # Listed again (an ARI reconnection): adopted once.
        assert await takeover.run() == 0
        assert adopter.stats["adopted"] == 1
    finally:
        await adopter.close()


@dataclass
class InFlight:
    """The tracker's calls in flight: the recordings they asked for."""

    due: tuple[StartRecording, ...]

    def recordings_due(self) -> tuple[StartRecording, ...]:
        return self.due

    def __contains__(self, linkedid: object) -> bool:
        return any(c.linkedid == linkedid for c in self.due)


def asked(linkedid: str) -> StartRecording:
    at = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
    return StartRecording(call_id_for("pbx1", linkedid), linkedid, linkedid, at)


async def test_given_calls_answered_while_no_agent_recorded_then_only_those_still_up_start_late(
    tmp_path: Path,
) -> None:
    # Three calls were answered before the take-over: one recorded by the previous agent
    # (its snoop is adopted), one answered while that agent was frozen or stopping (no
    # snoop: its caller is still on the line), one whose caller hung up in the gap.
    adopted, missed, ended = "1795459486.300", "1795459486.310", "1795459486.320"
    ari = FakeAri(
        listed=[
            snoop(f"{PREVIOUS}9", adopted, f"{APP},record"),
            {"id": adopted, "name": "PJSIP/trunk-00000010", "state": "Up"},
            {"id": missed, "name": "PJSIP/trunk-00000011", "state": "Up"},
        ],
        recording={f"ivr-agent-in-{adopted}": {"state": "recording"}},
    )
    late = recorder(ari, tmp_path)
    started: list[StartRecording] = []
    # What a start does with the PBX is the recorder's (tested live); here: which it asks.
    late.start = started.append  # type: ignore[method-assign]
    calls = InFlight((asked(adopted), asked(missed), asked(ended)))
    takeover = RecordingTakeover(late, calls, catch_up=True)
    try:
        assert await takeover.run() == 1
        assert started == [asked(missed)]
        assert late.stats["started_late"] == 1
    finally:
        await late.close()
