"""The callback dialer: claims due callbacks from PostgreSQL and places them through ARI.

Theory of operation:

* Every ``IVR_AGENT_CALLBACK_POLL_SECONDS`` (or at once after :meth:`Dialer.wake`) the
  worker claims up to its free slots (``IVR_AGENT_CALLBACK_CONCURRENCY``) with
  ``callbacks.attempts.claim_due`` — ``FOR UPDATE SKIP LOCKED``, so agents sharing the database
  never claim the same job. The claim writes the attempt as ``dialling`` with **our own
  channel id** before anything is sent to the PBX. What is due is decided by the database's
  ``now()`` (not this host's clock), and the claim re-checks the calling windows in the
  call centre's time zone: a callback reached outside its windows (after an outage, or a
  backlog larger than the concurrency) is moved to its next window, never dialled at night.
* Each attempt originates through ARI (never AMI: panoramisk would re-send an Originate
  after a reconnect) to ``IVR_AGENT_CALLBACK_DIAL`` with ``{number}`` filled in — the number
  is checked again here, digits and an optional ``+`` only — into
  ``Stasis(<app>,callback,<attempt id>)``. A subscription to the channel is opened before
  the originate, so ``StasisStart`` (answered) or ``ChannelDestroyed`` (not answered) is
  never missed.
* Not answered: the hang-up cause (or the ``Dial`` status) gives ``no_answer``, ``busy``
  (also a rejected call) or ``failed``; no recording is needed when nobody answered.
  Answered: :class:`~ivr_agent.callbacks.call.CallbackCall` runs the recorded survey; a
  return call (reason ``abandoned_call``, S8) runs
  :class:`~ivr_agent.callbacks.return_call.ReturnCall` instead: the recorded greeting, then
  the hand-over into the admin's operator route (outcome ``connected``).
* Then ``finish_attempt`` writes the attempt, scores, satisfaction index and recording
  row in one transaction (the scheduling rules decide the callback's next state). If the
  database is unreachable the result is first put in the attempt's journal (so a restart
  meanwhile reconciles it with its real outcome) and the write is retried — with pauses
  growing to ``FINISH_RETRY_CAP_SECONDS`` — until the database is back, however long that
  takes; the attempt keeps its concurrency slot meanwhile, so at most
  ``IVR_AGENT_CALLBACK_CONCURRENCY`` results wait in memory. Only a result the server
  itself refuses (an SQL state that is not a connection or resource problem) is given up
  on, left to the journal and the next start's reconciliation. The journal is removed
  once the write succeeded.
* At start-up :func:`ivr_agent.callbacks.reconcile.reconcile` deals with attempts a previous run
  left unfinished before anything new is claimed. Attempts carry this dialer's instance id
  (one per data dir); every ``HEARTBEAT_SECONDS`` the dialer renews its lease in the
  database and, once renewed without a break for ``LEASE_SECONDS``, takes over the
  unfinished attempts of dialers whose lease ran out (an agent that never came back);
  another live agent's attempts are never touched, even with the same ``pbx_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, get_args

from ivr_agent.callbacks.attempts import (
    AttemptAlreadyFinished,
    AttemptResult,
    CallbackNotFound,
    ClaimedAttempt,
    claim_due,
    finish_attempt,
    heartbeat,
    mark_answered,
    unfinished_attempts,
    unless_recorded,
)
from ivr_agent.callbacks.calendar import callback_config
from ivr_agent.callbacks.call import CallbackCall, CallTarget
from ivr_agent.callbacks.dialing import (
    attempt_result,
    cause_of,
    channel_id_for,
    dial_string,
    is_transient,
    specialist_endpoint,
    unanswered_outcome,
)
from ivr_agent.callbacks.journal import Journal, JournalEntry
from ivr_agent.callbacks.operator_first import (
    OperatorFirstReturnCall,
    places_operator_first,
    reserve_operator,
)
from ivr_agent.callbacks.queue_dispatch import QueueCallbackDispatcher, running_dispatcher
from ivr_agent.callbacks.reconcile import ReconcileReport, finish_without_channel, reconcile
from ivr_agent.callbacks.return_call import GREETING, QUEUE_GREETING, ReturnCall
from ivr_agent.callbacks.specialist import SpecialistCall, customer_channel_id
from ivr_agent.core.callbacks import (
    AnsweredOutcome,
    CallbackConfig,
    FailedOutcome,
    kind_of,
)
from ivr_agent.db.errors import StoreError
from ivr_agent.pbx.ari import AriError, JsonObject, event_time
from ivr_agent.pbx.stasis import ChannelEvents, ChannelGone, StasisCall
from ivr_agent.platform.logging import get_logger

if TYPE_CHECKING:
    from ivr_agent.db.database import Database
    from ivr_agent.pbx.session import Ivr

log = get_logger(__name__)

#: The Stasis argument of callback channels: ``Stasis(ivr-agent,callback,<attempt id>)``.
ROUTE = "callback"
#: Extra seconds past the ring time before an unanswered originate is given up on.
RING_GRACE_SECONDS = 15.0
#: Pauses between attempts to write a finished attempt while the database is unavailable;
#: after the last, every ``FINISH_RETRY_CAP_SECONDS`` until the database is back.
FINISH_RETRY_SECONDS: tuple[float, ...] = (0.5, 1, 2, 5, 10, 20)
FINISH_RETRY_CAP_SECONDS = 30.0
#: How often the dialer renews its lease, and how long a dialer that stopped renewing still
#: owns its unfinished attempts (database time).
HEARTBEAT_SECONDS = 15.0
LEASE_SECONDS = 120.0


@dataclass
class DialerStats:
    """What this dialer has done since start (exported as ``ivr_agent_callback_attempts_*``):
    calls placed, and attempts written, by outcome."""

    placed: int = 0
    completed: int = 0
    declined: int = 0
    rescheduled: int = 0
    #: Return calls handed to the operators (S8).
    connected: int = 0
    no_answer: int = 0
    busy: int = 0
    hung_up: int = 0
    failed: int = 0
    #: Writes of a result retried while the database was down.
    finish_retries: int = 0

    def count(self, outcome: str) -> None:
        """Count one attempt written with ``outcome``."""
        if outcome in _OUTCOME_FIELDS:
            setattr(self, outcome, getattr(self, outcome) + 1)


_OUTCOME_FIELDS = frozenset(get_args(AnsweredOutcome) + get_args(FailedOutcome))


class Dialer:
    """The worker; :meth:`run` until cancelled.

    ``clock`` gives "now" for the times the dialer writes (answer, end). What is due is the
    database's ``now()``, unless a ``clock`` is given: then claims use it too (tests
    travel in time with it). ``finish_retry_seconds`` / ``finish_retry_cap_seconds`` are
    the pauses between writes of a result while the database is down (tests shorten them).
    """

    def __init__(
        self,
        ivr: Ivr,
        db: Database,
        *,
        journal: Journal | None = None,
        clock: Callable[[], datetime] | None = None,
        pbx_now: Callable[[], float] = time.time,
    ) -> None:
        self.ivr = ivr
        self.db = db
        self.settings = ivr.settings
        self.journal = journal or Journal(ivr.settings.data_dir)
        #: The PBX's time (epoch seconds): what the dialer's own times are read from when
        #: no event carries one, so a step of this host's clock does not move them.
        self.pbx_now = pbx_now
        self._clock = clock or (lambda: datetime.fromtimestamp(self.pbx_now(), UTC))
        #: None: claims use the database's now().
        self.claim_clock = clock
        self.finish_retry_seconds: tuple[float, ...] = FINISH_RETRY_SECONDS
        self.finish_retry_cap_seconds = FINISH_RETRY_CAP_SECONDS
        #: Results waiting for the database (attempt ids), and writes retried so far.
        self.finish_waiting: set[str] = set()
        self.finish_retries = 0
        #: This dialer's id (one per data dir) and lease (tests shorten them).
        self.instance_id = self.journal.instance_id()
        self.heartbeat_seconds = HEARTBEAT_SECONDS
        self.lease_seconds = LEASE_SECONDS
        #: Monotonic time since which every lease renewal worked (None: the last failed).
        self.renewed_since: float | None = None
        self.active: dict[str, asyncio.Task[None]] = {}
        #: Channels a task of ours waits on (their StasisStart is not an orphan).
        self.awaiting: set[str] = set()
        self.placed = 0
        self.stats = DialerStats()
        self._wake = asyncio.Event()
        self.reconciled = asyncio.Event()

    @property
    def config(self) -> CallbackConfig:
        """The S5 rules with today's calendar (an edited holidays file counts at once)."""
        return callback_config(self.settings)

    @property
    def clock(self) -> Callable[[], datetime]:
        """The "now" of the times the dialer writes (answer, end)."""
        return self._clock

    @clock.setter
    def clock(self, clock: Callable[[], datetime]) -> None:
        # A clock set by a test travels in time: claims follow it too.
        self._clock = clock
        self.claim_clock = clock

    # --- the loop -----------------------------------------------------------------------

    def wake(self) -> None:
        """Look for due callbacks now (e.g. one was just created)."""
        self._wake.set()

    async def run(self) -> None:
        """Reconcile what a previous run left, then claim and place due callbacks forever."""
        events = self.ivr.events
        if events is not None:
            await events.connected.wait()
        while True:
            try:
                await self.renew_lease()
                await reconcile(self)
                break
            except (AriError, StoreError) as exc:
                log.warning("callback_reconcile_failed_retrying", error=str(exc))
                await asyncio.sleep(min(self.settings.callback_poll_seconds, 30))
        self.reconciled.set()
        keeper = asyncio.create_task(self._keep_lease(), name="callback-dialer-lease")
        try:
            while True:
                try:
                    await self.poll()
                except (StoreError, ValueError) as exc:
                    log.warning("callback_poll_failed", error=str(exc))
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.callback_poll_seconds)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    async def renew_lease(self) -> None:
        """Renew this dialer's lease (StoreError if the database is unreachable)."""
        try:
            await heartbeat(self.db, instance_id=self.instance_id, pbx_id=self.settings.pbx_id)
        except StoreError:
            self.renewed_since = None
            raise
        if self.renewed_since is None:
            self.renewed_since = time.monotonic()

    async def take_over_orphans(self) -> ReconcileReport | None:
        """Reconcile the attempts of dialers whose lease ran out — only once this dialer's
        own lease has been renewed without a break for a whole lease (after an outage
        nobody could renew, and live dialers must not look dead). None if not yet."""
        since = self.renewed_since
        if since is None or time.monotonic() - since < self.lease_seconds:
            return None
        return await reconcile(self, orphans=True)

    async def _keep_lease(self) -> None:
        while True:
            try:
                await self.renew_lease()
                await self.take_over_orphans()
            except (AriError, StoreError) as exc:
                log.warning("callback_lease_renewal_failed", error=str(exc))
            await asyncio.sleep(self.heartbeat_seconds)

    async def poll(self, now: datetime | None = None) -> list[ClaimedAttempt]:
        """Claim what is due and inside its calling windows for the free slots; place each.

        "Now" is ``now`` if given, else the dialer's ``clock`` if it was given one, else
        the database's ``now()``; the windows are those of the settings, in the call
        centre's time zone (``IVR_AGENT_TIMEZONE``).
        """
        free = self.settings.callback_concurrency - len(self.active)
        if free <= 0:
            return []
        if now is None and self.claim_clock is not None:
            now = self.claim_clock()
        claimed = await claim_due(
            self.db,
            now,
            limit=free,
            pbx_id=self.settings.pbx_id,
            channel_id_for=channel_id_for,
            config=self.config,
            instance_id=self.instance_id,
        )
        for attempt in claimed:
            self.start(attempt, self.place(attempt))
        return claimed

    def start(self, attempt: ClaimedAttempt, work: Any) -> None:
        """Run ``work`` (an attempt's coroutine) as a task tracked under the attempt id."""
        task = asyncio.create_task(work, name=f"callback-{attempt.attempt_id}")
        self.active[attempt.attempt_id] = task
        task.add_done_callback(lambda _: self.active.pop(attempt.attempt_id, None))

    async def idle(self) -> None:
        """Wait until no attempt is running (tests)."""
        while self.active:
            await asyncio.gather(*self.active.values(), return_exceptions=True)

    async def close(self) -> None:
        """Cancel running attempts: reconciliation at the next start picks them up."""
        tasks = list(self.active.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # --- one attempt --------------------------------------------------------------------

    async def place(self, attempt: ClaimedAttempt) -> None:
        """Originate the attempt's call, run it, and write how it ended."""
        log.info("callback_dialling", attempt_id=attempt.attempt_id, attempt_no=attempt.attempt_no)
        if places_operator_first(attempt, self.settings.return_call_order):
            attempt = await reserve_operator(self.ivr, self.db, attempt)
        caller_id = None
        try:
            endpoint = dial_string(self.settings.callback_dial, attempt.customer_number)
            if attempt.operator_id is not None:
                # S8: the specialist's phone rings first; the customer once they answer.
                endpoint = specialist_endpoint(self.settings.specialist_dial, attempt.operator_id)
            elif attempt.operator_first is not None:
                # S8: the operator kept for it first, shown whom they will call back.
                endpoint, caller_id = attempt.operator_first, attempt.customer_number
        except ValueError as exc:
            await self.finish(attempt, AttemptResult(outcome="failed", detail=str(exc)))
            return
        # Render the personalised opening (or the return call's greeting) now, so the
        # customer never waits for it.
        with contextlib.suppress(Exception):
            if kind_of(attempt.reason) == "return_call":
                greeting = QUEUE_GREETING if attempt.queue_name else GREETING
                await self.ivr.catalogue.ensure_media(greeting, {"company": self.settings.company})
            else:
                await self.ivr.catalogue.ensure_media(
                    "callback_opening", self._opening_variables(attempt)
                )
        with self._watch(attempt.channel_id) as events:
            try:
                await self.ivr.client.originate(
                    endpoint,
                    channel_id=attempt.channel_id,
                    app=self.settings.ari_app,
                    app_args=f"{ROUTE},{attempt.attempt_id}",
                    caller_id=caller_id,
                    timeout=self.settings.callback_ring_seconds,
                )
                self.placed += 1
                self.stats.placed += 1
            except AriError as exc:
                if exc.status is not None:
                    # Refused by the PBX: no call was placed.
                    detail = f"originate refused: {exc.status} {exc.message}"
                    await self.finish(attempt, AttemptResult(outcome="failed", detail=detail))
                    return
                # No reply: the call may exist all the same; its events will tell.
                log.warning("callback_originate_no_reply", attempt_id=attempt.attempt_id)
            await self.follow(attempt, events)

    async def follow(self, attempt: ClaimedAttempt, events: ChannelEvents) -> None:
        """Wait for the originated channel to be answered or to end; finish the attempt."""
        dial_status: str | None = None
        wait = self.settings.callback_ring_seconds + RING_GRACE_SECONDS
        try:
            async with asyncio.timeout(wait):
                while True:
                    event = await events.next({"StasisStart", "Dial", "ChannelDestroyed"}, wait)
                    kind = event["type"]
                    if kind == "Dial" and (event.get("peer") or {}).get("id") == (
                        attempt.channel_id
                    ):
                        dial_status = str(event.get("dialstatus") or "") or dial_status
                    elif kind == "ChannelDestroyed":
                        outcome, why = unanswered_outcome(dial_status, cause_of(event))
                        ended = datetime.fromtimestamp(self._moment(event), UTC)
                        result = AttemptResult(outcome=outcome, detail=why, ended_at=ended)
                        await self.finish(attempt, result)
                        return
                    elif kind == "StasisStart":
                        answered_at = self._moment(event)
                        break
        except TimeoutError:
            with contextlib.suppress(AriError):
                await self.ivr.client.hangup(attempt.channel_id)
            detail = f"neither answered nor ended within {wait:.0f} s"
            await self.finish(attempt, AttemptResult(outcome="failed", detail=detail))
            return
        await self.answered(attempt, events, answered_at)

    def _moment(self, event: JsonObject) -> float:
        """When ``event`` happened: its PBX timestamp; with a clock given (a test travelling
        in time), that clock, as for every time the dialer writes."""
        if self.claim_clock is not None:
            return self.clock().timestamp()
        return event_time(event, self.pbx_now())

    async def answered(
        self, attempt: ClaimedAttempt, events: ChannelEvents, answered_at: float | None = None
    ) -> None:
        """The customer answered (at ``answered_at``, PBX time, when known): run the recorded
        survey — or, for a return call, the recorded greeting and hand-over to the operators
        — and write its outcome."""
        answered = answered_at if answered_at is not None else self.pbx_now()
        with contextlib.suppress(StoreError, CallbackNotFound):
            await mark_answered(self.db, attempt.attempt_id, datetime.fromtimestamp(answered, UTC))
        # S8: an abandoned caller's callback is a return call to an operator, not a survey;
        # a specialist call-back bridges the specialist who answered with the customer.
        kind = kind_of(attempt.reason)
        runner = {"return_call": ReturnCall, "specialist": SpecialistCall}.get(kind, CallbackCall)
        if attempt.operator_first is not None:
            runner = OperatorFirstReturnCall  # its operator answered: now the customer
        call = runner(
            self.ivr,
            self.journal,
            self._target(attempt),
            events,
            answered_at=answered,
            # No answer time seen by this run: the call was adopted after a restart.
            resumed=answered_at is None,
            now=self.pbx_now,
        )
        if isinstance(call, SpecialistCall):
            call.expect = self.awaiting.add
        try:
            report = await call.run()
        except Exception as exc:
            # Whatever went wrong, the customer is not left on the line and the attempt ends
            # (a failure: retried by the rules).
            log.exception("callback_call_failed", attempt_id=attempt.attempt_id)
            with contextlib.suppress(AriError):
                await self.ivr.client.hangup(attempt.channel_id)
            detail = f"agent error: {type(exc).__name__}: {exc}"
            await self.finish(attempt, AttemptResult(outcome="failed", detail=detail))
            return
        finally:
            self.awaiting.discard(customer_channel_id(attempt.attempt_id))
        await self.finish(attempt, attempt_result(report))

    def _target(self, attempt: ClaimedAttempt) -> CallTarget:
        return CallTarget(
            attempt.attempt_id,
            attempt.channel_id,
            attempt.customer_name,
            attempt.reason,
            attempt.customer_number,
            attempt.queue_name,
        )

    def _opening_variables(self, attempt: ClaimedAttempt) -> dict[str, str]:
        variables = {"company": self.settings.company}
        if attempt.customer_name:
            variables["customer_name"] = attempt.customer_name
        return variables

    @contextlib.contextmanager
    def _watch(self, channel_id: str) -> Any:
        self.awaiting.add(channel_id)
        events = self.ivr.router.subscribe(channel_id)
        try:
            yield events
        finally:
            events.close()
            self.awaiting.discard(channel_id)

    async def watch_and_follow(self, attempt: ClaimedAttempt) -> None:
        """Follow an adopted channel still ringing (reconciliation)."""
        with self._watch(attempt.channel_id) as events:
            await self.follow(attempt, events)

    async def watch_and_resume(self, attempt: ClaimedAttempt) -> None:
        """Run an adopted, answered channel's call from where the journal says (reconciliation)."""
        with self._watch(attempt.channel_id) as events:
            try:
                await self.answered(attempt, events)
            except ChannelGone:
                await self.finish_from_journal(attempt, "channel gone while adopting")

    async def finish_from_journal(self, attempt: ClaimedAttempt, why: str) -> None:
        """Finish with what the journal holds (used when the call cannot go on)."""
        await finish_without_channel(self, attempt, why)

    # --- Stasis -------------------------------------------------------------------------

    async def on_stasis_start(self, call: StasisCall) -> None:
        """Route ``callback``: a channel we wait for is handled by its task; any other
        (a call a previous run placed, answered after our restart) is adopted if its
        attempt is still unfinished here, else hung up — never left in silence."""
        if call.channel_id in self.awaiting:
            return
        attempt_id = call.args[1] if len(call.args) > 1 else ""
        await self.reconciled.wait()
        if call.channel_id in self.awaiting:
            return
        try:
            attempts = await unfinished_attempts(
                self.db, pbx_id=self.settings.pbx_id, instance_id=self.instance_id
            )
        except StoreError as exc:
            log.warning("callback_adopt_lookup_failed", error=str(exc))
            attempts = []
        match = [
            a for a in attempts if a.attempt_id == attempt_id and a.channel_id == call.channel_id
        ]
        if not match or attempt_id in self.active:
            log.warning("callback_unknown_channel_hung_up", channel_id=call.channel_id)
            with contextlib.suppress(AriError):
                await self.ivr.client.hangup(call.channel_id)
            return
        attempt = match[0]
        log.info("callback_adopted_on_answer", attempt_id=attempt.attempt_id)
        self.awaiting.add(call.channel_id)
        events = self.ivr.router.subscribe(call.channel_id)

        async def run() -> None:
            try:
                await self.answered(attempt, events)
            finally:
                events.close()
                self.awaiting.discard(call.channel_id)

        self.start(attempt, run())

    # --- writing the result -------------------------------------------------------------

    async def finish(self, attempt: ClaimedAttempt, result: AttemptResult) -> None:
        """Write the attempt's result (retrying until the database is back); drop its journal."""
        result = unless_recorded(result)
        # When the call ended, not when the database came back: the retry interval counts
        # from here. An answered call knows its end (PBX time, e.g. the recording's end).
        ended = (result.ended_at if self.claim_clock is None else None) or self.clock()
        failures = 0
        while True:
            try:
                following = await finish_attempt(
                    self.db, attempt.attempt_id, result, ended, config=self.config
                )
            except StoreError as exc:
                if not is_transient(exc):
                    log.error(
                        "callback_finish_refused_by_database",
                        attempt_id=attempt.attempt_id,
                        error=str(exc),
                    )
                    self._journal_result(attempt, result, ended)
                    return  # the journal keeps it; reconciliation at the next start
                if failures == 0:
                    self._journal_result(attempt, result, ended)
                    self.finish_waiting.add(attempt.attempt_id)
                delay = self._finish_delay(failures)
                failures += 1
                self.finish_retries += 1
                self.stats.finish_retries += 1
                if failures <= len(self.finish_retry_seconds) or failures % 10 == 0:
                    log.warning(
                        "callback_finish_retry",
                        attempt_id=attempt.attempt_id,
                        failures=failures,
                        error=str(exc),
                    )
                await asyncio.sleep(delay)
                continue
            except AttemptAlreadyFinished as exc:
                log.warning(
                    "callback_already_finished", attempt_id=attempt.attempt_id, error=str(exc)
                )
            except (ValueError, CallbackNotFound) as exc:
                log.error("callback_result_refused", attempt_id=attempt.attempt_id, error=str(exc))
                if result.outcome != "failed":
                    fallback = AttemptResult(
                        outcome="failed",
                        answered_at=result.answered_at,
                        recording=result.recording,
                        detail=f"result refused: {exc}",
                    )
                    self.finish_waiting.discard(attempt.attempt_id)
                    await self.finish(attempt, fallback)
                    return
            else:
                self.stats.count(result.outcome)
                log.info(
                    "callback_attempt_finished",
                    attempt_id=attempt.attempt_id,
                    outcome=result.outcome,
                    status=following.status,
                    next_attempt_at=following.next_attempt_at,
                    write_retries=failures,
                )
            self.finish_waiting.discard(attempt.attempt_id)
            self.journal.remove(attempt.attempt_id)
            return

    def _finish_delay(self, failures: int) -> float:
        if failures < len(self.finish_retry_seconds):
            return self.finish_retry_seconds[failures]
        return self.finish_retry_cap_seconds

    def _journal_result(
        self, attempt: ClaimedAttempt, result: AttemptResult, ended: datetime
    ) -> None:
        """Keep ``result`` in the attempt's journal while it cannot be written (a restart
        meanwhile reconciles the attempt with this outcome, not as "interrupted")."""
        try:
            entry = self.journal.read(attempt.attempt_id) or JournalEntry(attempt.attempt_id)
            if entry.outcome is None:
                entry = entry.with_(outcome=result.outcome, ended_at=ended.timestamp())
            if entry.answered_at is None and result.answered_at is not None:
                entry = entry.with_(answered_at=result.answered_at.timestamp())
            if not entry.scores and result.scores:
                entry = entry.with_(scores=dict(result.scores))
            if entry.stored is None and result.recording is not None:
                entry = entry.with_(stored=result.recording)
            self.journal.write(entry)
        except (OSError, ValueError) as exc:
            log.error(
                "callback_journal_write_failed", attempt_id=attempt.attempt_id, error=str(exc)
            )


@contextlib.asynccontextmanager
async def running_dialer(
    ivr: Ivr,
    db: Database,
    pbx_now: Callable[[], float] = time.time,
    queue_joins: Callable[[str], datetime | None] | None = None,
    *,
    sole_dialer: bool = False,
) -> AsyncIterator[Dialer]:
    """The dialer with its Stasis route, running for the duration of the block; its times
    are read from ``pbx_now`` (the PBX's clock) where no event carries one.

    ``sole_dialer``: no other dialer of this PBX is alive (this agent holds the PBX's
    leadership): the attempts other dialers left are taken over at once, without waiting
    for their lease to run out."""
    dialer = Dialer(ivr, db, pbx_now=pbx_now)
    if sole_dialer:
        dialer.lease_seconds = 0.0
    ivr.router.route(ROUTE, dialer.on_stasis_start)
    task = asyncio.create_task(dialer.run(), name="callback-dialer")
    # In-queue callback requests (S8) are released in their places by the queues' state,
    # read over AMI; without AMI they wait.
    dispatcher = None
    if ivr.ami is not None:
        dispatcher = QueueCallbackDispatcher(
            ivr,
            db,
            wake=dialer.wake,
            poll_seconds=ivr.settings.queue_callback_poll_seconds,
            pbx_now=pbx_now,
            joined=queue_joins,
        )
    try:
        if dispatcher is None:
            yield dialer
        else:
            async with running_dispatcher(dispatcher):
                yield dialer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await dialer.close()
