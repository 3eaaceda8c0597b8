"""Can the PBX play the prompts: the files on disk, fetched over HTTP (through ``CURL()``,
from the agent or a stand-in), or seen in its sounds directory (a probe file)."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

from ivr_agent.doctor import checks
from ivr_agent.doctor.checks import Check, Reach, Status, Visibility
from ivr_agent.doctor.probes.ami_session import AmiSession
from ivr_agent.settings import HostPort, Settings

#: Written into the prompts directory and read back by the PBX, then removed.
PROBE_FILE = ".ivr-agent-doctor.conf"


def prompt_files_check(settings: Settings) -> Check:
    """The ``prompt files`` line: every prompt of the catalogue is a file in PROMPTS_DIR."""
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


async def prompts_on_pbx_check(ami: AmiSession, settings: Settings) -> Check:
    """The ``prompts on the pbx`` line, by the delivery in use (HTTP or a shared directory)."""
    base = settings.prompts_base_url
    if settings.prompts_delivery == "http" and base is not None:
        return await prompts_over_http_check(ami, settings.http_listen, base)
    return await prompts_in_directory_check(ami, settings)


async def prompts_over_http_check(ami: AmiSession, listen: HostPort, base: str) -> Check:
    """Has the PBX fetch ``base/healthz`` through ``CURL()``: from the running agent, or,
    when none listens on ``listen``, from a stand-in the doctor serves there meanwhile."""
    media_cache = await ami.getvar("IFMODULE(res_http_media_cache.so)")
    if await ami.getvar("IFMODULE(func_curl.so)") != "1":
        reach, detail = Reach.UNKNOWN, "func_curl.so is not loaded on the PBX"
        return checks.prompts_over_http(base, reach, media_cache, detail)
    token = secrets.token_hex(8)
    url = f"{base.rstrip('/')}/healthz"
    try:
        async with stand_in(listen, token):
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
async def stand_in(listen: HostPort, token: str) -> AsyncIterator[None]:
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


async def prompts_in_directory_check(ami: AmiSession, settings: Settings) -> Check:
    """Whether the PBX sees PROMPTS_DIR as its sounds prefix: a probe file read back."""
    directory = settings.prompts_dir.absolute()
    prefix = settings.prompts_media_prefix.strip("/")
    datadir = await ami.getvar("ASTDATADIR")
    if not datadir:
        return checks.skipped("prompts on the pbx", "the PBX did not tell its ASTDATADIR")
    pbx_dir = f"{datadir.rstrip('/')}/sounds/{prefix}"
    token = secrets.token_hex(8)
    try:
        write_probe(directory / PROBE_FILE, token)
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


def write_probe(path: Path, token: str) -> None:
    # Renamed into place: the PBX never reads a half-written file.
    """Write the probe file holding ``token`` (world-readable: the PBX's user reads it)."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    partial.write_text(
        f"; written by ivr-agent doctor, removed at once\n[doctor]\ntoken = {token}\n"
    )
    partial.chmod(0o644)
    partial.replace(path)
