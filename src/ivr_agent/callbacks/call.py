"""One answered callback call over ARI: record first, run the survey, keep the recording.

Theory of operation (STANDARDS.md S5):

1. The customer answered; the channel is in our Stasis app. A mixing bridge of our own id
   takes the channel, and a bridge recording of our own name (``wav``) starts **before
   anything is said**. Only ``RecordingStarted`` lets the call go on: if the recording is
   refused or fails, the customer hears ``callback_recording_failed``, the call is hung up
   and the attempt ends ``failed`` (reason ``recording``), to be rescheduled.
2. :class:`~ivr_agent.callbacks.script.SurveyScript` drives the conversation. Prompts are
   played **on the bridge**, so the recording holds what the customer heard as well as what
   they said; a key pressed during a prompt stops it (barge-in). After every answer the
   progress goes to the journal (``callbacks/journal.py``), so an agent restarted
   mid-call can resume or finish the attempt.
3. After the call: hang up, stop the recording, wait for ``RecordingFinished``, fetch the
   file (``callbacks/recording_fetch.py``), verify it against the recorded time
   (``RecordingStarted`` → ``RecordingFinished``, ±1 s or up to 15 % short: frames the PBX
   lost, ``recordings.files.LOST_AUDIO_FRACTION``), store it under the data dir by
   opaque id with its SHA-256 — a file that fails verification is kept and marked
   ``corrupt`` — note it in the journal, and only then delete it from the PBX. The caller
   (the dialer) writes the outcome.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ivr_agent.callbacks.journal import Journal, JournalEntry
from ivr_agent.callbacks.recording_fetch import fetch_and_store
from ivr_agent.callbacks.script import (
    ASKS_IF_SOLVED,
    Ask,
    End,
    Prompt,
    ScriptResult,
    SurveyScript,
)
from ivr_agent.pbx.ari import AriClient, AriError, JsonObject, event_time
from ivr_agent.pbx.stasis import ChannelEvents, ChannelGone
from ivr_agent.platform.logging import get_logger
from ivr_agent.recordings import RecordingFile

if TYPE_CHECKING:
    from ivr_agent.pbx.session import Ivr

log = get_logger(__name__)

#: How long Asterisk may take to confirm a recording started or finished.
RECORDING_EVENT_SECONDS = 5.0
#: After ``RecordingStarted``: a recording that cannot write its file fails within this.
RECORDING_CONFIRM_SECONDS = 0.5
#: Longest a single prompt may play before we stop waiting for its end.
PLAYBACK_MAX_SECONDS = 120.0
#: Played into the bridge while waiting for a key, so the recording never starves.
SILENCE = "sound:silence/10"
SILENCE_SECONDS = 10.0


def bridge_id_for(attempt_id: str) -> str:
    """Our bridge id for an attempt's call (reconciliation finds it by this)."""
    return f"ivr-agent-cbb-{attempt_id}"


def recording_name_for(attempt_id: str) -> str:
    """Our recording name for an attempt's call (reconciliation finds it by this)."""
    return f"ivr-agent-cbr-{attempt_id}"


@dataclass(frozen=True)
class CallTarget:
    """Whom the attempt calls: the ids and what the opening prompt says."""

    attempt_id: str
    channel_id: str
    customer_name: str | None
    #: Why the callback is made (``core.callbacks.Reason``): service and complaint callbacks
    #: ask whether the problem was solved before the scores.
    reason: str = "manual"
    #: The number dialled: a return call shows it to the operator who takes it (S8).
    customer_number: str | None = None
    #: An in-queue callback request's queue (S8): the return call rejoins it in its place.
    queue: str | None = None


@dataclass(frozen=True)
class CallReport:
    """What one answered call produced; the dialer turns it into the attempt's result.

    ``outcome``: completed, declined, rescheduled, hung_up, or failed (``reason`` says why).
    ``recording`` is None only when no recording exists (it never started, or was lost).
    """

    outcome: str
    reason: str | None
    scores: Mapping[str, int]
    answered_at: datetime
    ended_at: datetime
    recording: RecordingFile | None
    satisfaction_index: float | None = None
    #: "Not now": when the customer would rather be called (None: no choice).
    better_time: str | None = None
    #: "Has the problem been solved?" (None: not asked, or no answer).
    problem_solved: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class RecordingNotStarted(Exception):
    """The bridge recording could not be started; the message says why."""


class RecordingLost(RecordingNotStarted):
    """The bridge recording failed during the call; the message says why."""


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _recorded_end(
    finished_at: float | None, started: float, stored: RecordingFile | None, now: float
) -> float:
    """When the recorded part of the call ended: ``RecordingFinished``'s time; without it, the
    recording's start plus the stored file's length (both PBX time); failing both, ``now``."""
    if finished_at is not None:
        return finished_at
    if stored is not None and stored.seconds is not None:
        return started + stored.seconds
    return now


class CallbackCall:
    """Runs one answered callback on ``channel_id`` (in Stasis); :meth:`run` returns its report."""

    def __init__(
        self,
        ivr: Ivr,
        journal: Journal,
        target: CallTarget,
        events: ChannelEvents,
        *,
        answered_at: float | None = None,
        resumed: bool = False,
        now: Callable[[], float] = time.time,
    ) -> None:
        """``answered_at``: when the customer answered (PBX time; default: ``now()``);
        ``resumed``: the call was adopted after an agent restart (an earlier run may have
        recorded part of it); ``now``: the PBX's clock, for the times no event gives."""
        self.ivr = ivr
        self.answered_at = answered_at
        self.resumed = resumed
        self.now = now
        self.client: AriClient = ivr.client
        self.settings = ivr.settings
        self.journal = journal
        self.target = target
        self.events = events
        self.bridge_id = bridge_id_for(target.attempt_id)
        self.recording_name = recording_name_for(target.attempt_id)
        self._playbacks = 0
        # Playback ids stay unique across agent restarts resuming the same call.
        self._run_id = secrets.token_hex(3)
        events.add(self.bridge_id, self.recording_name)

    # --- the whole call -----------------------------------------------------------------

    def answered_entry(self) -> tuple[JournalEntry, float]:
        """The attempt's journal entry with its answer time noted (written once), and that
        time: what every kind of answered callback starts from."""
        entry = self.journal.read(self.target.attempt_id) or JournalEntry(self.target.attempt_id)
        if entry.answered_at is None:
            entry = entry.with_(answered_at=self.answered_at or self.now())
            self.journal.write(entry)
        return entry, entry.answered_at or self.now()

    async def run(self) -> CallReport:
        """Record, converse, hang up, keep the recording. Never leaves the channel up."""
        entry, answered_at = self.answered_entry()
        if entry.recording_started_at is None:
            try:
                started = await self._start_recording()
            except (RecordingNotStarted, ChannelGone) as exc:
                return await self._recording_failed(exc, answered_at)
            entry = entry.with_(recording_name=self.recording_name, recording_started_at=started)
            self.journal.write(entry)
        else:
            # Resumed after a restart: our bridge and its recording are still there; the
            # prompt that was playing is stopped and its question asked again.
            try:
                await self._ensure_customer_in_bridge()
            except RecordingLost as exc:
                return await self._recording_failed(exc, answered_at)
            if entry.playback_id:
                await self.client.stop_playback(entry.playback_id)
        script = SurveyScript(
            self.target.customer_name or "",
            self.settings.company,
            ask_solved=self.target.reason in ASKS_IF_SOLVED,
            hotline=self.ivr.catalogue.available("callback_hotline"),
            consented=entry.consented,
            solved_asked=entry.solved_asked,
            problem_solved=entry.problem_solved,
            scores=entry.scores,
            asked=entry.asked,
        )
        try:
            result = await self._converse(script, entry)
        except RecordingLost as exc:
            return await self._recording_failed(exc, answered_at)
        entry = self.journal.read(self.target.attempt_id) or entry
        # Known now: a crash from here on still finishes with this outcome (reconcile).
        entry = entry.with_(outcome=result.outcome, scores=dict(result.scores))
        self.journal.write(entry)
        return await self.finish(entry, result, answered_at)

    async def finish(
        self, entry: JournalEntry, result: ScriptResult, answered_at: float
    ) -> CallReport:
        """After the conversation: hang up, then :meth:`close` with the survey's result."""
        await self._hang_up()
        return await self.close(
            entry.with_(scores=dict(result.scores)),
            answered_at,
            result.outcome,
            None,
            result=result,
        )

    async def close(
        self,
        entry: JournalEntry,
        answered_at: float,
        outcome: str,
        detail: str | None,
        *,
        finished_at: float | None = None,
        result: ScriptResult | None = None,
        extra: dict[str, Any] | None = None,
    ) -> CallReport:
        """The end every kind of answered call shares, once its channels are hung up (or
        handed over): stop (unless ``finished_at`` says it ended), fetch, verify and store
        the recording, note the end in the journal, destroy the bridge; the call's report.

        No verified recording, no outcome (S5): the attempt is ``failed`` (rescheduled) and
        ``detail`` says why; ``extra`` (e.g. the linked call) is kept only for an outcome
        that stood. ``result``: a survey's scores and answers."""
        stored, reason, ended = await self.stop_and_keep(entry, answered_at, finished_at)
        if stored is None:
            done = f"{detail}, but " if detail and outcome == "connected" else ""
            outcome, detail, extra = "failed", f"{done}recording: {reason}", None
        self.journal.write(entry.with_(outcome=outcome, ended_at=ended, stored=stored))
        await self._destroy_bridge()
        return CallReport(
            outcome=outcome,
            reason=detail,
            scores={} if result is None else result.scores,
            answered_at=_utc(answered_at),
            ended_at=_utc(ended),
            recording=stored,
            satisfaction_index=None if result is None else result.satisfaction_index,
            better_time=None if result is None else result.better_time,
            problem_solved=None if result is None else result.problem_solved,
            extra=extra or {},
        )

    # --- recording ----------------------------------------------------------------------

    async def stop_and_keep(
        self, entry: JournalEntry, answered_at: float, finished_at: float | None = None
    ) -> tuple[RecordingFile | None, str | None, float]:
        """Stop the bridge recording (unless ``finished_at`` says it already ended), fetch,
        verify and store it: (the stored file or None, why not, when the recorded part ended)."""
        if finished_at is None:
            finished_at = await self._stop_recording()
        started = entry.recording_started_at or answered_at
        # Without RecordingFinished (the PBX restarted under the call) the recorded part's
        # end is unknown: the file is checked whole, not against a guessed length.
        stored, reason = await self.keep_recording(
            None if finished_at is None else finished_at - started
        )
        return stored, reason, _recorded_end(finished_at, started, stored, self.now())

    async def _start_recording(self) -> float:
        """Bridge the channel and record the bridge; the ``RecordingStarted`` time."""
        try:
            await self.client.create_bridge(self.bridge_id, "mixing")
            await self._add_customer()
            await self.client.record_bridge(
                self.bridge_id,
                self.recording_name,
                audio_format="wav",
                max_duration_seconds=int(self.settings.callback_max_call_seconds),
                if_exists="overwrite",
            )
        except AriError as exc:
            if self.events.gone:
                raise ChannelGone(self.target.channel_id) from None
            raise RecordingNotStarted(
                f"{exc.method} {exc.path}: {exc.status} {exc.message}"
            ) from None
        try:
            event = await self.events.next(
                {"RecordingStarted", "RecordingFailed"}, RECORDING_EVENT_SECONDS
            )
        except TimeoutError:
            raise RecordingNotStarted("no RecordingStarted within 5 s") from None
        if event["type"] == "RecordingFailed":
            cause = (event.get("recording") or {}).get("cause") or "RecordingFailed"
            raise RecordingNotStarted(str(cause))
        # Asterisk confirms the start before it opens the file: an unwritable spool gives
        # RecordingStarted, then RecordingFailed (seen in the sandbox). Wait for the verdict.
        try:
            ended = await self.events.next(
                {"RecordingFailed", "RecordingFinished"}, RECORDING_CONFIRM_SECONDS
            )
        except TimeoutError:
            pass
        else:
            cause = (ended.get("recording") or {}).get("cause") or ended["type"]
            raise RecordingNotStarted(f"ended at once: {cause}")
        log.info("callback_recording_started", attempt_id=self.target.attempt_id)
        return event_time(event, self.now())

    async def _add_customer(self) -> None:
        # absorbDTMF: keys are events for us, not audio for the bridge and its recorder.
        await self.client.add_to_bridge(self.bridge_id, self.target.channel_id, absorb_dtmf=True)

    async def _ensure_customer_in_bridge(self) -> None:
        # Only if the customer is not in it: adding a channel already there moves it out and
        # back, and a bridge recording alone in its bridge for a moment ends (seen live).
        try:
            bridge = await self.client.bridge(self.bridge_id)
        except AriError as exc:
            raise RecordingLost(f"bridge gone after the restart: {exc.status}") from None
        if self.target.channel_id not in bridge.get("channels", []):
            with contextlib.suppress(AriError):
                await self._add_customer()
        try:
            live = await self.client.live_recording(self.recording_name)
        except AriError as exc:
            raise RecordingLost(f"not recording after the restart: {exc.status}") from None
        if live.get("state") not in ("recording", "queued"):
            raise RecordingLost(f"recording is {live.get('state')} after the restart")

    async def _recording_failed(self, exc: BaseException, answered_at: float) -> CallReport:
        # A customer who hangs up before the recording runs simply hung up (retried later).
        outcome = "failed" if isinstance(exc, RecordingNotStarted) else "hung_up"
        reason = f"recording: {exc}" if outcome == "failed" else None
        log.warning(
            "callback_recording_not_started", attempt_id=self.target.attempt_id, reason=reason
        )
        if not self.events.gone:
            with contextlib.suppress(ChannelGone, TimeoutError, AriError):
                media = await self.ivr.catalogue.ensure_media("callback_recording_failed", {})
                await self._play_on_channel(media)
        await self._hang_up()
        with contextlib.suppress(AriError):
            await self.client.stop_recording(self.recording_name)
        await self._destroy_bridge()
        ended = self.now()
        stored = await self._keep_earlier_recording() if self.resumed else None
        self.journal.write(
            JournalEntry(
                self.target.attempt_id, answered_at=answered_at, outcome=outcome, stored=stored
            )
        )
        return CallReport(
            outcome=outcome,
            reason=reason,
            scores={},
            answered_at=_utc(answered_at),
            ended_at=_utc(ended),
            recording=stored,
        )

    async def _keep_earlier_recording(self) -> RecordingFile | None:
        """A resumed call (adopted after an agent restart, whose journal the disk may have
        refused) whose recording cannot go on: what the earlier run recorded under this
        attempt's name is kept with the attempt, not left on the PBX."""
        try:
            stored, reason = await self.keep_recording(None)
        except Exception:  # a best effort on a failure path: never in the way of the end
            log.exception("callback_earlier_recording_not_kept", attempt_id=self.target.attempt_id)
            return None
        if stored is None:
            log.info("callback_no_earlier_recording", attempt_id=self.target.attempt_id, why=reason)
        return stored

    async def _stop_recording(self) -> float | None:
        """Stop the recording; the ``RecordingFinished`` time (None if none came)."""
        try:
            await self.client.stop_recording(self.recording_name)
        except AriError as exc:
            # 404: it had stopped already (maximum duration reached): its event is queued.
            log.info("callback_recording_stop_failed", error=str(exc))
        deadline = time.monotonic() + RECORDING_EVENT_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = await self.events.next(
                    {"RecordingFinished", "RecordingFailed", "ChannelDestroyed"}, left
                )
            except TimeoutError:
                break
            recording = event.get("recording") or {}
            if event["type"] != "ChannelDestroyed" and recording.get("name") == (
                self.recording_name
            ):
                return event_time(event, self.now())
        log.warning("callback_recording_finish_not_seen", attempt_id=self.target.attempt_id)
        return None

    async def keep_recording(
        self, expected_seconds: float | None
    ) -> tuple[RecordingFile | None, str | None]:
        """Fetch, verify, store the recording, then delete it from the PBX.

        Returns the stored file (status ``ok`` or ``corrupt`` with a reason), or None and
        why no file could be had at all.
        """
        return await fetch_and_store(
            self.client,
            self.journal,
            self.settings.data_dir,
            self.target.attempt_id,
            self.recording_name,
            expected_seconds,
        )

    # --- conversation -------------------------------------------------------------------

    async def _converse(self, script: SurveyScript, entry: JournalEntry) -> ScriptResult:
        step = script.first()
        while True:
            try:
                if isinstance(step, End):
                    await self._play(step.prompts)
                    return script.finished()
                key = await self._ask(step)
            except ChannelGone:
                return script.hung_up()
            step = script.answer(key)
            entry = entry.with_(
                consented=script.consented,
                solved_asked=script.solved_asked,
                problem_solved=script.problem_solved,
                asked=script.asked,
                scores=dict(script.scores),
            )
            self.journal.write(entry)

    async def _ask(self, step: Ask) -> str | None:
        """Play the step's prompts, then wait for a key; None after the timeout.

        The wait is filled with silence played on the bridge: with no audio in the bridge
        (the customer's phone sends none while a key is pressed) the recorder receives no
        frames and the file falls behind the call (measured: ~0.3 s per key).
        """
        timeout = self.settings.callback_digit_timeout_seconds
        filler = [SILENCE] * (math.ceil(timeout / SILENCE_SECONDS) + 1)
        playback_id = await self._start_playback(step.prompts, filler)
        prompts_left = len(step.prompts)
        deadline: float | None = None
        types = {"PlaybackContinuing", "PlaybackFinished", "ChannelDtmfReceived", "RecordingFailed"}
        try:
            while True:
                wait = PLAYBACK_MAX_SECONDS if deadline is None else deadline - time.monotonic()
                if wait <= 0:
                    return None
                try:
                    event = await self.events.next(types, wait)
                except TimeoutError:
                    if deadline is None:
                        raise
                    return None
                kind = event["type"]
                self._check_recording(event)
                if kind == "ChannelDtmfReceived":
                    return str(event.get("digit", ""))
                if (event.get("playback") or {}).get("id") != playback_id:
                    continue
                self._count_failed(event)
                if kind == "PlaybackContinuing":
                    prompts_left -= 1
                elif kind == "PlaybackFinished":
                    prompts_left = 0
                    # The filler ran out: wait on in silence.
                    types = {"ChannelDtmfReceived", "RecordingFailed"}
                if prompts_left <= 0 and deadline is None:
                    deadline = time.monotonic() + timeout
        finally:
            await self.client.stop_playback(playback_id)

    async def _play(self, prompts: tuple[Prompt, ...]) -> None:
        """Play on the bridge until done (keys pressed meanwhile are ignored)."""
        playback_id = await self._start_playback(prompts, [])
        while True:
            event = await self.events.next(
                {"PlaybackFinished", "RecordingFailed"}, PLAYBACK_MAX_SECONDS
            )
            self._check_recording(event)
            if (event.get("playback") or {}).get("id") == playback_id:
                self._count_failed(event)
                return

    def _count_failed(self, event: JsonObject) -> None:
        """Count a media item of our playback that the PBX could not play."""
        if (event.get("playback") or {}).get("state") == "failed":
            self.ivr.playback_stats.failed += 1
            log.warning("callback_playback_failed", attempt_id=self.target.attempt_id)

    def _check_recording(self, event: JsonObject) -> None:
        """Raise :class:`RecordingLost` if ``event`` says our recording failed."""
        recording = event.get("recording") or {}
        if event["type"] == "RecordingFailed" and recording.get("name") == self.recording_name:
            raise RecordingLost(f"failed during the call: {recording.get('cause') or 'unknown'}")

    async def _start_playback(self, prompts: tuple[Prompt, ...], then: list[str]) -> str:
        """Start one playback on the bridge: the prompts' media, then ``then``; its id."""
        media = [await self.ivr.catalogue.ensure_media(p.name, p.variables) for p in prompts]
        self._playbacks += 1
        playback_id = f"{self.bridge_id}-{self._run_id}-p{self._playbacks}"
        try:
            await self.client.play_on_bridge(self.bridge_id, media + then, playback_id)
        except AriError:
            if self.events.gone:
                raise ChannelGone(self.target.channel_id) from None
            raise
        # What the customer is told, in order: the log answers "what did they hear?".
        log.info(
            "callback_prompts_started",
            attempt_id=self.target.attempt_id,
            prompts=[p.name for p in prompts],
        )
        entry = self.journal.read(self.target.attempt_id) or JournalEntry(self.target.attempt_id)
        self.journal.write(entry.with_(playback_id=playback_id))
        return playback_id

    async def _play_on_channel(self, media: str) -> None:
        self._playbacks += 1
        playback_id = f"{self.bridge_id}-{self._run_id}-p{self._playbacks}"
        await self.client.play(self.target.channel_id, [media], playback_id)
        while True:
            event = await self.events.next({"PlaybackFinished"}, PLAYBACK_MAX_SECONDS)
            if (event.get("playback") or {}).get("id") == playback_id:
                self._count_failed(event)
                return

    # --- cleaning up --------------------------------------------------------------------

    async def _hang_up(self) -> None:
        if not self.events.gone:
            with contextlib.suppress(AriError):
                await self.client.hangup(self.target.channel_id)

    async def _destroy_bridge(self) -> None:
        with contextlib.suppress(AriError):
            await self.client.destroy_bridge(self.bridge_id)
