"""Crash reconciliation of callback attempts: at start-up before any new dialling (this
dialer's own attempts), and while running (attempts of a dialer that is gone).

An attempt is written ``dialling`` before its originate, so an agent that died mid-call
leaves it ``dialling`` (or ``answered``). Which attempts are whose: each carries the
instance id of the dialer that placed it (one per agent data dir, kept by the journal), and
each dialer renews a lease in the database (``dialer_instances.heartbeat_at``, database
time). At start-up a dialer takes its own attempts (and those with no instance, from before
instances were recorded) — never those of another agent that is alive, even one with the
same ``IVR_AGENT_PBX_ID``: reconciling a live call of another agent called customers twice.
While running, once its own lease has been renewed without a break for a whole lease, it
also takes over the attempts of dialers whose lease ran out (an agent that never came
back); the take-over is one UPDATE, so two dialers never take the same attempt. The break
rule keeps a database outage, during which nobody could renew, from making every live
dialer look dead. Each attempt taken is never redialled blindly:

* **Its channel is still up and answered, in our Stasis app** → adopted: the call is
  resumed where the journal (``callbacks/journal.py``) says it was — the question in
  progress is asked again, on the same bridge, whose recording has kept running since the
  answer — and finished normally. (Chosen over waiting for the end: a customer left in
  silence would hang up, and the survey would be lost.)
* **Its channel is still ringing** → adopted: followed like a fresh originate (answer runs
  the survey; no answer/busy ends it as such).
* **Its channel is gone** → finished from what is left: a recording already stored (noted in
  the journal), else the recording on the PBX (a live one is stopped first) is fetched,
  verified and stored. The outcome is the journal's if the script had ended (a specialist
  call-back whose specialist and customer were bridged: ``connected``); otherwise the
  attempt ``failed`` ("agent restarted mid-call") and the scheduling rules reschedule it.
  With no recording at all, an answered outcome is impossible (S5): ``failed``, rescheduled.

Journal files of attempts that are no longer unfinished are removed (at start-up).

Reconciliation acts through the dialer (it starts the adopted calls' tasks and writes the
results), but knows it only as :class:`Dialing`: the dialer imports this module, never the
other way round.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from ivr_agent.callbacks.attempts import AttemptResult, ClaimedAttempt, take_unfinished
from ivr_agent.callbacks.call import bridge_id_for, recording_name_for
from ivr_agent.callbacks.journal import Journal
from ivr_agent.callbacks.recording_fetch import fetch_and_store
from ivr_agent.pbx.ari import AriClient, AriError, JsonObject
from ivr_agent.platform.logging import get_logger

if TYPE_CHECKING:
    from ivr_agent.db.database import Database
    from ivr_agent.pbx.session import Ivr
    from ivr_agent.settings import Settings

log = get_logger(__name__)

#: How long a stopped recording may take to appear among the stored ones.
STORED_WAIT_SECONDS = 5.0


class Dialing(Protocol):
    """What reconciliation needs of the dialer (``callbacks.dialer.Dialer``)."""

    @property
    def ivr(self) -> Ivr: ...

    @property
    def db(self) -> Database: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def journal(self) -> Journal: ...

    @property
    def instance_id(self) -> str:
        """This dialer's id (its attempts carry it)."""
        ...

    @property
    def lease_seconds(self) -> float:
        """How long a dialer without a heartbeat still owns its attempts."""
        ...

    @property
    def active(self) -> Mapping[str, object]:
        """Attempts with a task running in this process, by attempt id."""
        ...

    def start(self, attempt: ClaimedAttempt, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` as the attempt's task."""
        ...

    async def watch_and_follow(self, attempt: ClaimedAttempt) -> None:
        """Follow an adopted channel that is still ringing."""
        ...

    async def watch_and_resume(self, attempt: ClaimedAttempt) -> None:
        """Resume an adopted, answered call where its journal says."""
        ...

    async def finish(self, attempt: ClaimedAttempt, result: AttemptResult) -> None:
        """Write the attempt's result."""
        ...


@dataclass
class ReconcileReport:
    """What reconciliation did with each unfinished attempt (attempt id → action)."""

    actions: dict[str, str] = field(default_factory=dict)


def _in_stasis(channel: JsonObject, app: str) -> bool:
    dialplan = channel.get("dialplan") or {}
    data = str(dialplan.get("app_data") or "")
    return dialplan.get("app_name") == "Stasis" and data.split(",", 1)[0] == app


async def reconcile(dialer: Dialing, *, orphans: bool = False) -> ReconcileReport:
    """Adopt or finish every attempt a previous run of this agent left unfinished or, with
    ``orphans``, those of dialers whose lease ran out (see the module's docstring)."""
    report = ReconcileReport()
    attempts = await take_unfinished(
        dialer.db,
        pbx_id=dialer.settings.pbx_id,
        instance_id=dialer.instance_id,
        lease_seconds=dialer.lease_seconds,
        own=not orphans,
        orphans=orphans,
    )
    client = dialer.ivr.client
    channels = {str(c.get("id")): c for c in await client.channels()} if attempts else {}
    for attempt in attempts:
        if attempt.attempt_id in dialer.active:
            continue
        channel = channels.get(attempt.channel_id)
        if channel is None:
            report.actions[attempt.attempt_id] = await finish_without_channel(
                dialer, attempt, "agent restarted; the call had ended"
            )
        elif channel.get("state") == "Up" and _in_stasis(channel, dialer.settings.ari_app):
            log.info("callback_adopted_answered", attempt_id=attempt.attempt_id)
            await _subscribe(client, dialer.settings.ari_app, f"channel:{attempt.channel_id}")
            await _subscribe(
                client, dialer.settings.ari_app, f"bridge:{bridge_id_for(attempt.attempt_id)}"
            )
            dialer.start(attempt, dialer.watch_and_resume(attempt))
            report.actions[attempt.attempt_id] = "adopted answered call"
        elif channel.get("state") == "Up" and _handed_over(dialer, attempt):
            # A return call handed to the operators (S8): the customer is in the admin's
            # route, never hung up on; the attempt finishes as handed over.
            report.actions[attempt.attempt_id] = await finish_without_channel(
                dialer, attempt, "agent restarted; the return call was handed over"
            )
        elif channel.get("state") == "Up":
            # Answered but not with us (should not happen): end it, keep what was recorded.
            with contextlib.suppress(AriError):
                await client.hangup(attempt.channel_id)
            report.actions[attempt.attempt_id] = await finish_without_channel(
                dialer, attempt, "agent restarted; the call was outside the app"
            )
        else:
            log.info("callback_adopted_ringing", attempt_id=attempt.attempt_id)
            await _subscribe(client, dialer.settings.ari_app, f"channel:{attempt.channel_id}")
            dialer.start(attempt, dialer.watch_and_follow(attempt))
            report.actions[attempt.attempt_id] = "adopted ringing call"
    unfinished = {a.attempt_id for a in attempts}
    for attempt_id in dialer.journal.attempt_ids() if not orphans else ():
        if attempt_id not in unfinished and attempt_id not in dialer.active:
            dialer.journal.remove(attempt_id)
    if report.actions:
        log.info("callbacks_reconciled", actions=report.actions)
    return report


def _handed_over(dialer: Dialing, attempt: ClaimedAttempt) -> bool:
    """The journal says this return call was handed to the operator route (S8)."""
    entry = dialer.journal.read(attempt.attempt_id)
    return entry is not None and entry.outcome == "connected"


async def _subscribe(client: AriClient, app: str, source: str) -> None:
    """Make sure the app receives the events of ``source`` (``channel:ID``, ``bridge:ID``)."""
    with contextlib.suppress(AriError):
        await client.subscribe(app, source)


async def finish_without_channel(dialer: Dialing, attempt: ClaimedAttempt, why: str) -> str:
    """Finish an attempt whose call is over, from the journal and the PBX's recording."""
    client = dialer.ivr.client
    entry = dialer.journal.read(attempt.attempt_id)
    stored = entry.stored if entry is not None else None
    problem: str | None = None
    if stored is None:
        name = recording_name_for(attempt.attempt_id)
        await _stop_live_recording(client, name)
        expected = None
        if entry is not None and entry.ended_at and entry.recording_started_at:
            expected = entry.ended_at - entry.recording_started_at
        stored, problem = await fetch_and_store(
            client, dialer.journal, dialer.settings.data_dir, attempt.attempt_id, name, expected
        )
    with contextlib.suppress(AriError):
        await client.destroy_bridge(bridge_id_for(attempt.attempt_id))
    outcome = entry.outcome if entry is not None and entry.outcome else None
    if outcome is None and entry is not None and entry.reached_at is not None:
        # A specialist call-back whose two talked (S8): connected, not a call to repeat (as
        # every answered outcome, only with its recording).
        outcome = "connected"
    detail = None if outcome else f"{why} (call interrupted)"
    if stored is None and problem:
        detail = f"{detail or why}; recording: {problem}"
    answered = entry.answered_at if entry is not None else None
    if entry is not None and entry.reached_at is not None:
        answered = entry.reached_at  # the customer's answer: what S8 judges
    result = AttemptResult(
        outcome=outcome or "failed",
        answered_at=datetime.fromtimestamp(answered, UTC) if answered else None,
        scores=dict(entry.scores) if entry is not None else {},
        recording=stored,
        detail=detail,
        problem_solved=entry.problem_solved if entry is not None else None,
    )
    await dialer.finish(attempt, result)
    action = f"finished {result.outcome}" + (" with recording" if stored else " without recording")
    log.info("callback_reconciled", attempt_id=attempt.attempt_id, action=action, why=why)
    return action


async def _stop_live_recording(client: AriClient, name: str) -> None:
    """Stop ``name`` if it is still recording, and wait until the PBX lists it as stored."""
    try:
        await client.live_recording(name)
    except AriError:
        return  # not live (finished already, or never started)
    with contextlib.suppress(AriError):
        await client.stop_recording(name)
    deadline = time.monotonic() + STORED_WAIT_SECONDS
    while time.monotonic() < deadline:
        try:
            await client.stored_recording(name)
            return
        except AriError:
            await asyncio.sleep(0.2)
