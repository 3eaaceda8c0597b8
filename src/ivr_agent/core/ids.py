"""Checking ids that arrive from outside (URLs, API bodies) before they reach a query."""

from __future__ import annotations

import re
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


#: What a ``pbx_id`` may look like (``IVR_AGENT_PBX_ID``, API bodies and filters).
PBX_ID = re.compile(r"[A-Za-z0-9_\-]{1,32}")
#: ``IVR_AGENT_PBX_ID``'s default: the PBX of a single-PBX deployment.
DEFAULT_PBX_ID = "pbx1"


def check_pbx_id(value: object) -> str:
    """``value`` if it is a PBX id (1-32 letters, digits, ``_`` or ``-``); else
    ``ValueError`` saying what one looks like."""
    if not isinstance(value, str) or not PBX_ID.fullmatch(value):
        raise ValueError("must be 1-32 letters, digits, _ or - (a PBX's IVR_AGENT_PBX_ID)")
    return value
