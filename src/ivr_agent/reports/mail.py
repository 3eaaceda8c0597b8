"""Report mail (S10): each period's reports, once written, e-mailed to
``IVR_AGENT_REPORTS_MAIL_TO`` through the notifier — one message per period, its files
attached.

The notifier never raises and tries each address a few times; what still fails is in its
log and counter, and the report stays at ``GET /api/reports``: a report is mailed when it is
written, not again (a restart would otherwise mail it anew).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ivr_agent.notify import Attachment, Contacts, Notification, Notifier
from ivr_agent.platform.logging import get_logger
from ivr_agent.reports.archive import REPORT_ID

log = get_logger(__name__)

#: The name of each period's report in a subject and body.
PERIOD_NAMES = {"day": "日报", "week": "周报", "month": "月报"}
CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
    "pdf": "application/pdf",
}


class ReportMail:
    """Mails written reports to fixed addresses through a notifier."""

    def __init__(self, notifier: Notifier, to: Sequence[str], *, timezone: str) -> None:
        self.notifier = notifier
        self.to = Contacts(emails=tuple(to))
        self.timezone = timezone

    async def send(self, directory: Path, written: Sequence[str]) -> None:
        """Mail the reports ``written`` (ids of files in ``directory``), one message per
        period; never raises (an unreadable file is left out, and logged)."""
        periods: dict[tuple[str, str], list[str]] = {}
        for report_id in written:
            match = REPORT_ID.fullmatch(report_id)
            if match is not None:
                periods.setdefault((match["kind"], match["label"]), []).append(report_id)
        for (kind, label), names in periods.items():
            attachments = []
            for name in names:
                try:
                    content = (directory / name).read_bytes()
                except OSError as exc:
                    log.warning("report not mailed", report=name, error=str(exc))
                    continue
                fmt = name.rpartition(".")[2]
                attachments.append(Attachment(name, CONTENT_TYPES[fmt], content))
            if attachments:
                await self.notifier.send(self.notification(kind, label, attachments))

    def notification(
        self, kind: str, label: str, attachments: Sequence[Attachment]
    ) -> Notification:
        """The message of one period's reports."""
        title = f"ivr-agent {PERIOD_NAMES[kind]} {label}"
        files = [a.filename for a in attachments]
        text = (
            f"{title}({self.timezone})已生成,见附件:\n"
            + "".join(f"  {name}\n" for name in files)
            + "\n也可在 GET /api/reports 下载。\n"
            f"The {kind} report of {label} is attached; also at GET /api/reports.\n"
        )
        return Notification(
            kind="report",
            subject=title,
            text=text,
            data={"period": kind, "label": label, "reports": files},
            to=(self.to,),
            attachments=tuple(attachments),
        )
