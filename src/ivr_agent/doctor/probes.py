"""Gathering what ``ivr-agent doctor`` judges: from the PBX over the agent's own AMI and ARI
credentials, from its prompts directory and from its database.

Theory of operation. The agent's AMI user may write only ``call`` and ``user``, which rules
out ``Command`` (``manager show user``), ``ShowDialPlan`` and ``Filter``. What such a user
can still learn:

* ``ListCommands`` lists the actions the user's *write* classes allow, each with its
  classes (:class:`~.checks.WriteClasses` infers the classes from them);
* ``Getvar`` (class ``call``) evaluates a dialplan function on the PBX: ``AST_CONFIG()``
  reads manager.conf (``read =``, ``timestampevents``) and the hook contexts' lines in
  extensions.conf as they are on disk; ``DIALPLAN_EXISTS()`` tells whether each hook
  context is loaded; ``IFMODULE()`` whether ``func_talkdetect.so`` is; ``ASTDATADIR`` where
  ``sound:`` files live;
* a ``UserEvent`` the doctor sends comes back to it if the user reads ``user`` and the
  event filter lets ``UserEvent`` through; its ``Timestamp`` tells ``timestampevents`` and
  the PBX's clock (:class:`~ivr_agent.pbx.clock.PbxClock`, as the agent measures it).

Prompts: with http delivery the PBX must reach ``PROMPTS_URL``; the doctor has it fetch
``PROMPTS_URL/healthz`` through ``CURL()`` — from the running agent, or, when nothing listens
on ``IVR_AGENT_HTTP_LISTEN``, from a stand-in the doctor serves there for that moment (a
filtered address leaves one manager thread of the PBX in libcurl's connect timeout; the doctor
gives up after 5 s). With directory delivery the PBX must see ``PROMPTS_DIR`` as
``ASTDATADIR/sounds/PREFIX``: the doctor writes a probe file there and has the PBX read it
back through ``AST_CONFIG()``.

The doctor changes nothing on the PBX that a running agent would notice: its
``UserEvent`` is named ``IvrAgentDoctor`` (the tracker ignores UserEvents it does not
know), the empty bridge it creates and destroys through ARI (its ``BridgeCreate`` must not
get through the event filter) carries no channel, and the probe file it writes into the
prompts directory (read back by the PBX through ``AST_CONFIG()``) is removed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from ivr_agent.core.events import SUBSCRIBED_EVENTS
from ivr_agent.doctor import checks
from ivr_agent.doctor.checks import Check, Reach, Status, Visibility
from ivr_agent.notify import DirectoryError, check_reachable, load_directory
from ivr_agent.pbx.ami import AmiConnection, AmiError, EventSink, RawEvent, flatten
from ivr_agent.pbx.ari import AriClient, AriError
from ivr_agent.pbx.clock import PbxClock
from ivr_agent.pbx.session import ari_target
from ivr_agent.platform.health import Component, State
from ivr_agent.settings import Endpoint, HostPort, Settings

#: The doctor's own UserEvent: no application of the agent's is called so.
DOCTOR_EVENT = "IvrAgentDoctor"
#: Written into the prompts directory and read back by the PBX, then removed.
PROBE_FILE = ".ivr-agent-doctor.conf"
#: Seconds to wait for: the AMI login, the doctor's UserEvent to come back, the events of
#: the bridge it made (on one host they take milliseconds), the database to answer.
LOGIN_TIMEOUT = 5.0
ECHO_TIMEOUT = 2.0
CANARY_WAIT = 0.5
DATABASE_TIMEOUT = 15.0
#: Most lines read of one hook context (the shipped ones have 3 to 14).
MAX_HOOK_LINES = 60


@dataclass(frozen=True)
class HooksFile:
    """The hook contexts the PBX should have: the file's text and where it came from."""

    text: str
    source: str


async def diagnose(settings: Settings, hooks: HooksFile) -> list[Check]:
    """Every check, in the report's order. Never raises for what it finds: a failure of
    the PBX, the database or the filesystem becomes a FAIL line."""
    database = asyncio.create_task(_database(settings))
    client = (
        AriClient(ari_target(settings), timeout=settings.ari_timeout_seconds)
        if settings.ari_url is not None
        else None
    )
    try:
        ari = await _ari_facts(client, settings.ari_app) if client is not None else None
        pbx = await _pbx_checks(settings, hooks, client, ari)
    finally:
        if client is not None:
            await client.close()
    return [*pbx, await database, _recordings(ari), *await notify_checks(settings)]


# --- ARI ------------------------------------------------------------------------------------


@dataclass
class _AriFacts:
    error: str | None = None
    status: int | None = None
    version: str | None = None
    registered: bool = False
    recordings: int | None = None
    recordings_error: str | None = None
    write_error: str | None = None
    write_status: int | None = None
    canary_sent: bool = False


async def _ari_facts(client: AriClient, app: str) -> _AriFacts:
    try:
        info = await client.info()
    except AriError as exc:
        return _AriFacts(error=str(exc), status=exc.status)
    system = info.get("system")
    facts = _AriFacts(version=system.get("version") if isinstance(system, dict) else None)
    with contextlib.suppress(AriError):
        facts.registered = any(a.get("name") == app for a in await client.applications())
    try:
        facts.recordings = len(await client.stored_recordings())
    except AriError as exc:
        facts.recordings_error = str(exc)
    return facts


async def _canary(client: AriClient, facts: _AriFacts) -> None:
    """An empty bridge, created and destroyed: proves the ARI user may write, and its
    ``BridgeCreate`` must not get through the AMI event filter."""
    bridge = f"ivr-agent-doctor-{secrets.token_hex(6)}"
    try:
        await client.create_bridge(bridge)
    except AriError as exc:
        facts.write_error, facts.write_status = str(exc), exc.status
        return
    facts.canary_sent = True
    with contextlib.suppress(AriError):
        await client.destroy_bridge(bridge)


def _ari_checks(
    settings: Settings, ari: _AriFacts | None, hook_apps: frozenset[str] | None
) -> list[Check]:
    if ari is None or settings.ari_url is None:
        return [
            Check(
                "ari login",
                Status.FAIL,
                "IVR_AGENT_ARI_URL is not set: no prompts, greetings or callbacks",
                "set IVR_AGENT_ARI_URL=http://USER:SECRET@HOST:8088 (a user of ari.conf)",
            ),
            checks.skipped("ari app", "no ARI"),
        ]
    endpoint = settings.ari_url
    login = checks.ari_login(
        endpoint.username,
        f"{endpoint.host}:{endpoint.port}",
        error=ari.error,
        status=ari.status,
        version=ari.version,
        write_error=ari.write_error,
        write_status=ari.write_status,
    )
    if ari.error is not None:
        return [login, checks.skipped("ari app", "needs ARI login")]
    return [login, checks.ari_app(settings.ari_app, ari.registered, hook_apps)]


def _recordings(ari: _AriFacts | None) -> Check:
    if ari is None or ari.error is not None:
        return checks.skipped("recordings", "needs ARI login")
    return checks.recordings(ari.recordings, ari.recordings_error)


# --- AMI ------------------------------------------------------------------------------------


@dataclass
class _Component(Component):
    """A component that remembers why it went down (the reconnect overwrites the reason)."""

    failures: list[str] = field(default_factory=list)

    def set(self, state: State, detail: str = "") -> None:
        super().set(state, detail)
        if state is State.DOWN:
            self.failures.append(detail.split("; retrying")[0])


class _Listening(AmiConnection):
    """The agent's AMI connection (same subscription), counting every event by name."""

    def __init__(self, endpoint: Endpoint, sink: EventSink, component: Component) -> None:
        super().__init__(
            endpoint,
            sink,
            events=SUBSCRIBED_EVENTS,
            component=component,
            action_timeout=5.0,
            ping_interval=3600.0,
        )
        self.arrived: Counter[str] = Counter()

    def on_event(self, raw: RawEvent) -> None:
        self.arrived[raw.get("Event", "?")] += 1
        super().on_event(raw)


class _Ami:
    """A logged-in AMI session of the agent's user, as the doctor uses it."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.clock = PbxClock()
        self.events: list[RawEvent] = []
        self._echo = asyncio.Event()
        self._nonce = secrets.token_hex(8)
        self.component = _Component("ami")
        self.connection = _Listening(endpoint, self._sink, self.component)

    def _sink(self, raw: RawEvent, received_at: float) -> None:
        self.events.append(raw)
        self.clock.observe_ami(raw, received_at)
        if raw.get("UserEvent") == DOCTOR_EVENT and raw.get("Nonce") == self._nonce:
            self._echo.set()

    async def login(self) -> str | None:
        """None once logged in; else why not (refused, unreachable, no answer)."""
        await self.connection.start()
        deadline = time.monotonic() + LOGIN_TIMEOUT
        while time.monotonic() < deadline and not self.component.failures:
            with contextlib.suppress(TimeoutError):
                await self.connection.wait_logged_in(0.05)
                return None
        if self.component.failures:
            return self.component.failures[0]
        return f"no login within {LOGIN_TIMEOUT:g} s"

    async def getvar(self, expression: str) -> str | None:
        """The PBX's value of a variable or function (None if the action failed)."""
        try:
            reply = await self.connection.action({"Action": "Getvar", "Variable": expression})
        except AmiError:
            return None
        return str(reply.get("Value") or "")

    async def commands(self) -> dict[str, str]:
        """``ListCommands``: action name → its synopsis and classes."""
        try:
            reply = await self.connection.action({"Action": "ListCommands"})
        except AmiError:
            return {}
        return flatten(reply)

    async def send_echo(self) -> None:
        """Send the doctor's UserEvent (it comes back if read and filter allow)."""
        with contextlib.suppress(AmiError):
            await self.connection.action(
                {"Action": "UserEvent", "UserEvent": DOCTOR_EVENT, "Nonce": self._nonce}
            )

    async def echo(self, timeout: float) -> RawEvent | None:
        """The doctor's UserEvent as it arrived, or None within ``timeout``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._echo.wait(), timeout)
        for raw in self.events:
            if raw.get("UserEvent") == DOCTOR_EVENT and raw.get("Nonce") == self._nonce:
                return raw
        return None

    def unconsumed(self) -> dict[str, int]:
        """Events that arrived although the agent does not consume them, by name."""
        return {
            name: count
            for name, count in self.connection.arrived.items()
            if name not in SUBSCRIBED_EVENTS
        }


@contextlib.asynccontextmanager
async def _ami_session(endpoint: Endpoint) -> AsyncIterator[_Ami]:
    ami = _Ami(endpoint)
    try:
        yield ami
    finally:
        await ami.connection.close()


async def _pbx_checks(
    settings: Settings, hooks: HooksFile, client: AriClient | None, ari: _AriFacts | None
) -> list[Check]:
    async def canary() -> None:
        if client is not None and ari is not None and ari.error is None:
            await _canary(client, ari)

    endpoint = settings.ami_url
    if endpoint is None:
        await canary()
        login = Check(
            "ami login",
            Status.FAIL,
            "IVR_AGENT_AMI_URL is not set: the agent hears no call",
            "set IVR_AGENT_AMI_URL=ami://USER:SECRET@HOST:5038 (a user of manager.conf)",
        )
        return _without_ami(settings, login, ari, "no AMI")
    user, address = endpoint.username, f"{endpoint.host}:{endpoint.port}"
    async with _ami_session(endpoint) as ami:
        error = await ami.login()
        if error is not None:
            await canary()
            login = checks.ami_login(user, address, error)
            return _without_ami(settings, login, ari, "needs AMI login")
        await ami.send_echo()
        await canary()
        canary_sent_at = time.monotonic()
        contexts = checks.hook_contexts(hooks.text)
        listing = await ami.commands()
        # Getvar needs write class call: without it the PBX answers none of the questions
        # below, which is the write classes' failure, not theirs.
        refused = await ami.getvar("ASTDATADIR") is None
        read = await ami.getvar(f"AST_CONFIG(manager.conf,{user},read)")
        write = await ami.getvar(f"AST_CONFIG(manager.conf,{user},write)")
        stamps = await ami.getvar("AST_CONFIG(manager.conf,general,timestampevents)")
        exists = {ctx: await ami.getvar(f"DIALPLAN_EXISTS({ctx})") or "" for ctx in contexts}
        hook_apps = await _hook_apps(ami, contexts)
        talk = await ami.getvar("IFMODULE(func_talkdetect.so)")
        route = (
            f"{settings.return_call_context},{settings.return_call_extension},"
            f"{settings.return_call_priority}"
        )
        route_exists = await ami.getvar(f"DIALPLAN_EXISTS({route})")
        prompts_check = await _prompts_on_pbx(ami, settings)
        echo = await ami.echo(ECHO_TIMEOUT)
        await asyncio.sleep(max(0.0, canary_sent_at + CANARY_WAIT - time.monotonic()))
        skew_check = await _clock(ami)
        filter_check = checks.ami_event_filter(
            user,
            ami.unconsumed(),
            canary_sent=ari is not None and ari.canary_sent,
            user_events_arrive=echo is not None,
            read_configured=read or None,
        )
        found = [
            checks.ami_login(user, address, None),
            checks.ami_write_classes(user, listing, write or None),
            checks.ami_read_classes(user, read, echo is not None),
            checks.ami_timestamps(echo, stamps),
            filter_check,
            *_ari_checks(settings, ari, hook_apps),
            checks.dialplan_hooks(exists, hooks.source),
            checks.talk_detect(talk),
            checks.return_call_route(route_exists, route),
            _prompt_files(settings),
            prompts_check,
            skew_check,
        ]
        if refused:
            asked = {
                "ami read classes",
                "dialplan hooks",
                "talk detection",
                "return call route",
                "prompts on the pbx",
            }
            reason = "the PBX refused Getvar (it needs write class call)"
            found = [checks.skipped(c.name, reason) if c.name in asked else c for c in found]
        return found


def _without_ami(
    settings: Settings, login: Check, ari: _AriFacts | None, reason: str
) -> list[Check]:
    """The PBX checks when AMI is not there: the login's failure, then what ARI and the
    filesystem tell; the rest skipped for ``reason``."""
    ami_names = ("ami write classes", "ami read classes", "ami timestamps", "ami event filter")
    pbx_names = ("dialplan hooks", "talk detection", "return call route")
    return [
        login,
        *(checks.skipped(name, reason) for name in ami_names),
        *_ari_checks(settings, ari, None),
        *(checks.skipped(name, reason) for name in pbx_names),
        _prompt_files(settings),
        checks.skipped("prompts on the pbx", reason),
        checks.skipped("clock skew", reason),
    ]


async def _hook_apps(ami: _Ami, contexts: list[str]) -> frozenset[str] | None:
    """The Stasis apps the PBX's hook contexts name in extensions.conf (None: unreadable)."""
    lines: list[str] = []
    for context in contexts:
        for key in ("exten", "same"):
            for index in range(MAX_HOOK_LINES):
                line = await ami.getvar(f"AST_CONFIG(extensions.conf,{context},{key},{index})")
                if not line:
                    break
                lines.append(line)
    return checks.stasis_apps(lines) if lines else None


async def _clock(ami: _Ami) -> Check:
    skew = ami.clock.skew()
    if skew is not None:
        return checks.clock_skew(skew, "AMI event Timestamp")
    # No event carried a Timestamp: ask the PBX for its time, halfway through the request.
    sent = time.time()
    value = await ami.getvar("STRFTIME(,,%s.%6q)")
    back = time.time()
    try:
        pbx_now = float(value or "")
    except ValueError:
        return checks.clock_skew(None, "the PBX gave no time (no Timestamp, no STRFTIME)")
    return checks.clock_skew(pbx_now - (sent + back) / 2, f"AMI Getvar, ±{(back - sent) / 2:.3f} s")


# --- prompts --------------------------------------------------------------------------------


def _prompt_files(settings: Settings) -> Check:
    from ivr_agent.prompts import PromptCatalogue

    try:
        jobs = PromptCatalogue.from_settings(settings).build_jobs()
    except (ValueError, OSError) as exc:
        return Check(
            "prompt files",
            Status.FAIL,
            f"the prompt catalogue does not load: {exc}",
            "fix IVR_AGENT_PROMPTS_CATALOGUE (or unset it for the built-in one)",
        )
    directory = settings.prompts_dir
    missing = [job.relative for job in jobs if not (directory / job.relative).is_file()]
    return checks.prompt_files(str(directory), len(jobs), missing)


async def _prompts_on_pbx(ami: _Ami, settings: Settings) -> Check:
    base = settings.prompts_base_url
    if settings.prompts_delivery == "http" and base is not None:
        return await _prompts_over_http(ami, settings.http_listen, base)
    return await _prompts_in_directory(ami, settings)


async def _prompts_over_http(ami: _Ami, listen: HostPort, base: str) -> Check:
    """Has the PBX fetch ``base/healthz`` through ``CURL()``: from the running agent, or,
    when none listens on ``listen``, from a stand-in the doctor serves there meanwhile."""
    media_cache = await ami.getvar("IFMODULE(res_http_media_cache.so)")
    if await ami.getvar("IFMODULE(func_curl.so)") != "1":
        reach, detail = Reach.UNKNOWN, "func_curl.so is not loaded on the PBX"
        return checks.prompts_over_http(base, reach, media_cache, detail)
    token = secrets.token_hex(8)
    url = f"{base.rstrip('/')}/healthz"
    try:
        async with _stand_in(listen, token):
            answer = await ami.getvar(f"CURL({url})") or ""
        reach = Reach.STAND_IN if token in answer else Reach.NONE
        detail = ""
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            reach, detail = Reach.UNKNOWN, f"cannot listen on {listen}: {exc.strerror}"
            return checks.prompts_over_http(base, reach, media_cache, detail)
        # Something (the agent, presumably) listens there: it must be what the PBX reaches.
        answer = await ami.getvar(f"CURL({url})") or ""
        reach = Reach.AGENT if '"status"' in answer else Reach.NONE
        detail = f"something listens on {listen}, but not at that URL for the PBX"
    return checks.prompts_over_http(base, reach, media_cache, detail)


@contextlib.asynccontextmanager
async def _stand_in(listen: HostPort, token: str) -> AsyncIterator[None]:
    """A ``/healthz`` answering ``token`` on the agent's address, for the time of the block;
    raises OSError when the address is taken or not this host's."""
    from aiohttp import web

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "doctor": token})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, listen.host, listen.port).start()
        yield
    finally:
        await runner.cleanup()


async def _prompts_in_directory(ami: _Ami, settings: Settings) -> Check:
    directory = settings.prompts_dir.absolute()
    prefix = settings.prompts_media_prefix.strip("/")
    datadir = await ami.getvar("ASTDATADIR")
    if not datadir:
        return checks.skipped("prompts on the pbx", "the PBX did not tell its ASTDATADIR")
    pbx_dir = f"{datadir.rstrip('/')}/sounds/{prefix}"
    token = secrets.token_hex(8)
    try:
        _write_probe(directory / PROBE_FILE, token)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return checks.prompts_on_pbx(str(directory), pbx_dir, prefix, Visibility.UNWRITABLE, reason)
    try:
        value = await ami.getvar(f"AST_CONFIG({pbx_dir}/{PROBE_FILE},doctor,token)")
    finally:
        with contextlib.suppress(OSError):
            (directory / PROBE_FILE).unlink()
    if value == token:
        seen = Visibility.SEEN
    elif await ami.getvar("IFMODULE(func_config.so)") == "1":
        seen = Visibility.UNSEEN
    else:
        seen = Visibility.UNKNOWN
    return checks.prompts_on_pbx(str(directory), pbx_dir, prefix, seen, "func_config not loaded")


def _write_probe(path: Path, token: str) -> None:
    # Renamed into place: the PBX never reads a half-written file.
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    partial.write_text(
        f"; written by ivr-agent doctor, removed at once\n[doctor]\ntoken = {token}\n"
    )
    partial.chmod(0o644)
    partial.replace(path)


# --- database -------------------------------------------------------------------------------


async def _database(settings: Settings) -> Check:
    from alembic.script import ScriptDirectory
    from alembic.script.revision import RevisionError

    from ivr_agent.db.database import open_database
    from ivr_agent.db.errors import StoreError
    from ivr_agent.db.migrate import alembic_config, current_revision

    where = (
        f"embedded PostgreSQL in {settings.data_dir / 'postgres'}"
        if settings.database_url is None
        else "PostgreSQL"
    )
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT), open_database(settings) as db:
            if settings.database_url is not None:
                where = db.display_url
            current = await current_revision(db)
    except StoreError as exc:
        return checks.database(where, error=str(exc))
    except TimeoutError:
        return checks.database(where, error=f"no answer within {DATABASE_TIMEOUT:g} s")
    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    pending: int | None
    try:
        pending = len(list(script.iterate_revisions(head, current or "base")))
    except RevisionError:
        pending = None
    return checks.database(
        where,
        error=None,
        current=current,
        head=head,
        pending=pending,
        auto_migrate=settings.auto_migrate,
    )


# --- notifications --------------------------------------------------------------------------


async def notify_checks(settings: Settings) -> list[Check]:
    """The departments file and the SMTP server, each only when configured (a doctor run
    without them stays all OK): the file as ``ivr-agent run`` loads it, and a login to the
    server as the agent sends (connect, EHLO, STARTTLS or TLS, AUTH; no message)."""
    found = []
    path = settings.departments_file
    if path is not None:
        try:
            directory = load_directory(path)
            check_reachable(directory, settings)
        except DirectoryError as exc:
            found.append(checks.departments_file(str(path), None, str(exc)))
        else:
            found.append(checks.departments_file(str(path), len(directory.departments), None))
    if settings.smtp_host is not None:
        found.append(await _smtp(settings))
    return found


async def _smtp(settings: Settings) -> Check:
    import aiosmtplib

    host, port = settings.smtp_host or "", settings.smtp_port_or_default
    client = aiosmtplib.SMTP(
        hostname=host,
        port=port,
        use_tls=settings.smtp_tls == "tls",
        start_tls=settings.smtp_tls == "starttls",
        cert_bundle=str(settings.smtp_ca_file) if settings.smtp_ca_file else None,
        timeout=settings.smtp_timeout_seconds,
    )
    error = None
    try:
        async with client:
            if settings.smtp_username is not None and settings.smtp_password is not None:
                await client.login(
                    settings.smtp_username, settings.smtp_password.get_secret_value()
                )
    except (aiosmtplib.SMTPException, OSError) as exc:
        error = str(exc) or type(exc).__name__
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return checks.smtp_server(address, settings.smtp_tls, settings.smtp_username, error)
