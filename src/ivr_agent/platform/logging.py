"""structlog set-up: JSON lines in production, readable lines on a terminal.

Call ids are bound with :func:`structlog.contextvars.bound_contextvars` (or ``log.bind``)
where a call is handled, so every line about a call carries its ``call_id``. A final
processor scrubs every configured secret from every value, as defence in depth: code
should never log a secret, and if it ever does, the output still does not carry it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
_LEVELS["error"] = logging.ERROR


class _SecretScrubber:
    """Replaces any secret value that appears in a log line with asterisks."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Short values would mask innocent text; real secrets are never this short.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self._secrets:
                value = value.replace(secret, "**********")
            return value
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._scrub(v) for v in value)
        if self._secrets and not isinstance(value, int | float | bool | type(None)):
            return self._scrub(str(value))
        return value

    def __call__(
        self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if not self._secrets:
            return event_dict
        return {key: self._scrub(value) for key, value in event_dict.items()}


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time of writing.

    Binding the stream object at configuration time would keep writing to a stream that
    was swapped out and closed since (a test harness capturing output, a daemon closing
    its terminal), and logging would then raise instead of logging.
    """

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(
    *,
    log_format: str = "auto",
    level: str = "info",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Configure structlog (and the stdlib root logger) for the whole process.

    ``log_format`` is ``auto`` (console on a TTY, JSON otherwise), ``json`` or ``console``.
    Every value of ``secrets`` is masked wherever it would appear.
    """
    out: Any = stream if stream is not None else _CurrentStderr()
    as_json = log_format == "json" or (log_format == "auto" and not out.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    scrubber = _SecretScrubber(secrets)
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            scrubber,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    # Libraries (aiohttp, alembic, panoramisk) log through the stdlib: same format, same scrub.
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                scrubber,
                renderer,
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[level])
    # aiohttp.access would log every dashboard poll at info.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def get_logger(name: str | None = None, **initial: Any) -> Any:
    """A structlog logger, optionally with values bound to every line."""
    return structlog.get_logger(name, **initial)
