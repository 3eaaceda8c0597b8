"""The doctor's run: every check in the report's order, the PBX's over one AMI session."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from ivr_agent.doctor import checks
from ivr_agent.doctor.checks import Check, Status
from ivr_agent.doctor.probes.ami_session import AmiSession, ami_session
from ivr_agent.doctor.probes.ari_facts import (
    AriFacts,
    ari_checks,
    ari_facts,
    bridge_canary,
    recordings_check,
)
from ivr_agent.doctor.probes.prompts import prompt_files_check, prompts_on_pbx_check
from ivr_agent.doctor.probes.services import database_check, notify_checks
from ivr_agent.pbx.ari import AriClient
from ivr_agent.pbx.session import ari_target
from ivr_agent.settings import Settings

#: Seconds to wait for the doctor's UserEvent to come back, and for the events of the bridge
#: it made (on one host they take milliseconds).
ECHO_TIMEOUT = 2.0
CANARY_WAIT = 0.5
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
    database = asyncio.create_task(database_check(settings))
    client = (
        AriClient(ari_target(settings), timeout=settings.ari_timeout_seconds)
        if settings.ari_url is not None
        else None
    )
    try:
        ari = await ari_facts(client, settings.ari_app) if client is not None else None
        pbx = await pbx_checks(settings, hooks, client, ari)
    finally:
        if client is not None:
            await client.close()
    return [*pbx, await database, recordings_check(ari), *await notify_checks(settings)]


async def pbx_checks(
    settings: Settings, hooks: HooksFile, client: AriClient | None, ari: AriFacts | None
) -> list[Check]:
    """The PBX's lines, in the report's order, over one AMI session (and ARI's write test)."""

    async def canary() -> None:
        if client is not None and ari is not None and ari.error is None:
            await bridge_canary(client, ari)

    endpoint = settings.ami_url
    if endpoint is None:
        await canary()
        login = Check(
            "ami login",
            Status.FAIL,
            "IVR_AGENT_AMI_URL is not set: the agent hears no call",
            "set IVR_AGENT_AMI_URL=ami://USER:SECRET@HOST:5038 (a user of manager.conf)",
        )
        return without_ami(settings, login, ari, "no AMI")
    user, address = endpoint.username, f"{endpoint.host}:{endpoint.port}"
    async with ami_session(endpoint) as ami:
        error = await ami.login()
        if error is not None:
            await canary()
            login = checks.ami_login(user, address, error)
            return without_ami(settings, login, ari, "needs AMI login")
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
        hook_lines = await hook_lines_on_pbx(ami, contexts)
        hook_apps = checks.stasis_apps(hook_lines) if hook_lines else None
        talk = await ami.getvar("IFMODULE(func_talkdetect.so)")
        route = (
            f"{settings.return_call_context},{settings.return_call_extension},"
            f"{settings.return_call_priority}"
        )
        route_exists = await ami.getvar(f"DIALPLAN_EXISTS({route})")
        prompts_check = await prompts_on_pbx_check(ami, settings)
        echo = await ami.echo(ECHO_TIMEOUT)
        await asyncio.sleep(max(0.0, canary_sent_at + CANARY_WAIT - time.monotonic()))
        skew_check = await clock_check(ami)
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
            *ari_checks(settings, ari, hook_apps),
            checks.dialplan_hooks(exists, hooks.source),
            checks.inbound_recorder(settings.inbound_recorder, hook_lines or None),
            checks.talk_detect(talk),
            checks.return_call_route(route_exists, route),
            prompt_files_check(settings),
            prompts_check,
            skew_check,
        ]
        if refused:
            asked = {
                "ami read classes",
                "dialplan hooks",
                "inbound recorder",
                "talk detection",
                "return call route",
                "prompts on the pbx",
            }
            reason = "the PBX refused Getvar (it needs write class call)"
            found = [checks.skipped(c.name, reason) if c.name in asked else c for c in found]
        return found


def without_ami(settings: Settings, login: Check, ari: AriFacts | None, reason: str) -> list[Check]:
    """The PBX checks when AMI is not there: the login's failure, then what ARI and the
    filesystem tell; the rest skipped for ``reason``."""
    ami_names = ("ami write classes", "ami read classes", "ami timestamps", "ami event filter")
    pbx_names = ("dialplan hooks", "inbound recorder", "talk detection", "return call route")
    return [
        login,
        *(checks.skipped(name, reason) for name in ami_names),
        *ari_checks(settings, ari, None),
        *(checks.skipped(name, reason) for name in pbx_names),
        prompt_files_check(settings),
        checks.skipped("prompts on the pbx", reason),
        checks.skipped("clock skew", reason),
    ]


async def hook_lines_on_pbx(ami: AmiSession, contexts: list[str]) -> list[str]:
    """The lines of the PBX's hook contexts in extensions.conf (empty: unreadable)."""
    lines: list[str] = []
    for context in contexts:
        for key in ("exten", "same"):
            for index in range(MAX_HOOK_LINES):
                line = await ami.getvar(f"AST_CONFIG(extensions.conf,{context},{key},{index})")
                if not line:
                    break
                lines.append(line)
    return lines


async def clock_check(ami: AmiSession) -> Check:
    """The ``clock skew`` line: from the events' Timestamps, else from the PBX's STRFTIME."""
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
