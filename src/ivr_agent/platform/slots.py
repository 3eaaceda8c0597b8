"""Places in the app for things that exist only while a part of the agent runs.

aiohttp freezes an application once it has started: adding or removing a key afterwards is
deprecated (a warning today, an error in aiohttp 4). The ARI session, the prompt executor,
the dialer's wake-up and the inbound recorder come and go after start-up, whenever this agent
gains or loses the lead of its PBX, and go again at shut-down. So the app holds a
:class:`Slot` for each from the start, and the part fills and empties the slot, not the app.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Slot(Generic[T]):
    """One value, present while the part that owns it runs (``None`` otherwise)."""

    __slots__ = ("name", "value")

    def __init__(self, name: str) -> None:
        self.name = name
        self.value: T | None = None

    def get(self) -> T:
        """The value; :class:`LookupError` naming the slot when its part is not running."""
        if self.value is None:
            raise LookupError(f"{self.name} is not running")
        return self.value

    @contextlib.contextmanager
    def holding(self, value: T) -> Iterator[T]:
        """Hold ``value`` for the duration of the block (emptied however the block ends)."""
        self.value = value
        try:
            yield value
        finally:
            self.value = None
