"""Tables as spreadsheet downloads: CSV (UTF-8 with BOM) and XLSX, streamed from async rows.

The exports of calls and callbacks (``?format=csv|xlsx`` or ``Accept: text/csv``) go through
here. CSV is written to the response as the rows arrive (one page of rows in memory at a
time). XLSX is a zip whose central directory comes last, so it cannot be sent before it is
complete: the rows go into openpyxl's write-only workbook (constant memory) in a temporary
file, which is then sent in chunks and removed.

CSV starts with the UTF-8 byte-order mark: without it Excel reads the file as the system's
ANSI code page and Chinese names come out garbled.

Text a spreadsheet would run as a formula (a customer "name" ``=HYPERLINK(…)``) is kept
inert: in CSV it gets a leading ``'`` (:func:`inert`; plain signed numbers such as
``+8613800138000`` are left alone), in XLSX the cell is typed as text.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import tempfile
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from aiohttp import web

from ivr_agent.web.errors import bad_parameter

TableFormat = Literal["csv", "xlsx"]

#: The byte-order mark that tells Excel a CSV file is UTF-8.
BOM = "\ufeff"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CONTENT_TYPES: dict[str, str] = {"csv": "text/csv; charset=utf-8", "xlsx": XLSX_TYPE}
#: How many bytes of a finished XLSX file are sent at once.
CHUNK = 64 * 1024


def requested_format(request: web.Request) -> TableFormat | None:
    """The table format a request asks for: ``?format=csv|xlsx`` (``json`` or absent: none),
    else ``Accept: text/csv``; a bad ``format`` is a 400 naming it."""
    raw = request.query.get("format")
    if raw is not None:
        if raw == "csv":
            return "csv"
        if raw == "xlsx":
            return "xlsx"
        if raw == "json":
            return None
        raise bad_parameter("format", "must be one of json | csv | xlsx")
    accept = request.headers.get("Accept", "")
    if "text/csv" in accept:
        return "csv"
    if XLSX_TYPE in accept:
        return "xlsx"
    return None


def cell(value: Any) -> Any:
    """A value as one spreadsheet cell: scalars as they are (times as ISO text, so the zone
    stays visible), lists and objects as compact JSON with Chinese left readable."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


#: What makes a spreadsheet read a cell as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Signed numbers (phone numbers with their +): no formula, left as they are.
PLAIN_NUMBER = re.compile(r"[+-]?[0-9][0-9 .]*")


def inert(value: Any) -> Any:
    """``value`` for a CSV cell: text that would start a formula gets a leading ``'``."""
    formula = isinstance(value, str) and value.startswith(FORMULA_START)
    if formula and PLAIN_NUMBER.fullmatch(value) is None:
        return "'" + value
    return value


def csv_line(values: Sequence[Any]) -> str:
    """One CSV record (RFC 4180 quoting, CRLF) of the values' cells."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(["" if (c := cell(v)) is None else inert(c) for v in values])
    return buffer.getvalue()


async def stream_table(
    request: web.Request,
    fmt: TableFormat,
    filename: str,
    header: Sequence[str],
    rows: AsyncIterator[Sequence[Any]],
) -> web.StreamResponse:
    """Send ``header`` and ``rows`` as a ``fmt`` download named ``filename`` (no extension)."""
    response = web.StreamResponse(
        headers={
            "Content-Type": CONTENT_TYPES[fmt],
            "Content-Disposition": f'attachment; filename="{filename}.{fmt}"',
        }
    )
    if fmt == "csv":
        await response.prepare(request)
        await response.write((BOM + csv_line(header)).encode("utf-8"))
        batch: list[str] = []
        async for row in rows:
            batch.append(csv_line(row))
            if len(batch) >= 200:
                await response.write("".join(batch).encode("utf-8"))
                batch.clear()
        await response.write("".join(batch).encode("utf-8"))
        await response.write_eof()
        return response
    with tempfile.TemporaryDirectory(prefix="ivr-agent-export-") as tmp:
        path = Path(tmp) / f"{filename}.xlsx"
        await _write_xlsx(path, filename, header, rows)
        await response.prepare(request)
        with path.open("rb") as file:
            while chunk := await asyncio.to_thread(file.read, CHUNK):
                await response.write(chunk)
    await response.write_eof()
    return response


async def _write_xlsx(
    path: Path, title: str, header: Sequence[str], rows: AsyncIterator[Sequence[Any]]
) -> None:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    sheet.append(list(header))
    async for row in rows:
        sheet.append([xlsx_cell(sheet, cell(v)) for v in row])
    await asyncio.to_thread(workbook.save, path)


def xlsx_cell(sheet: Any, value: Any) -> Any:
    """``value`` for openpyxl: text starting with ``=`` as a text cell, not a formula."""
    if isinstance(value, str) and value.startswith("="):
        from openpyxl.cell import WriteOnlyCell

        text = WriteOnlyCell(sheet, value=value)
        text.data_type = "s"
        return text
    return value
