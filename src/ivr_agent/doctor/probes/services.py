"""What the agent stands on besides the PBX: its database (reachable, migrated) and, when
configured, the departments file and the mail server."""

from __future__ import annotations

import asyncio

from ivr_agent.doctor import checks
from ivr_agent.doctor.checks import Check
from ivr_agent.notify import DirectoryError, check_reachable, load_directory
from ivr_agent.settings import Settings

#: Seconds to wait for the database to answer.
DATABASE_TIMEOUT = 15.0


async def database_check(settings: Settings) -> Check:
    """The ``database`` line: reachable within the timeout, and how far from the head migration."""
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
        found.append(await smtp_check(settings))
    return found


async def smtp_check(settings: Settings) -> Check:
    """The ``smtp server`` line: connect, EHLO, STARTTLS or TLS and AUTH as the agent would."""
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
