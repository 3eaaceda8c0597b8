"""The declarative base, the naming convention and the value lists the CHECK constraints
name (see the package's docstring)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    DateTime,
    Double,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase

from ivr_agent.core.callbacks import OUTCOMES, REASONS, STATUSES

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The callbacks' reasons, statuses and attempt outcomes are core's (the CHECK constraints
# below list them; the migrations wrote the same lists).
CALLBACK_REASONS: tuple[str, ...] = REASONS
CALLBACK_STATUSES: tuple[str, ...] = STATUSES
ATTEMPT_STATES = ("dialling", "answered", "finished", "failed")
ATTEMPT_OUTCOMES: tuple[str, ...] = OUTCOMES
RECORDING_STATUSES = ("ok", "corrupt", "missing", "purged")
RECORDING_KINDS = ("call", "suggestion")
#: ``operator``: an operator's own calls and their records only (migration 0009).
TOKEN_ROLES = ("ops", "qa", "admin", "operator")


def one_of(column: str, values: tuple[str, ...]) -> str:
    listed = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({listed})"


Timestamp = DateTime(timezone=True)


class Base(DeclarativeBase):
    """Declarative base sharing one metadata with the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: Timestamp,
        str: Text(),
        float: Double(),
        dict[str, Any]: JSONB(),
    }


def table_of(model: type[Base]) -> Table:
    """The Core table of ``model``: for statements built once and executed with
    parameters on hot paths, without the ORM's per-row bookkeeping."""
    table = model.__table__
    assert isinstance(table, Table)
    return table
