"""Composition root: builds every part of the agent from the settings and wires them.

Nothing else constructs its own dependencies. Long-lived parts (database, outbox writer,
AMI ingest, timers) are aiohttp ``cleanup_ctx`` generators: started in order when the app
starts, stopped in reverse order — cancelled and awaited — when it shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from ivr_agent.callbacks import callback_config
from ivr_agent.callbacks.dialer import running_dialer
from ivr_agent.callbacks.feature import setup as setup_callbacks
from ivr_agent.callbacks.http import WAKE_DIALER
from ivr_agent.calls.feature import setup as setup_calls
from ivr_agent.calls.inflight import InflightJournal
from ivr_agent.calls.ingest import CommandRoutes, Ingest
from ivr_agent.calls.outbox import Outbox
from ivr_agent.calls.standby import OutcomeGate, take_over_calls
from ivr_agent.campaigns import CampaignScheduler, RunResult
from ivr_agent.campaigns.feature import setup as setup_campaigns
from ivr_agent.campaigns.http import WAKE_SCHEDULER
from ivr_agent.complaints.feature import running_chaser
from ivr_agent.complaints.feature import setup as setup_complaints
from ivr_agent.complaints.runner import GAUGES as COMPLAINT_GAUGES
from ivr_agent.core.commands import CancelTimers, PlayPrompt
from ivr_agent.core.config import StandardsConfig
from ivr_agent.core.events import SUBSCRIBED_EVENTS
from ivr_agent.core.tracker import FinishedCall, Tracker
from ivr_agent.dashboard.feature import setup as setup_dashboard
from ivr_agent.dashboard.live import LIVE
from ivr_agent.db.database import Database, open_database
from ivr_agent.db.migrate import upgrade_to_head
from ivr_agent.metrics.feature import running_callback_counts
from ivr_agent.metrics.feature import setup as setup_metrics
from ivr_agent.metrics.prometheus import METRICS, calls_in_progress, leader_state
from ivr_agent.notify import build_notifier, check_reachable, load_directory
from ivr_agent.pbx.ami import AmiConnection
from ivr_agent.pbx.bridge_members import BridgeMembers
from ivr_agent.pbx.capture import CaptureWriter
from ivr_agent.pbx.clock import PbxClock
from ivr_agent.pbx.session import Ivr, ReportSeal, ari_probe, is_agent_report, running_session
from ivr_agent.platform.active_parts import ActiveParts
from ivr_agent.platform.disk import disk_probe
from ivr_agent.platform.health import READINESS, Readiness, State, setup_health
from ivr_agent.platform.keys import DATABASE, DIRECTORY, NOTIFIER, SETTINGS
from ivr_agent.platform.leadership import Leadership, elected, lock_connector
from ivr_agent.platform.logging import get_logger
from ivr_agent.platform.slots import Slot
from ivr_agent.platform.systemd import running_notifier
from ivr_agent.platform.tasks import background
from ivr_agent.prompts.catalogue import PromptCatalogue
from ivr_agent.prompts.executor import PromptExecutor
from ivr_agent.prompts.feature import running_prompts
from ivr_agent.prompts.http import PromptFiles, setup_prompt_files
from ivr_agent.prompts.playable import PlayabilityCheck
from ivr_agent.qa.feature import setup as setup_qa
from ivr_agent.recordings.feature import setup as setup_recordings
from ivr_agent.recordings.inbound import RECORDER
from ivr_agent.records.feature import setup as setup_records
from ivr_agent.reports.feature import PRODUCER_CLOCK, running_producer
from ivr_agent.reports.feature import setup as setup_reports
from ivr_agent.settings import Settings, systemd_environment
from ivr_agent.web.auth import auth_middleware
from ivr_agent.web.errors import error_middleware
from ivr_agent.web.openapi import setup_openapi

log = get_logger(__name__)

CleanupCtx = Callable[[web.Application], AsyncIterator[None]]
OUTBOX = web.AppKey("outbox", Outbox)
INGEST = web.AppKey("ingest", Ingest)
AMI = web.AppKey("ami", AmiConnection)
# Filled while the active parts run (after start-up, each time the lead is gained).
IVR: web.AppKey[Slot[Ivr]] = web.AppKey("ivr")
EXECUTOR: web.AppKey[Slot[PromptExecutor]] = web.AppKey("prompt_executor")
PBX_CLOCK = web.AppKey("pbx_clock", PbxClock)
PROMPT_CHECK: web.AppKey[Slot[PlayabilityCheck]] = web.AppKey("prompt_check")
OUTCOME_GATE = web.AppKey("outcome_gate", OutcomeGate)
LEADERSHIP = web.AppKey("leadership", Leadership)

#: How often the tracker's timers are advanced (hold-reminder repeats, stale calls).
TICK_SECONDS = 0.25


@dataclass(frozen=True)
class Options:
    """Per-run choices that are not settings (command-line flags)."""

    capture: Path | None = None


def _database_ctx(settings: Settings, readiness: Readiness, given: Database | None) -> CleanupCtx:
    component = readiness.component("database")

    async def probe(db: Database) -> None:
        up = await db.ping()
        component.set(State.UP if up else State.DOWN, "" if up else "ping failed")

    async def database(app: web.Application) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if given is not None:
                db = given
            else:
                db = await stack.enter_async_context(open_database(settings))
                if settings.auto_migrate:
                    await upgrade_to_head(db)
            app[DATABASE] = db
            component.set(State.UP)
            readiness.add_probe("database", lambda: probe(db))
            yield
            component.set(State.DOWN, "shutting down")

    return database


def _outbox_ctx(settings: Settings, readiness: Readiness) -> CleanupCtx:
    component = readiness.component("outbox")
    disk = readiness.component("data_dir")

    async def outbox(app: web.Application) -> AsyncIterator[None]:
        auto_callbacks = callback_config(settings) if settings.callback_auto_for_abandoned else None
        box = Outbox(
            settings.data_dir / "spool",
            callbacks=auto_callbacks,
            # A caller's in-queue callback request is a promise: stored whatever the setting.
            queue_callbacks=callback_config(settings),
            standards=StandardsConfig.from_settings(settings),
        )
        app[OUTBOX] = box
        # Not ready while outcomes cannot reach the spool or the writer is stuck.
        readiness.add_probe("outbox", box.readiness_probe(component))
        # The spool, the journals and pending recordings all live there.
        readiness.add_probe("data_dir", disk_probe(settings.data_dir, disk))
        app[METRICS].export_counters("outbox", "Outbox", box.stats, gauges=frozenset({"pending"}))
        try:
            async with background(box.run(app[DATABASE]), "outbox-writer"):
                yield
            # Last chance to write what finished during shutdown; the spool keeps the rest.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(box.drain(app[DATABASE]), 5)
        finally:
            box.close()

    return outbox


async def _tick(ingest: Ingest, clock: PbxClock) -> None:
    # The tracker's timers (hold reminder repeats, stale calls) are in PBX time: with this
    # host's clock an hour ahead, one tick would have emitted 180 reminders.
    while True:
        await asyncio.sleep(TICK_SECONDS)
        ingest.tick(clock.now())


async def _reports_ctx(app: web.Application) -> AsyncIterator[None]:
    # Each closed day's, week's and month's report, written without anyone asking; the
    # clock can be replaced before the app starts (a time-scaled test sets PRODUCER_CLOCK).
    clock = app.get(PRODUCER_CLOCK)
    if clock is None:
        async with running_producer(app):
            yield
        return
    async with running_producer(app, now=clock.now, poll_seconds=clock.poll_seconds):
        yield


async def _callback_counts_ctx(app: web.Application) -> AsyncIterator[None]:
    # Open and overdue callbacks as gauges, counted in the database (the alert rules).
    async with running_callback_counts(app[DATABASE], app[METRICS]):
        yield


async def _complaints_ctx(app: web.Application) -> AsyncIterator[None]:
    # S7: chase and escalate handling departments, settle complaints by their callbacks
    # (every agent may run one: each step is stored once under the complaint's row lock).
    async with running_chaser(app) as chaser:
        stop = app[METRICS].export_counters(
            "complaints", "Complaints", chaser.stats, gauges=COMPLAINT_GAUGES
        )
        try:
            yield
        finally:
            stop()


def _campaigns_ctx(settings: Settings) -> CleanupCtx:
    """The campaign scheduler: creates each run's callbacks on its day (every agent may run
    one: creating a run is idempotent in the database), then wakes this agent's dialer."""

    async def campaigns(app: web.Application) -> AsyncIterator[None]:
        def runs_created(_runs: list[RunResult]) -> None:
            wake = app[WAKE_DIALER].value
            if wake is not None:
                wake()

        scheduler = CampaignScheduler(
            app[DATABASE],
            lambda: callback_config(settings),
            now=lambda: datetime.now(UTC),
            on_runs=runs_created,
            pbx_id=settings.pbx_id,
        )
        app[WAKE_SCHEDULER] = scheduler.wake
        async with background(scheduler.run(), "campaign-scheduler"):
            yield

    return campaigns


def _ami_ctx(
    settings: Settings,
    readiness: Readiness,
    options: Options,
    commands: CommandRoutes,
    clock: PbxClock,
    seal: ReportSeal,
    bridges: BridgeMembers,
) -> CleanupCtx:
    component = readiness.component("ami", enabled=settings.ami_url is not None)

    async def ami(app: web.Application) -> AsyncIterator[None]:
        tracker = Tracker(StandardsConfig.from_settings(settings), settings.pbx_id)
        box = app[OUTBOX]
        metrics = app[METRICS]
        live = app[LIVE]
        capture = CaptureWriter(options.capture) if options.capture else None

        def finished(call: FinishedCall) -> None:
            box.put(call.outcome, call.timeline)
            metrics.observe_finished(call.outcome)
            live.publish_finished(call.outcome)
            recorder = app[RECORDER].value
            # A recording the dialplan made is kept now; one an earlier agent left, found.
            if recorder is not None:
                outcome = call.outcome
                recorder.call_finished(
                    outcome.linkedid,
                    outcome.call_id,
                    outcome.ended_at.timestamp(),
                    asked=call.recording is not None,
                )

        # A standby keeps its finished calls aside (calls/standby.py); active by default.
        gate = app[OUTCOME_GATE] = OutcomeGate(finished)

        # Per PBX: the calls of one PBX are never rebuilt into another's tracker.
        journal = InflightJournal(
            settings.data_dir / f"calls-in-flight.{settings.pbx_id}.jsonl",
            defer=asyncio.get_running_loop().call_soon,
        )
        ingest = Ingest(
            tracker,
            gate,
            commands=commands,
            capture=capture,
            trust=seal.genuine,
            journal=journal,
        )
        app[INGEST] = ingest
        # Before AMI connects: the previous run's calls in flight, reconciled at login.
        restored = ingest.restore(journal.recover())
        # Only the active agent counts the PBX's calls (a standby's would double them).
        metrics.export_live(calls_in_progress(lambda: tracker.in_progress() if gate.active else ()))
        metrics.export_counters("ingest", "Ingest path", ingest.stats)
        metrics.export_counters("inflight_journal", "In-flight journal", journal.stats)
        metrics.export_counters("tracker", "Call tracker", tracker.stats)
        metrics.export_counters(
            "pbx_clock", "PBX clock", clock.stats, gauges=frozenset({"skew_seconds"})
        )
        if settings.ami_url is None:
            try:
                yield
            finally:
                journal.close()
            return

        def on_event(raw: dict[str, str], received_at: float) -> None:
            clock.observe_ami(raw, received_at)
            bridges.observe(raw)
            if not gate.active and is_agent_report(raw):
                return  # the active agent's report: sealed with a key a standby cannot check
            ingest.on_ami_event(raw, received_at)

        def resync(channels: list[dict[str, str]], at: float) -> None:
            bridges.clear()  # what changed while AMI was away is unknown
            ingest.on_resync(channels, at)

        connection = AmiConnection(
            settings.ami_url,
            on_event,
            events=SUBSCRIBED_EVENTS,
            component=component,
            on_resync=resync,
            resync_first_login=restored > 0,
        )
        app[AMI] = connection
        metrics.export_counters("ami", "AMI connection", connection.stats)
        await connection.start()
        try:
            async with background(_tick(ingest, clock), "tracker-tick"):
                yield
        finally:
            await connection.close()
            # Calls still in flight stay in the journal: the next start picks them up.
            journal.close()
            if capture is not None:
                capture.close()

    return ami


def _ivr_ctx(
    settings: Settings,
    readiness: Readiness,
    commands: CommandRoutes,
    clock: PbxClock,
    seal: ReportSeal,
    catalogue: PromptCatalogue,
    files: PromptFiles | None,
    bridges: BridgeMembers,
) -> CleanupCtx:
    """The ARI session and the features that act through it: prompts (the tracker's
    commands, the greeting and satisfaction routes, the check that the PBX can play them)
    and the callback dialer."""
    component = readiness.component("ari", enabled=settings.ari_url is not None)
    # Not ready while the PBX cannot play every prompt (checked when ARI connects).
    prompts_component = readiness.component("prompts", enabled=settings.ari_url is not None)

    async def ivr(app: web.Application) -> AsyncIterator[None]:
        if settings.ari_url is None:
            yield  # measure only: the tracker's commands go nowhere
            return
        async with contextlib.AsyncExitStack() as stack:
            session = await stack.enter_async_context(
                running_session(
                    settings,
                    component,
                    ami=app.get(AMI),
                    catalogue=catalogue,
                    seal=seal,
                    bridges=bridges,
                )
            )
            # Emptied when the agent stands by: nothing may reach the closed session then.
            stack.enter_context(app[IVR].holding(session))
            readiness.add_probe("ari", ari_probe(session, component))
            stack.callback(readiness.probes.pop, "ari", None)
            metrics = app[METRICS]
            stack.callback(
                metrics.export_counters(
                    "playbacks",
                    "Prompt playbacks",
                    session.playback_stats,
                    gauges=frozenset({"unplayable"}),
                )
            )
            check = PlayabilityCheck(
                session,
                catalogue,
                prompts_component,
                requests_seen=None if files is None else files.stats.answered,
            )
            stack.enter_context(app[PROMPT_CHECK].holding(check))
            check.start()
            stack.push_async_callback(check.close)
            stack.callback(metrics.export_counters("stasis", "Stasis router", session.router.stats))
            stack.callback(
                metrics.export_counters("prompt_reports", "Prompt reports", session.report_stats)
            )
            executor = await stack.enter_async_context(
                running_prompts(session, registry=app[METRICS].registry, pbx_now=clock.now)
            )
            stack.enter_context(app[EXECUTOR].holding(executor))
            stack.callback(metrics.export_counters("executor", "Prompt executor", executor.stats))
            if settings.callback_dialer_enabled:
                dialer = await stack.enter_async_context(
                    running_dialer(
                        session,
                        app[DATABASE],
                        pbx_now=clock.now,
                        # The PBX's leader is its only dialer: what another left is orphaned.
                        sole_dialer=settings.leader_election,
                        # Exact queue joins (QueueCallerJoin) for the in-queue callbacks' order.
                        queue_joins=lambda uniqueid: (
                            app[INGEST].tracker.queue_joined_at(uniqueid) if INGEST in app else None
                        ),
                    )
                )
                # POST /api/callbacks wakes it: a callback due now is dialled at once.
                stack.enter_context(app[WAKE_DIALER].holding(dialer.wake))
                stack.callback(
                    metrics.export_counters("callback_attempts", "Callback attempts", dialer.stats)
                )
            stack.callback(commands.route((PlayPrompt, CancelTimers), executor.submit))
            yield

    return ivr


def _calls_handover(settings: Settings) -> CleanupCtx:
    """The first active part: a standby taking over stores the calls it kept aside that
    nobody stored and marks those in flight (calls/standby.py)."""

    async def handover(app: web.Application) -> AsyncIterator[None]:
        gate, tracker = app[OUTCOME_GATE], app[INGEST].tracker
        await take_over_calls(gate, tracker, app[DATABASE], settings.pbx_id, app[PBX_CLOCK].now())
        yield

    return handover


def _leadership_ctx(settings: Settings, readiness: Readiness, active: ActiveParts) -> CleanupCtx:
    """Runs the active parts: at once without leader election; with it, while this agent
    holds the lock of its PBX (platform/leadership.py), as a standby meanwhile."""

    async def leadership(app: web.Application) -> AsyncIterator[None]:
        if not settings.leader_election:
            await active.start()
            try:
                yield
            finally:
                await active.stop()
            return
        db = app[DATABASE]
        async with elected(
            lock_connector(db.engine.dialect.create_connect_args(db.url)[1]),
            settings.pbx_id,
            poll_seconds=settings.leader_poll_seconds,
            active=active,
            readiness=readiness,
            # Finished calls are kept aside only once another agent is known to act: a
            # leader that lost its lock connection because the database is down goes on
            # spooling them (written when it is back; a second save only rewrites a row).
            on_held_elsewhere=app[OUTCOME_GATE].stand_by,
        ) as lead:
            app[LEADERSHIP] = lead
            leader = leader_state(settings.pbx_id, lambda: lead.is_leader)
            unexport = app[METRICS].export_live(leader)
            # Times this agent gained and lost it: a flapping leadership shows here.
            changes = app[METRICS].export_read(
                "leadership", "Leadership", lambda: {"gained": lead.gained, "lost": lead.lost}
            )
            try:
                yield
            finally:
                unexport()
                changes()

    return leadership


def build_app(
    settings: Settings, *, database: Database | None = None, options: Options | None = None
) -> web.Application:
    """The whole agent as one aiohttp application, ready to run.

    ``database``: an already open database to use (tests, embedding); by default the app
    opens the configured one when it starts and closes it when it stops.
    """
    options = options or Options()
    # A wrong holidays country or file stops the start here, named (CalendarError); so does
    # a wrong departments file, or one naming contacts no channel is set up for, with its
    # file and line (DirectoryError).
    callback_config(settings)
    directory = load_directory(settings.departments_file)
    check_reachable(directory, settings)
    app = web.Application(client_max_size=64 * 1024)
    app[SETTINGS] = settings
    # Who handles complaints and how people are told (S7 chase and escalation, S10 report
    # mail): features take them from here.
    app[DIRECTORY] = directory
    app.middlewares.append(error_middleware)
    app.middlewares.append(auth_middleware(lambda: app[DATABASE]))
    readiness = Readiness()
    app[IVR] = Slot("the ARI session")
    app[EXECUTOR] = Slot("the prompt executor")
    app[PROMPT_CHECK] = Slot("the prompt check")
    clock = app[PBX_CLOCK] = PbxClock()
    bridges = BridgeMembers()
    # The agent's own prompt reports are sealed with it, and the AMI edge checks them.
    seal = ReportSeal()
    setup_health(app, readiness)
    setup_calls(app)
    setup_callbacks(app)
    setup_campaigns(app)
    setup_qa(app)
    setup_reports(app, settings)
    setup_records(app)
    setup_complaints(app)
    metrics = setup_metrics(app, public=settings.metrics_public, readiness=readiness)
    app[NOTIFIER] = build_notifier(settings, registry=metrics.registry)
    catalogue = PromptCatalogue.from_settings(settings)
    files = None
    if settings.prompts_delivery == "http":
        # The PBX fetches the prompt files here (sound:<PROMPTS_URL>/prompts/…).
        files = setup_prompt_files(app, catalogue)
        metrics.export_counters("prompt_files", "Prompt files route", files.stats)
    # Started in this order, stopped in reverse: the database, the outbox that writes to it,
    # AMI into the tracker, the live feed reading both, the ARI session with the features
    # acting through it (prompts, dialer), inbound recording.
    app.cleanup_ctx.append(_database_ctx(settings, readiness, database))
    app.cleanup_ctx.append(_outbox_ctx(settings, readiness))
    app.cleanup_ctx.append(_callback_counts_ctx)
    app.cleanup_ctx.append(_campaigns_ctx(settings))
    app.cleanup_ctx.append(_reports_ctx)
    app.cleanup_ctx.append(_complaints_ctx)
    # The tracker's commands go to the parts that carry them out once those run.
    commands = CommandRoutes()
    app.cleanup_ctx.append(_ami_ctx(settings, readiness, options, commands, clock, seal, bridges))
    setup_dashboard(
        app,
        in_progress=lambda: app[INGEST].tracker.in_progress(),
        stored=lambda: app[OUTBOX].stats.written,
    )
    # What only the active agent of the PBX runs (all of it without leader election).
    active = ActiveParts(app)
    active.add(_calls_handover(settings))
    active.add(_ivr_ctx(settings, readiness, commands, clock, seal, catalogue, files, bridges))
    app.cleanup_ctx.append(_leadership_ctx(settings, readiness, active))
    setup_recordings(
        app,
        settings,
        session=lambda: app[IVR].value,
        commands=commands,
        calls=lambda: app[INGEST].tracker if INGEST in app else None,
        run_recorder=active.add,
    )
    # Inbound recordings by result (ok, corrupt, missing, failed, …), once a recorder runs.
    metrics.export_read(
        "recordings",
        "Inbound recordings",
        lambda: recorder.stats if (recorder := app[RECORDER].value) is not None else None,
    )
    # Last: the API reference documents every route registered above.
    setup_openapi(app)
    return app


async def serve(
    settings: Settings, *, options: Options | None = None, stop: asyncio.Event | None = None
) -> None:
    """Run the agent until SIGTERM/SIGINT (or ``stop`` is set), then shut down cleanly."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    app = build_app(settings, options=options)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        listen = settings.http_listen
        site = web.TCPSite(runner, listen.host, listen.port)
        await site.start()
        log.info("agent started", http=f"http://{listen}", pbx_id=settings.pbx_id)
        # Under systemd (Type=notify): READY=1 now that it serves, the watchdog from the loop.
        async with running_notifier(systemd_environment(), app[READINESS]):
            await stop.wait()
            log.info("agent stopping")
    finally:
        await runner.cleanup()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("agent stopped")
