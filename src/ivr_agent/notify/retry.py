"""Trying one target again after a transient fault, with doubling waits, a bounded number
of times: a refused connection or a busy server (SMTP 4xx, HTTP 5xx) often passes within
seconds, a refused address (SMTP 5xx) or URL (HTTP 4xx) does not."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass


class DeliveryFailed(Exception):
    """One try at one target failed; ``transient`` says whether another try may succeed."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``attempts`` tries, waiting ``first_wait`` seconds before the second and
    twice as long before each further one: the whole is bounded by the sum of the waits
    and ``attempts`` times the sender's own timeout."""

    attempts: int = 3
    first_wait: float = 2.0

    def wait_before(self, attempt: int) -> float:
        """Seconds to wait before try number ``attempt`` (2, 3, …)."""
        return self.first_wait * float(2 ** (attempt - 2))


async def attempt(
    call: Callable[[], Awaitable[None]],
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]],
) -> tuple[str | None, int]:
    """Run ``call`` until it succeeds, fails for good or runs out of tries.

    Returns the last error (None on success) and the number of tries made. ``call`` raises
    :class:`DeliveryFailed`; anything else it raises is a bug and propagates.
    """
    tries = 0
    while True:
        tries += 1
        try:
            await call()
        except DeliveryFailed as exc:
            if not exc.transient or tries >= policy.attempts:
                return str(exc), tries
            await sleep(policy.wait_before(tries + 1))
        else:
            return None, tries
