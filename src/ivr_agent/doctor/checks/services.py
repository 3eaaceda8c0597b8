"""Verdicts on what the agent stands on besides the PBX: clocks, the database, the
recordings, the departments file and the mail server."""

from __future__ import annotations

from ivr_agent.doctor.checks.verdict import Check, Status, skipped

#: PBX clock minus this host's: the agent times prompts on the PBX's clock (pbx/clock.py),
#: but the callback dialler and the dashboard read this host's clock against call times the
#: PBX stamped, so a skew moves callbacks and live ages by as much.
SKEW_OK_SECONDS = 1.0
SKEW_FAIL_SECONDS = 60.0


def clock_skew(skew: float | None, how: str) -> Check:
    """PBX clock minus this host's clock (seconds; None: not measured), measured ``how``."""
    name = "clock skew"
    fix = "synchronise both clocks (NTP: chrony or systemd-timesyncd on each host)"
    if skew is None:
        return skipped(name, how)
    found = f"PBX {skew:+.3f} s from this host ({how})"
    if abs(skew) < SKEW_OK_SECONDS:
        return Check(name, Status.OK, found)
    if abs(skew) < SKEW_FAIL_SECONDS:
        return Check(name, Status.WARN, found + ": callbacks and live ages shift by as much", fix)
    return Check(name, Status.FAIL, found + ": callbacks and live ages shift by as much", fix)


def database(
    where: str,
    *,
    error: str | None,
    current: str | None = None,
    head: str | None = None,
    pending: int | None = None,
    auto_migrate: bool = True,
) -> Check:
    """The database answered (``error`` when not) and its schema revision (``current``)
    against the newest (``head``); ``pending``: migrations between them, None when
    ``current`` is no revision this agent knows."""
    name = "database"
    if error is not None:
        return Check(
            name,
            Status.FAIL,
            f"{where}: {error}",
            "check IVR_AGENT_DATABASE_URL and that PostgreSQL runs and lets this host in",
        )
    if current == head:
        return Check(name, Status.OK, f"{where} at the newest revision {head}")
    if pending is None:
        return Check(
            name,
            Status.FAIL,
            f"{where} at revision {current}, which this ivr-agent does not know (a newer "
            "one migrated it)",
            "upgrade ivr-agent to the version that migrated it",
        )
    at = f"revision {current}" if current else "no schema yet"
    found = f"{where}: {at}, {pending} migration(s) behind {head}"
    if auto_migrate:
        return Check(
            name,
            Status.WARN,
            found + " (`ivr-agent run` migrates on start)",
            "ivr-agent migrate",
        )
    return Check(
        name, Status.FAIL, found + " and IVR_AGENT_AUTO_MIGRATE=false", "ivr-agent migrate"
    )


def recordings(count: int | None, error: str | None) -> Check:
    """ARI's stored recordings listing (``count`` entries; ``error`` when it failed)."""
    name = "recordings"
    if error is not None:
        return Check(
            name,
            Status.FAIL,
            f"GET /recordings/stored failed: {error}",
            "check that res_ari_recordings.so is loaded and the PBX's recording spool "
            "(astspooldir/recording) exists and is readable by Asterisk",
        )
    return Check(name, Status.OK, f"ARI lists {count} stored recording(s)")


# --- notifications --------------------------------------------------------------------------


def departments_file(source: str, departments: int | None, error: str | None) -> Check:
    """The departments file (``IVR_AGENT_DEPARTMENTS_FILE``) as the agent would load it:
    ``departments`` read from it, or the ``error`` naming each fault and its line."""
    name = "departments file"
    if error is not None:
        return Check(
            name,
            Status.FAIL,
            error,
            "fix the named line(s) of the file (README: Notifications); `ivr-agent run` "
            "refuses to start with it",
        )
    return Check(name, Status.OK, f"{departments} department(s) in {source}")


def smtp_server(address: str, tls: str, login: str | None, error: str | None) -> Check:
    """Whether the SMTP server answered at ``address`` with the ``tls`` mode and accepted
    the ``login`` (None: none); ``error``: what failed."""
    name = "smtp server"
    how = f"{address} ({tls}" + (f", login {login})" if login else ", no login)")
    if error is None:
        return Check(name, Status.OK, f"{how} answers")
    if "535" in error or "authentication" in error.lower():
        fix = "check IVR_AGENT_SMTP_USERNAME and IVR_AGENT_SMTP_PASSWORD"
    elif "STARTTLS" in error or "certificate" in error.lower() or "SSL" in error:
        fix = (
            "check IVR_AGENT_SMTP_TLS against the server: starttls (port 587), tls (port "
            "465), none (a relay without TLS, port 25); its certificate must be trusted here"
        )
    else:
        fix = (
            "check IVR_AGENT_SMTP_HOST and IVR_AGENT_SMTP_PORT and that this host may reach "
            "the server (firewall)"
        )
    return Check(name, Status.FAIL, f"{how}: {error}", fix)
