"""Ids from outside are checked once, the same way, before they reach a query."""

from __future__ import annotations

import uuid

import pytest

from ivr_agent.core.ids import is_uuid

ID = "0b5b3a4e-8f0e-4d6c-9a57-3e2c1f0d9b11"


@pytest.mark.parametrize("value", [ID, ID.upper(), ID.replace("-", ""), f"{{{ID}}}"])
def test_given_uuid_text_when_checked_then_accepted(value: str) -> None:
    assert is_uuid(value)


@pytest.mark.parametrize("value", ["", "not-a-uuid", ID[:-1], f"{ID}x", None, 42, uuid.UUID(ID)])
def test_given_anything_else_when_checked_then_refused(value: object) -> None:
    assert not is_uuid(value)
