"""Spreadsheet cells of the exports: values as cells, and text that would start a formula
kept inert while numbers (phone numbers with their +) stay as they are."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from ivr_agent.web.tabular import cell, csv_line, inert


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("+86 138 0013 8000", "+86 138 0013 8000"),
        ("+8613800138000", "+8613800138000"),
        ("-12.5", "-12.5"),
        ("张三", "张三"),
        (12, 12),
        (None, None),
    ],
)
def test_given_a_value_then_formula_text_is_inert_and_numbers_are_not(
    value: object, expected: object
) -> None:
    assert inert(value) == expected


def test_given_nested_values_then_a_cell_is_compact_json_with_chinese_readable() -> None:
    assert cell({"说明": [1, 2]}) == '{"说明":[1,2]}'
    moment = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert cell(moment) == "2026-11-23T10:00:00+08:00"


def test_given_a_row_then_the_csv_line_quotes_and_round_trips() -> None:
    line = csv_line(["王芳", 'say "hi", bye', None, True, ["a"]])
    assert line.endswith("\r\n")
    assert next(csv.reader(io.StringIO(line))) == ["王芳", 'say "hi", bye', "", "True", '["a"]']
