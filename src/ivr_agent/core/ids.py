"""Checking ids that arrive from outside (URLs, API bodies) before they reach a query."""

from __future__ import annotations

import uuid
from typing import TypeGuard


def is_uuid(value: object) -> TypeGuard[str]:
    """``value`` is a string :class:`uuid.UUID` reads (hyphenated or bare hex, in braces or
    after ``urn:uuid:``). The stores check ids with it first, so a malformed id is answered
    as unknown or invalid instead of reaching PostgreSQL's ``uuid`` type as an error."""
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
