"""HTTP ``Range: bytes=…`` for one file of known size (RFC 9110 §14), single ranges only.

Pure: :func:`parse_range` turns the header into the byte span to send. ``None`` (no header)
means the whole file (200). A satisfiable single range (``bytes=0-``, ``bytes=10-99``, a
suffix ``bytes=-500``; an end past the file is clamped) gives 206. Everything else raises
:class:`RangeNotSatisfiable` (416 with ``Content-Range: bytes */size``): a start past the
end, ``bytes=100-50``, ``bytes=-0``, other units, garbage, and several ranges at once —
a recording player never needs those, and refusing them is simpler to get right than
multipart answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SPEC = re.compile(
    r"^bytes=(?:(?P<start>[0-9]{1,19})-(?P<end>[0-9]{0,19})|-(?P<suffix>[0-9]{1,19}))$"
)


class RangeNotSatisfiable(ValueError):
    """The Range header cannot be served for this file; the message says why."""


@dataclass(frozen=True)
class ByteSpan:
    """Bytes ``start``..``end`` inclusive of a file of ``size`` bytes."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        """How many bytes the span holds."""
        return self.end - self.start + 1

    @property
    def content_range(self) -> str:
        """The ``Content-Range`` value of a 206 answer."""
        return f"bytes {self.start}-{self.end}/{self.size}"

    def describe(self) -> str:
        """``start-end`` (for the audit log)."""
        return f"{self.start}-{self.end}"


def unsatisfiable_content_range(size: int) -> str:
    """The ``Content-Range`` value of a 416 answer."""
    return f"bytes */{size}"


def parse_range(header: str | None, size: int) -> ByteSpan | None:
    """The span ``header`` asks for in a file of ``size`` bytes; None for the whole file.

    Raises :class:`RangeNotSatisfiable` for a malformed, multiple or unsatisfiable range.
    """
    if size < 0:
        raise ValueError("size must not be negative")
    if header is None:
        return None
    match = _SPEC.fullmatch(header.strip().replace(" ", ""))
    if match is None:
        raise RangeNotSatisfiable(f"not a single byte range: {header[:60]!r}")
    if match["suffix"] is not None:
        wanted = int(match["suffix"])
        if wanted == 0 or size == 0:
            raise RangeNotSatisfiable("an empty suffix range")
        return ByteSpan(max(size - wanted, 0), size - 1, size)
    start = int(match["start"])
    end = int(match["end"]) if match["end"] else size - 1
    if end < start:
        raise RangeNotSatisfiable(f"range end {end} is before its start {start}")
    if start >= size:
        raise RangeNotSatisfiable(f"range starts at {start}, the file has {size} bytes")
    return ByteSpan(start, min(end, size - 1), size)
