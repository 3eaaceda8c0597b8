"""Reports (S10): a period's figures as XLSX, CSV and PDF files — made on demand by
``ivr-agent report`` and by the agent when each day, week and month closes, stored under
``DATA_DIR/reports/`` and served at ``GET /api/reports``. Other parts (the CLI) use what is
exported here; app.py composes the rest."""

from ivr_agent.reports.content import Report, View, gather
from ivr_agent.reports.periods import Period, PeriodKind, containing, last_closed
from ivr_agent.reports.render import RenderError, write

__all__ = [
    "Period",
    "PeriodKind",
    "RenderError",
    "Report",
    "View",
    "containing",
    "gather",
    "last_closed",
    "write",
]
