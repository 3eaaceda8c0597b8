"""Phone-number rules, each defined once. There are two, and they differ on purpose.

* :data:`DIALABLE` — a number the PBX may present or be asked to dial: digits only, an
  optional leading ``+``, **3**–20 digits. Internal extensions have 3 digits (operator
  phones, internal callers: ``internal_caller_pattern`` is ``[0-9]{3,6}``), so the number
  read from a callback's dial string, a simulator scenario's phones and the dialer's last
  gate before a dial string all accept them. Its job is safety: nothing but digits (no
  spaces, ``&``, letters or line breaks) ever reaches a dial string or an AMI header.
* :data:`CUSTOMER_NUMBER` — a customer a callback is stored for: the same shape, but
  **5**–20 digits. Callbacks are for outside customers: an extension or a short service
  code is refused when the callback is requested (API, abandoned-call callbacks), with a
  message saying what is wrong (:func:`check_customer_number`).
"""

from __future__ import annotations

import re
from typing import TypeGuard

#: A number the PBX may present or dial (see the module's docstring).
DIALABLE = re.compile(r"\+?[0-9]{3,20}")
#: A number a callback may be stored for (see the module's docstring).
CUSTOMER_NUMBER = re.compile(r"\+?[0-9]{5,20}")


def is_dialable(value: object) -> TypeGuard[str]:
    """``value`` is a string of 3–20 digits with an optional leading ``+``, nothing else."""
    return isinstance(value, str) and DIALABLE.fullmatch(value) is not None


def check_customer_number(value: object) -> str:
    """``value`` if it is a customer number a callback may be stored for; ``ValueError``
    saying what is wrong."""
    if not isinstance(value, str):
        raise ValueError("must be a string of digits")
    if CUSTOMER_NUMBER.fullmatch(value) is None:
        digits = value.removeprefix("+")
        if all(c.isascii() and c.isdigit() for c in digits):
            raise ValueError(f"must have 5 to 20 digits (has {len(digits)})")
        raise ValueError("must be digits only, with an optional leading +")
    return value
