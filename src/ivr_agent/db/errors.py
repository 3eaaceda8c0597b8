"""The one error type the store raises, and the translation of driver errors into it.

Callers above the store (the app, the web API, the CLI) catch :class:`StoreError` only;
they never see SQLAlchemy, asyncpg or OS errors. Messages are safe to log and show: they
carry the failing action and the driver's first line, never a URL or a password.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError, SQLAlchemyError


class StoreError(Exception):
    """The database could not do what was asked (unreachable, rejected, misconfigured).

    ``sqlstate`` is PostgreSQL's error code when the server refused a statement (e.g.
    ``23505`` unique violation, ``23514`` check violation), ``None`` otherwise.
    """

    def __init__(self, message: str, *, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class UnknownCursorError(StoreError, ValueError):
    """A pagination cursor names a row that does not exist."""


def _origin(exc: BaseException) -> BaseException:
    return exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc


def _sqlstate(exc: BaseException) -> str | None:
    # The asyncpg adapter's error and the asyncpg error under it both may carry it.
    for candidate in (_origin(exc), _origin(exc).__cause__):
        code = getattr(candidate, "sqlstate", None)
        if isinstance(code, str):
            return code
    return None


def _describe(exc: BaseException) -> str:
    # DBAPIError's own str() appends the SQL statement and its parameters, which may
    # hold customer data; the driver's original message is enough to act on.
    origin = _origin(exc)
    first_line = (str(origin).strip().splitlines() or [""])[0]
    name = type(origin).__name__
    return f"{name}: {first_line}" if first_line else name


@contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """Re-raise driver, SQLAlchemy and socket errors inside the block as :class:`StoreError`.

    ``action`` says what was being done ("save outcome", "connect"); it starts the message.
    """
    try:
        yield
    except StoreError:
        raise
    except (TimeoutError, SQLAlchemyError, OSError) as exc:
        raise StoreError(f"{action} failed: {_describe(exc)}", sqlstate=_sqlstate(exc)) from exc
    except Exception as exc:
        # asyncpg raises its own exception types for some connection failures
        # (e.g. InvalidAuthorizationSpecificationError) outside SQLAlchemy's wrapping.
        if type(exc).__module__.startswith("asyncpg"):
            message = f"{action} failed: {_describe(exc)}"
            raise StoreError(message, sqlstate=_sqlstate(exc)) from exc
        raise
