"""Phone-number rules (core/phone.py): a number the PBX may dial or present (3–20 digits:
extensions too) and a callback customer's number (5–20 digits)."""

from __future__ import annotations

import pytest

from ivr_agent.core.phone import check_customer_number, is_dialable


@pytest.mark.parametrize("number", ["101", "8003", "13800138000", "+8613800138000", "1" * 20])
def test_given_digits_with_optional_plus_when_checked_then_dialable(number: str) -> None:
    assert is_dialable(number)


@pytest.mark.parametrize(
    "number", ["12", "1" * 21, "123\n", "12 34", "123&Hangup", "１２３", "+", "", None, 12345]
)
def test_given_anything_else_when_checked_then_not_dialable(number: object) -> None:
    assert not is_dialable(number)


def test_given_extension_when_stored_for_a_callback_then_refused_saying_why() -> None:
    assert is_dialable("8003")
    with pytest.raises(ValueError, match="5 to 20 digits"):
        check_customer_number("8003")
    with pytest.raises(ValueError, match="digits only"):
        check_customer_number("138 0013 8000")
    assert check_customer_number("13800") == "13800"
