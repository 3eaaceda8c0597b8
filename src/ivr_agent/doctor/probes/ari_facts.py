"""What the doctor learns over ARI: login, version, the Stasis app, stored recordings, and
whether the user may write (an empty bridge created and destroyed)."""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass

from ivr_agent.doctor import checks
from ivr_agent.doctor.checks import Check, Status
from ivr_agent.pbx.ari import AriClient, AriError
from ivr_agent.settings import Settings

#: Bare requests timed to find the PBX's cost per ARI request.
REQUEST_SAMPLES = 10


@dataclass
class AriFacts:
    """What ARI told: the login's error or the version, the app, the recordings, the write test."""

    error: str | None = None
    status: int | None = None
    version: str | None = None
    registered: bool = False
    recordings: int | None = None
    recordings_error: str | None = None
    write_error: str | None = None
    write_status: int | None = None
    canary_sent: bool = False
    #: The fastest of a few bare requests (``GET /asterisk/ping``), in milliseconds.
    request_ms: float | None = None


async def ari_facts(client: AriClient, app: str) -> AriFacts:
    """Log in over ARI and ask for the version, the registered apps and the stored recordings."""
    try:
        info = await client.info()
    except AriError as exc:
        return AriFacts(error=str(exc), status=exc.status)
    system = info.get("system")
    facts = AriFacts(version=system.get("version") if isinstance(system, dict) else None)
    with contextlib.suppress(AriError):
        # The fastest of ten: the PBX's cost per request (the password check of each one),
        # not a moment's load.
        facts.request_ms = 1000 * min([await client.ping() for _ in range(REQUEST_SAMPLES)])
    with contextlib.suppress(AriError):
        facts.registered = any(a.get("name") == app for a in await client.applications())
    try:
        facts.recordings = len(await client.stored_recordings())
    except AriError as exc:
        facts.recordings_error = str(exc)
    return facts


async def bridge_canary(client: AriClient, facts: AriFacts) -> None:
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


def ari_checks(
    settings: Settings, ari: AriFacts | None, hook_apps: frozenset[str] | None
) -> list[Check]:
    """The ``ari login`` and ``ari app`` lines (FAIL with the fix when ARI is not configured)."""
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
        request_ms=ari.request_ms,
    )
    if ari.error is not None:
        return [login, checks.skipped("ari app", "needs ARI login")]
    return [login, checks.ari_app(settings.ari_app, ari.registered, hook_apps)]


def recordings_check(ari: AriFacts | None) -> Check:
    """The ``recordings`` line: the PBX's stored recordings, once ARI logged in."""
    if ari is None or ari.error is not None:
        return checks.skipped("recordings", "needs ARI login")
    return checks.recordings(ari.recordings, ari.recordings_error)
