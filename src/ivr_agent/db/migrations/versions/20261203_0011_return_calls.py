"""Return calls (S8, issue 18): the attempt outcome ``connected``.

An abandoned call's callback is a return call: the customer answers, hears the return-call
greeting (recorded) and is handed to the admin's operator route; the attempt then ends
``connected`` (the callback ``completed``). The outcome CHECK constraints of ``callbacks``
and ``callback_attempts`` gain ``connected``. The resulting call needs no new column: its
``calls.linkedid`` is the attempt's ``channel_id`` (the originated channel is the call's
first channel), on the same ``pbx_id``.

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-03 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BEFORE = ("completed", "declined", "rescheduled", "no_answer", "busy", "hung_up", "failed")
_AFTER = (*_BEFORE, "connected")
_TABLES = ("callbacks", "callback_attempts")


def _check(outcomes: tuple[str, ...]) -> str:
    listed = ", ".join(f"'{o}'" for o in outcomes)
    return f"outcome IS NULL OR outcome IN ({listed})"


def upgrade() -> None:
    """Allow ``connected`` as an attempt's and a callback's outcome."""
    for table in _TABLES:
        op.drop_constraint(op.f(f"ck_{table}_outcome"), table, type_="check")
        op.create_check_constraint(op.f(f"ck_{table}_outcome"), table, _check(_AFTER))


def downgrade() -> None:
    """Refused while return calls ended ``connected`` exist (0009 has no such outcome)."""
    for table in _TABLES:
        kept = op.get_bind().exec_driver_sql(
            f"SELECT count(*) FROM {table} WHERE outcome = 'connected'"  # noqa: S608 — fixed names
        )
        if kept.scalar_one():
            raise RuntimeError(
                f"{table} holds return calls that ended 'connected', which revision 0009 "
                "cannot store: export and delete them before downgrading"
            )
    for table in _TABLES:
        op.drop_constraint(op.f(f"ck_{table}_outcome"), table, type_="check")
        op.create_check_constraint(op.f(f"ck_{table}_outcome"), table, _check(_BEFORE))
