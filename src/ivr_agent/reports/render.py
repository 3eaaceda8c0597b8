"""A report as a file: XLSX (one sheet per view), CSV (one section per view), PDF.

- XLSX: a first sheet ``report`` (period, bounds, when made, settings), then one sheet per
  view named after it (``hotline``, ``operators``, ``breaches``, ``callbacks``,
  ``assessment``), the header in the first row; formulas in their own column.
- CSV: one UTF-8 file with a byte-order mark (Excel then reads Chinese right), one section
  per view: a line ``# <view>``, the header, the rows, an empty line. One file, not a zip
  of one CSV per view: it opens with a double click and reads top to bottom.
- PDF: the HTML of ``templates/report.html`` printed by headless Chromium (Debian's
  ``chromium``; the CJK font ``fonts-wqy-zenhei`` draws Chinese), text extractable.

Files are written to ``<path>.partial`` and renamed when complete: a listed report is
never a half-written one.
"""

from __future__ import annotations

import asyncio
import csv
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import jinja2

from ivr_agent.reports.content import Report
from ivr_agent.web.tabular import inert

ReportFormat = Literal["xlsx", "csv", "pdf"]
FORMATS: tuple[ReportFormat, ...] = ("xlsx", "csv", "pdf")
#: How long Chromium may take to print one report.
PDF_TIMEOUT_SECONDS = 60.0


class RenderError(Exception):
    """A report could not be written (e.g. no Chromium for a PDF)."""


def _about(report: Report) -> list[tuple[str, Any]]:
    period = report.period
    return [
        ("report", report.title),
        ("period", period.kind.value),
        ("from", period.start.isoformat()),
        ("to", period.end.isoformat()),
        ("generated_at", report.generated_at.isoformat()),
        *((f"setting.{name}", value) for name, value in report.settings.items()),
    ]


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    partial = path.with_name(path.name + ".partial")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_xlsx(report: Report, path: Path) -> None:
    """The report as an XLSX workbook at ``path``."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    about = workbook.active
    assert about is not None
    about.title = "report"
    for row in _about(report):
        about.append(list(row))
    bold = Font(bold=True)
    for view in report.views:
        sheet = workbook.create_sheet(view.name)
        sheet.append(list(view.header))
        for cell in sheet[1]:
            cell.font = bold
        for row in view.rows:
            sheet.append(list(row))
        for cells in sheet.iter_rows(min_row=2):
            for cell in cells:
                if cell.data_type == "f":  # text like "=…" is data here, never a formula
                    cell.data_type = "s"
    with _replacing(path) as partial:
        workbook.save(partial)


def write_csv(report: Report, path: Path) -> None:
    """The report as one CSV file (UTF-8 with BOM, one section per view) at ``path``."""
    with _replacing(path) as partial:
        _write_csv_sections(report, partial)


def _write_csv_sections(report: Report, path: Path) -> None:
    # utf-8-sig writes the BOM first; newline="" lets csv write its CRLF records.
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["# report"])
        writer.writerows(_about(report))
        for view in report.views:
            writer.writerow([])
            writer.writerow([f"# {view.name}"])
            writer.writerow(view.header)
            writer.writerows(["" if v is None else inert(v) for v in row] for row in view.rows)


def _template() -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("ivr_agent.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return environment.get_template("report.html")


def render_html(report: Report) -> str:
    """The report as one HTML page (what the PDF prints)."""
    return _template().render(report=report, about=_about(report))


def chromium() -> str | None:
    """Debian's Chromium, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


async def write_pdf(report: Report, path: Path) -> None:
    """The report as a PDF at ``path``, printed from :func:`render_html` by headless Chromium."""
    browser = chromium()
    if browser is None:
        raise RenderError("a PDF needs chromium (apt-get install chromium fonts-wqy-zenhei)")
    with tempfile.TemporaryDirectory(prefix="ivr-agent-report-") as tmp:
        html = Path(tmp) / "report.html"
        html.write_text(render_html(report), encoding="utf-8")
        with _replacing(path) as partial:
            process = await asyncio.create_subprocess_exec(
                browser,
                "--headless",
                "--no-sandbox",  # the agent may run as root, where Chromium's sandbox refuses
                "--disable-gpu",
                "--no-pdf-header-footer",
                f"--user-data-dir={tmp}/profile",
                f"--print-to-pdf={partial}",
                html.as_uri(),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                _, stderr = await asyncio.wait_for(process.communicate(), PDF_TIMEOUT_SECONDS)
            except TimeoutError:
                process.kill()
                await process.wait()
                raise RenderError(
                    f"chromium did not print within {PDF_TIMEOUT_SECONDS:g} s"
                ) from None
            if process.returncode != 0 or not partial.exists():
                tail = stderr.decode(errors="replace").strip()[-300:]
                raise RenderError(f"chromium failed ({process.returncode}): {tail}")


async def write(report: Report, fmt: ReportFormat, path: Path) -> None:
    """Write ``report`` as ``fmt`` to ``path`` (XLSX and CSV in a worker thread)."""
    if fmt == "xlsx":
        await asyncio.to_thread(write_xlsx, report, path)
    elif fmt == "csv":
        await asyncio.to_thread(write_csv, report, path)
    else:
        await write_pdf(report, path)
