"""A query parameter a page cannot use (the pages answer it with a 400 page naming it)."""

from __future__ import annotations


class BadParameter(ValueError):
    """A query parameter the page cannot use; ``field`` names it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field
