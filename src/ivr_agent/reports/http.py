"""``GET /api/reports`` (the stored reports) and ``GET /api/reports/{report_id}`` (one file).

Role ``ops`` or ``qa``. A report is found by its opaque id only: the id is checked against
its form and looked up among the files the reports directory lists; nothing from the URL
is ever joined to a path, so ``../`` and the like are plain 404s.
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from ivr_agent.platform.apidoc import documented
from ivr_agent.platform.keys import SETTINGS
from ivr_agent.reports.archive import ReportArchive
from ivr_agent.reports.schemas import ReportList
from ivr_agent.web.auth import requires
from ivr_agent.web.errors import ApiError
from ivr_agent.web.tabular import XLSX_TYPE

ARCHIVE = web.AppKey("report_archive", ReportArchive)
CONTENT_TYPES = {"xlsx": XLSX_TYPE, "csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}


@requires("ops", "qa")
@documented("Stored reports (day, week, month), latest period first", response=ReportList)
async def list_reports_handler(request: web.Request) -> web.Response:
    """Every stored report with its id, period, format and size."""
    zone = request.app[SETTINGS].zone
    reports = [
        {
            "report_id": r.report_id,
            "period": r.kind,
            "label": r.label,
            "format": r.format,
            "bytes": r.bytes,
            "created_at": datetime.fromtimestamp(r.created_at, zone).isoformat(),
            "url": f"/api/reports/{r.report_id}",
        }
        for r in request.app[ARCHIVE].stored()
    ]
    return web.json_response({"reports": reports})


@requires("ops", "qa")
@documented(
    "One stored report file (XLSX, CSV or PDF)",
    media_type="application/octet-stream",
    errors=(404,),
)
async def get_report_handler(request: web.Request) -> web.FileResponse:
    """The report's file as a download, or 404."""
    found = request.app[ARCHIVE].find(request.match_info["report_id"])
    if found is None:
        raise ApiError(404, "report_not_found", "no report with this id")
    return web.FileResponse(
        found.path,
        headers={
            "Content-Type": CONTENT_TYPES[found.format],
            "Content-Disposition": f'attachment; filename="{found.report_id}"',
        },
    )


def setup_reports_api(app: web.Application, archive: ReportArchive) -> None:
    """Register the report routes over ``archive``."""
    app[ARCHIVE] = archive
    app.router.add_get("/api/reports", list_reports_handler)
    app.router.add_get("/api/reports/{report_id}", get_report_handler)
