"""Reading a campaign's customer list from a file: CSV or XLSX (the first sheet).

The first row is the header. The number column is the one headed ``number`` (also
``phone``, ``customer_number``, 电话, 电话号码, 手机, 手机号, 号码, 联系电话); the optional name
column ``name`` (also ``customer_name``, 姓名, 客户姓名, 名称, 客户名称). Other columns are
ignored, blank rows skipped. CSV is read as UTF-8, with or without a byte-order mark, or —
when it is not UTF-8 — as GB18030 (what a Chinese Excel writes when saving as CSV). Rows are
numbered as the spreadsheet shows them (the header is row 1), so an error points at the row
to fix; nothing is stored from a list with a bad row (``core.campaigns.customer_list``).
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ivr_agent.core.campaigns import Customer, CustomerListError, customer_list

#: The most bytes a list file may have (50 000 customers fit several times over).
MAX_FILE_BYTES = 20 * 1024 * 1024
NUMBER_HEADERS = frozenset(
    {"number", "phone", "customer_number", "电话", "电话号码", "手机", "手机号", "手机号码",
     "号码", "联系电话"}
)  # fmt: skip
NAME_HEADERS = frozenset({"name", "customer_name", "姓名", "客户姓名", "名称", "客户名称"})
XLSX_MAGIC = b"PK\x03\x04"


def _fail(summary: str) -> CustomerListError:
    return CustomerListError([], 0, summary)


def _columns(header: Sequence[Any]) -> tuple[int, int | None]:
    labels = [str(cell).strip().lower() if cell is not None else "" for cell in header]
    number = next((i for i, label in enumerate(labels) if label in NUMBER_HEADERS), None)
    if number is None:
        raise _fail(
            "row 1 must be a header with a number column (number or 电话; name or 姓名 "
            f"optional); found {', '.join(repr(label) for label in labels if label) or 'none'}"
        )
    name = next((i for i, label in enumerate(labels) if label in NAME_HEADERS), None)
    return number, name


def _records(rows: Iterable[Sequence[Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(row number, {"number", "name"})`` of the data rows after the header."""
    iterator = iter(rows)
    header = next(iterator, None)
    if header is None:
        raise _fail("the file is empty: row 1 must be a header (number, name)")
    number_at, name_at = _columns(header)
    for row_no, row in enumerate(iterator, start=2):
        if all(cell is None or str(cell).strip() == "" for cell in row):
            continue
        yield row_no, {"number": _cell(row, number_at), "name": _cell(row, name_at)}


def _cell(row: Sequence[Any], at: int | None) -> Any:
    return row[at] if at is not None and at < len(row) else None


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise _fail("the CSV file is neither UTF-8 nor GB18030 text") from None


def read_csv(data: bytes) -> list[Customer]:
    """The customers of a CSV file's bytes; :class:`CustomerListError` naming bad rows."""
    reader = csv.reader(io.StringIO(_decode(data), newline=""))
    # Blank cells are "", not None: a missing name is "no name".
    rows = ([cell if cell.strip() else None for cell in row] for row in reader)
    try:
        return customer_list(_records(rows))
    except csv.Error as exc:
        raise _fail(f"the CSV file is malformed: {exc}") from None


def read_xlsx(data: bytes) -> list[Customer]:
    """The customers of an XLSX workbook's first sheet; :class:`CustomerListError`."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise _fail(f"the file is not a readable .xlsx workbook ({exc})") from None
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            raise _fail("the workbook has no sheet")
        return customer_list(_records(sheet.iter_rows(values_only=True)))
    finally:
        book.close()


def read_customer_file(path: Path) -> list[Customer]:
    """The customers of a ``.csv`` or ``.xlsx`` file (told apart by content, then by name);
    :class:`CustomerListError` for a bad list, ``OSError`` if it cannot be read."""
    with path.open("rb") as file:
        data = file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise _fail(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    if data.startswith(XLSX_MAGIC) or path.suffix.lower() in (".xlsx", ".xlsm"):
        return read_xlsx(data)
    if path.suffix.lower() == ".xls":
        raise _fail("old .xls workbooks are not read: save the list as .xlsx or .csv")
    return read_csv(data)
