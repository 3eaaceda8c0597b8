"""API tokens, sign-in sessions and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    LargeBinary,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ivr_agent.db.models.base import (
    TOKEN_ROLES,
    Base,
    one_of,
)


class ApiTokenRow(Base):
    """A bearer token, stored only as its SHA-256."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        UniqueConstraint("token_sha256"),
        CheckConstraint(one_of("role", TOKEN_ROLES), name="role"),
        CheckConstraint("token_sha256 ~ '^[0-9a-f]{64}$'", name="token_sha256"),
        CheckConstraint("(role = 'operator') = (operator_id IS NOT NULL)", name="operator_id"),
    )

    token_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), primary_key=True)
    role: Mapped[str]
    token_sha256: Mapped[str]
    label: Mapped[str | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    revoked_at: Mapped[datetime | None]
    #: Refused from this instant on; ``None``: never (tokens created before migration 0005).
    expires_at: Mapped[datetime | None]
    #: The operator (工号) an ``operator`` token acts for; set exactly for that role (0009).
    operator_id: Mapped[str | None]


class ApiSessionRow(Base):
    """A browser's sign-in: its cookie is a random secret stored here only as its SHA-256,
    tied to the API token it signed in with, ending at ``expires_at`` or at logout.

    ``token_sealed`` is that token encrypted under a key only the cookie's secret gives
    (``db/tokens.py``), so neither the cookie nor this row alone reveals the token.
    """

    __tablename__ = "api_sessions"
    __table_args__ = (
        UniqueConstraint("session_sha256"),
        Index(None, "token_id"),
        Index(None, "expires_at"),
        CheckConstraint("session_sha256 ~ '^[0-9a-f]{64}$'", name="session_sha256"),
    )

    session_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), primary_key=True)
    token_id: Mapped[str] = mapped_column(ForeignKey("api_tokens.token_id", ondelete="CASCADE"))
    session_sha256: Mapped[str]
    token_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]


class AuditLogRow(Base):
    """Who did what to which object, and when. Append-only: a trigger rejects changes."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "at"),)

    audit_id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    actor: Mapped[str]
    action: Mapped[str]
    object: Mapped[str | None]
    details: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))


#: The counts summed in the roll-up tables (migration 0014), in their column order.
ROLLUP_COUNTS: tuple[str, ...] = (
    "offered",
    "answered",
    "within_standard",
    "abandoned",
    "short_abandons",
    "hold_over_limit",
    "hold_severe",
    "silence_spoke",
    "silence_hung_up",
    "over_max_duration",
    "within_target",
    "operator_first",
    "satisfaction_satisfied",
    "satisfaction_suggestion",
    "satisfaction_invalid",
    "satisfaction_no_answer",
    "incomplete",
    "records_late",
    "records_missing",
)
