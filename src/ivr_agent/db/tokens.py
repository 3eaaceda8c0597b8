"""API bearer tokens: created once, shown once, stored only as their SHA-256."""

from __future__ import annotations

import hashlib
import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ivr_agent.db.database import Database
from ivr_agent.db.models import TOKEN_ROLES, ApiTokenRow

#: Prefix that makes a leaked token easy to recognise (and to grep for in a leak scan).
TOKEN_PREFIX = "ivra_"  # noqa: S105 - a public prefix, not a secret


def token_digest(token: str) -> str:
    """The stored form of ``token``."""
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(db: Database, role: str, label: str | None = None) -> str:
    """Store a new token with ``role`` and return it (the only time it is seen in clear)."""
    if role not in TOKEN_ROLES:
        raise ValueError(f"role must be one of {', '.join(TOKEN_ROLES)}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiTokenRow(
        token_id=str(uuid.uuid4()), role=role, token_sha256=token_digest(token), label=label
    )
    async with db.transaction("create token") as session:
        session.add(row)
    return token


async def role_of(session: AsyncSession, token: str) -> str | None:
    """The role of a valid, unrevoked ``token``; ``None`` otherwise."""
    return await session.scalar(
        select(ApiTokenRow.role).where(
            ApiTokenRow.token_sha256 == token_digest(token), ApiTokenRow.revoked_at.is_(None)
        )
    )
