"""Retention of recordings: files older than the retention period are deleted.

Recordings of callbacks are kept (S5: 回访通话必须保有录音) unless their own retention is set
(``IVR_AGENT_RECORDING_RETENTION_CALLBACK_DAYS``): the inbound retention never reaches them.

:func:`purge_recordings` finds recordings created before ``now - retention`` that still have
a file (status ``ok`` or ``corrupt``), deletes each file under the data dir, and marks its
row ``purged`` with ``purged_at`` — the row, the call and its timeline stay, so metrics and
the QA list keep the call's facts. Each purge writes an audit row in the same transaction
as the row change. A file already gone counts as purged; a path that does not resolve under
the recordings directory is never touched (the row is left for a person to look at).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import and_, or_, select

from ivr_agent.db.database import Database
from ivr_agent.db.errors import StoreError
from ivr_agent.db.models import RecordingRow
from ivr_agent.platform.logging import get_logger
from ivr_agent.qa import PURGE, audit_row
from ivr_agent.recordings.files import resolve_stored

log = get_logger(__name__)

#: The actor of purges in the audit log.
RETENTION_ACTOR = "system:retention"
#: How many recordings one transaction purges.
BATCH = 200


@dataclass
class PurgeReport:
    """What one purge run did."""

    purged: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


async def purge_recordings(
    db: Database,
    data_dir: Path,
    retention_days: int,
    now: datetime | None = None,
    *,
    callback_retention_days: int | None = None,
) -> PurgeReport:
    """Delete the files of inbound recordings older than ``retention_days`` and of callback
    recordings older than ``callback_retention_days`` (None: never); mark their rows purged."""
    if retention_days < 1 or (callback_retention_days is not None and callback_retention_days < 1):
        raise ValueError("retention_days must be at least 1")
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must carry a zone")
    cutoff = now - timedelta(days=retention_days)
    due = and_(RecordingRow.attempt_id.is_(None), RecordingRow.created_at < cutoff)
    if callback_retention_days is not None:
        callback_cutoff = now - timedelta(days=callback_retention_days)
        due = or_(
            due,
            and_(RecordingRow.attempt_id.is_not(None), RecordingRow.created_at < callback_cutoff),
        )
    report = PurgeReport()
    while True:
        async with db.transaction("purge recordings") as session:
            rows = list(
                await session.scalars(
                    select(RecordingRow)
                    .where(
                        due,
                        RecordingRow.status.in_(("ok", "corrupt")),
                        RecordingRow.recording_id.not_in(report.refused or [""]),
                    )
                    .order_by(RecordingRow.created_at)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            )
            for row in rows:
                try:
                    path = resolve_stored(data_dir, row.path)
                except ValueError as exc:
                    report.refused.append(row.recording_id)
                    log.error(
                        "recording_purge_refused", recording_id=row.recording_id, error=str(exc)
                    )
                    continue
                # The file goes before the row says so: if the commit then fails, the row
                # is still due and the next run marks it (a missing file is no error).
                await asyncio.to_thread(path.unlink, missing_ok=True)
                row.status = "purged"
                row.purged_at = now
                session.add(
                    audit_row(
                        RETENTION_ACTOR,
                        PURGE,
                        row.recording_id,
                        {
                            "call_id": row.call_id,
                            "attempt_id": row.attempt_id,
                            "created_at": row.created_at.isoformat(),
                            "retention_days": (
                                retention_days
                                if row.attempt_id is None
                                else callback_retention_days
                            ),
                        },
                    )
                )
                report.purged.append(row.recording_id)
        if len(rows) < BATCH:
            break
    if report.purged or report.refused:
        log.info(
            "recordings_purged",
            purged=len(report.purged),
            refused=len(report.refused),
            older_than=cutoff.isoformat(),
        )
    return report


async def run_retention(
    db: Database,
    data_dir: Path,
    retention_days: int,
    *,
    callback_retention_days: int | None = None,
    every_seconds: float = 3600.0,
    clock: Callable[[], float] = time.time,
) -> None:
    """Purge now, then every ``every_seconds``, until cancelled; failures are logged."""
    while True:
        try:
            await purge_recordings(
                db,
                data_dir,
                retention_days,
                datetime.fromtimestamp(clock(), UTC),
                callback_retention_days=callback_retention_days,
            )
        except (StoreError, OSError) as exc:
            log.warning("recording_purge_failed", error=str(exc))
        await asyncio.sleep(every_seconds)
