"""Customer lists from files: CSV (UTF-8 with or without BOM, GB18030) and XLSX."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from ivr_agent.campaigns import read_customer_file
from ivr_agent.core.campaigns import Customer, CustomerListError

CHINESE = "电话,姓名\n13800138000,张三\n139-0013-9000,欧阳娜娜\n13800138000,重复的张三\n"


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_given_a_csv_with_chinese_headers_and_names_then_they_round_trip(
    tmp_path: Path, encoding: str
) -> None:
    path = _write(tmp_path, "list.csv", CHINESE.encode(encoding))
    assert read_customer_file(path) == [
        Customer("13800138000", "张三"),
        Customer("13900139000", "欧阳娜娜"),
    ]


def test_given_english_headers_extra_columns_and_blank_rows_then_only_customers_are_read(
    tmp_path: Path,
) -> None:
    data = "id,Name,Number,note\n1,Alice,+8613800138000,x\n,,,\n2,,13900139000,\n"
    assert read_customer_file(_write(tmp_path, "list.csv", data.encode())) == [
        Customer("+8613800138000", "Alice"),
        Customer("13900139000", None),
    ]


def test_given_a_csv_with_bad_rows_then_every_bad_row_is_named_by_its_line(
    tmp_path: Path,
) -> None:
    data = "number,name\n13800138000,ok\n12,short\nphone?,letters\n\n13900139000,ok\n"
    with pytest.raises(CustomerListError) as caught:
        read_customer_file(_write(tmp_path, "list.csv", data.encode()))
    assert [(r.row, r.problem) for r in caught.value.rows] == [
        (3, "must have 5 to 20 digits (has 2)"),
        (4, "must be digits only, with an optional leading +"),
    ]


def test_given_no_number_header_then_the_error_says_what_row_1_must_be(tmp_path: Path) -> None:
    with pytest.raises(CustomerListError, match="row 1 must be a header with a number column"):
        read_customer_file(_write(tmp_path, "list.csv", b"13800138000,Zhang\n"))
    with pytest.raises(CustomerListError, match="empty"):
        read_customer_file(_write(tmp_path, "empty.csv", b""))


def test_given_an_xlsx_written_by_openpyxl_then_numbers_and_names_are_read(
    tmp_path: Path,
) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["姓名", "手机号"])
    sheet.append(["张三", 13800138000])  # a number cell, as Excel stores typed-in numbers
    sheet.append(["李四", "139 0013 9000"])
    sheet.append([None, None])
    sheet.append(["王五", "+8613700137000"])
    path = tmp_path / "list.xlsx"
    book.save(path)
    assert read_customer_file(path) == [
        Customer("13800138000", "张三"),
        Customer("13900139000", "李四"),
        Customer("+8613700137000", "王五"),
    ]


def test_given_an_xlsx_with_a_bad_row_then_it_is_named_as_the_sheet_shows_it(
    tmp_path: Path,
) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["number", "name"])
    sheet.append(["13800138000", "ok"])
    sheet.append(["8000", "too short"])
    path = tmp_path / "list.xlsx"
    book.save(path)
    with pytest.raises(CustomerListError, match=r"row 3: must have 5 to 20 digits"):
        read_customer_file(path)


def test_given_a_file_that_is_not_a_workbook_then_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CustomerListError, match=r"not a readable \.xlsx workbook"):
        read_customer_file(_write(tmp_path, "list.xlsx", b"number,name\n"))
    with pytest.raises(CustomerListError, match=r"\.xls workbooks are not read"):
        read_customer_file(_write(tmp_path, "list.xls", b"\xd0\xcf\x11\xe0"))
