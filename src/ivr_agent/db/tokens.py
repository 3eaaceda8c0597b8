"""API bearer tokens and browser sessions: created once, shown once, stored only hashed.

A token is valid until it is revoked or its ``expires_at`` (``None``: never, only for
tokens created before migration 0005) has passed — by the database's clock. A browser that
signs in at ``/login`` gets a session instead of the token: a random secret (its cookie)
stored as its SHA-256, tied to the token, with a shorter lifetime, deleted at logout and
with its token. Revoking a token deletes its sessions; an expired or revoked token's
sessions are refused anyway.

The session row also keeps the token *sealed*: XORed with an HMAC-SHA256 key stream keyed
by the cookie's secret, which is never stored. Only a request carrying the cookie can open
it (code that still looks a request's token up itself gets it that way); the opened token
is checked against the token's stored hash before it is used.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Text, cast, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ivr_agent.db.database import Database
from ivr_agent.db.models import TOKEN_ROLES, ApiSessionRow, ApiTokenRow

#: Prefix that makes a leaked token easy to recognise (and to grep for in a leak scan).
TOKEN_PREFIX = "ivra_"  # noqa: S105 - a public prefix, not a secret
#: Prefix of a browser session's secret (the sign-in cookie's value).
SESSION_PREFIX = "ivrs_"
#: Lifetime of a new token unless ``tokens create --days`` says otherwise.
DEFAULT_TOKEN_DAYS = 90
#: Longest lifetime a token may be given.
MAX_TOKEN_DAYS = 3650
#: Lifetime of a browser session (never past its token's expiry).
SESSION_SECONDS = 12 * 3600
#: A token id prefix must be this long to name a token in ``tokens revoke``.
MIN_ID_PREFIX = 6

_SEAL_CONTEXT = b"ivr-agent session seal v1"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ID_PREFIX = re.compile(r"[0-9a-f-]+")
#: An operator id (工号) as the PBX's member names carry it: letters and digits.
_OPERATOR_ID = re.compile(r"[0-9A-Za-z]{1,32}")


class TokenNotFound(LookupError):
    """No token matches what ``tokens revoke`` was given."""


class AmbiguousToken(LookupError):
    """Several tokens match an id prefix."""


@dataclass(frozen=True)
class Credential:
    """Who a request is: its token (by id), role and label, and the browser session it came
    through, if any. ``expires_at`` is when this credential stops (``None``: never)."""

    token_id: str
    role: str
    label: str | None
    expires_at: datetime | None
    session_id: str | None = None
    #: The API token in clear, for this request only (never stored, never shown).
    token: str = field(default="", repr=False)
    #: The operator an ``operator`` token acts for (``None`` for every other role).
    operator_id: str | None = None


@dataclass(frozen=True)
class TokenInfo:
    """A stored token as ``tokens list`` shows it."""

    token_id: str
    role: str
    label: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    state: str  # "valid", "expired" or "revoked", by the database's clock
    operator_id: str | None = None


def token_digest(token: str) -> str:
    """The stored form of ``token`` (and of a session's secret)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _usable() -> ColumnElement[bool]:
    """Not revoked and not expired, by the database's clock."""
    return ApiTokenRow.revoked_at.is_(None) & or_(
        ApiTokenRow.expires_at.is_(None), ApiTokenRow.expires_at > func.now()
    )


def _key_stream(secret: str, size: int) -> bytes:
    blocks = b""
    counter = 0
    while len(blocks) < size:
        message = _SEAL_CONTEXT + counter.to_bytes(4, "big")
        blocks += hmac.new(secret.encode(), message, hashlib.sha256).digest()
        counter += 1
    return blocks[:size]


def _seal(secret: str, token: str) -> bytes:
    data = token.encode()
    return bytes(a ^ b for a, b in zip(data, _key_stream(secret, len(data)), strict=True))


def _unseal(secret: str, sealed: bytes) -> str | None:
    data = bytes(a ^ b for a, b in zip(sealed, _key_stream(secret, len(sealed)), strict=True))
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        return None


# ----------------------------------------------------------------- tokens --


async def create_token(
    db: Database,
    role: str,
    label: str | None = None,
    *,
    days: int | None = DEFAULT_TOKEN_DAYS,
    lifetime: timedelta | None = None,
    operator_id: str | None = None,
) -> str:
    """Store a new token with ``role``, valid for ``days`` (``None``: no expiry) — or for
    ``lifetime`` when given (1 minute to :data:`MAX_TOKEN_DAYS` days) — and return it (the
    only time it is seen in clear). An ``operator`` token names the ``operator_id`` (工号)
    it acts for; no other role may."""
    if role not in TOKEN_ROLES:
        raise ValueError(f"role must be one of {', '.join(TOKEN_ROLES)}")
    if role == "operator":
        operator_id = (operator_id or "").strip()
        if not _OPERATOR_ID.fullmatch(operator_id):
            raise ValueError("an operator token needs --operator-id: 1-32 letters or digits")
    elif operator_id is not None:
        raise ValueError("only an operator token names an operator id")
    if lifetime is not None:
        if not timedelta(minutes=1) <= lifetime <= timedelta(days=MAX_TOKEN_DAYS):
            raise ValueError(f"the lifetime must be 1 minute to {MAX_TOKEN_DAYS} days")
    elif days is not None:
        if not 1 <= days <= MAX_TOKEN_DAYS:
            raise ValueError(f"days must be 1 to {MAX_TOKEN_DAYS}")
        lifetime = timedelta(days=days)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = None if lifetime is None else func.now() + lifetime
    async with db.transaction("create token") as session:
        await session.execute(
            insert(ApiTokenRow).values(
                token_id=str(uuid.uuid4()),
                role=role,
                token_sha256=token_digest(token),
                label=label,
                expires_at=expires,
                operator_id=operator_id,
            )
        )
    return token


async def token_credential(session: AsyncSession, token: str) -> Credential | None:
    """The credential of a valid (unrevoked, unexpired) ``token``; ``None`` otherwise."""
    row = (
        await session.execute(
            select(
                ApiTokenRow.token_id,
                ApiTokenRow.role,
                ApiTokenRow.label,
                ApiTokenRow.expires_at,
                ApiTokenRow.operator_id,
            ).where(ApiTokenRow.token_sha256 == token_digest(token), _usable())
        )
    ).one_or_none()
    if row is None:
        return None
    return Credential(
        str(row.token_id),
        row.role,
        row.label,
        row.expires_at,
        token=token,
        operator_id=row.operator_id,
    )


async def role_of(session: AsyncSession, token: str) -> str | None:
    """The role of a valid (unrevoked, unexpired) ``token``; ``None`` otherwise."""
    credential = await token_credential(session, token)
    return None if credential is None else credential.role


async def _infos(session: AsyncSession, *where: ColumnElement[bool]) -> list[TokenInfo]:
    rows = await session.execute(
        select(
            ApiTokenRow.token_id,
            ApiTokenRow.role,
            ApiTokenRow.label,
            ApiTokenRow.created_at,
            ApiTokenRow.expires_at,
            ApiTokenRow.revoked_at,
            ApiTokenRow.operator_id,
            func.now().label("now"),
        )
        .where(*where)
        .order_by(ApiTokenRow.created_at, ApiTokenRow.token_id)
    )
    infos = []
    for row in rows:
        if row.revoked_at is not None:
            state = "revoked"
        elif row.expires_at is not None and row.expires_at <= row.now:
            state = "expired"
        else:
            state = "valid"
        infos.append(
            TokenInfo(
                str(row.token_id),
                row.role,
                row.label,
                row.created_at,
                row.expires_at,
                row.revoked_at,
                state,
                row.operator_id,
            )
        )
    return infos


async def list_tokens(db: Database) -> list[TokenInfo]:
    """Every stored token, oldest first (never the token itself: it is not stored)."""
    async with db.sessions() as session:
        return await _infos(session)


def _matching(ref: str) -> ColumnElement[bool]:
    """Which tokens ``ref`` names: the token itself, its id, or a unique id prefix."""
    ref = ref.strip()
    if ref.startswith(TOKEN_PREFIX):
        return ApiTokenRow.token_sha256 == token_digest(ref)
    ref = ref.lower()
    if _UUID.fullmatch(ref):
        return ApiTokenRow.token_id == ref
    if len(ref) >= MIN_ID_PREFIX and _ID_PREFIX.fullmatch(ref):
        return cast(ApiTokenRow.token_id, Text).startswith(ref, autoescape=True)
    raise TokenNotFound(
        f"{ref!r}: give a token id, at least {MIN_ID_PREFIX} characters of one, "
        f"or the token itself ({TOKEN_PREFIX}…)"
    )


async def revoke_token(db: Database, ref: str) -> TokenInfo:
    """Revoke the token ``ref`` names (its id, a unique id prefix, or the token) and delete
    its sessions, at once. Revoking a revoked token changes nothing. Raises
    :class:`TokenNotFound` or :class:`AmbiguousToken`."""
    where = _matching(ref)
    async with db.transaction("revoke token") as session:
        found = await _infos(session, where)
        if not found:
            raise TokenNotFound(f"no token matches {ref.strip()!r}")
        if len(found) > 1:
            ids = ", ".join(info.token_id for info in found)
            raise AmbiguousToken(f"{ref.strip()!r} matches several tokens: {ids}")
        token_id = found[0].token_id
        await session.execute(
            update(ApiTokenRow)
            .where(ApiTokenRow.token_id == token_id, ApiTokenRow.revoked_at.is_(None))
            .values(revoked_at=func.now())
        )
        await session.execute(delete(ApiSessionRow).where(ApiSessionRow.token_id == token_id))
        (info,) = await _infos(session, ApiTokenRow.token_id == token_id)
    return info


# --------------------------------------------------------------- sessions --


async def create_session(
    db: Database, token: str, *, seconds: float = SESSION_SECONDS
) -> tuple[str, Credential] | None:
    """Sign a browser in with ``token``: a new session (its secret, for the cookie, and its
    credential) lasting ``seconds`` but never past the token's expiry; ``None`` if the token
    is not valid. Sessions that have expired are deleted on the way."""
    secret = SESSION_PREFIX + secrets.token_urlsafe(32)
    async with db.transaction("create session") as session:
        credential = await token_credential(session, token)
        if credential is None:
            return None
        await session.execute(delete(ApiSessionRow).where(ApiSessionRow.expires_at <= func.now()))
        session_id = str(uuid.uuid4())
        expires_at = await session.scalar(
            insert(ApiSessionRow)
            .values(
                session_id=session_id,
                token_id=credential.token_id,
                session_sha256=token_digest(secret),
                token_sealed=_seal(secret, token),
                # least() skips a NULL: a token without expiry gives the session's own.
                expires_at=func.least(
                    func.now() + timedelta(seconds=seconds),
                    select(ApiTokenRow.expires_at)
                    .where(ApiTokenRow.token_id == credential.token_id)
                    .scalar_subquery(),
                ),
            )
            .returning(ApiSessionRow.expires_at)
        )
    return secret, Credential(
        credential.token_id,
        credential.role,
        credential.label,
        expires_at,
        session_id=session_id,
        token=token,
        operator_id=credential.operator_id,
    )


async def session_credential(session: AsyncSession, secret: str) -> Credential | None:
    """The credential of a live session whose cookie holds ``secret``: the session has not
    expired and its token is neither revoked nor expired; ``None`` otherwise."""
    row = (
        await session.execute(
            select(
                ApiSessionRow.session_id,
                ApiSessionRow.token_sealed,
                ApiSessionRow.expires_at,
                ApiTokenRow.token_id,
                ApiTokenRow.role,
                ApiTokenRow.label,
                ApiTokenRow.token_sha256,
                ApiTokenRow.operator_id,
            )
            .join(ApiTokenRow, ApiTokenRow.token_id == ApiSessionRow.token_id)
            .where(
                ApiSessionRow.session_sha256 == token_digest(secret),
                ApiSessionRow.expires_at > func.now(),
                _usable(),
            )
        )
    ).one_or_none()
    if row is None:
        return None
    token = _unseal(secret, row.token_sealed)
    if token is None or not hmac.compare_digest(token_digest(token), row.token_sha256):
        return None
    return Credential(
        str(row.token_id),
        row.role,
        row.label,
        row.expires_at,
        session_id=str(row.session_id),
        token=token,
        operator_id=row.operator_id,
    )


async def delete_session(db: Database, session_id: str) -> bool:
    """Sign a browser out: delete its session. Whether there was one."""
    async with db.transaction("delete session") as session:
        deleted = await session.execute(
            delete(ApiSessionRow)
            .where(ApiSessionRow.session_id == session_id)
            .returning(ApiSessionRow.session_id)
        )
        return deleted.first() is not None


async def still_valid(session: AsyncSession, credential: Credential) -> bool:
    """Whether ``credential`` is still good now: its token neither revoked nor expired and,
    for a browser session, the session neither deleted nor expired."""
    query = select(ApiTokenRow.token_id).where(
        ApiTokenRow.token_id == credential.token_id, _usable()
    )
    if credential.session_id is not None:
        query = query.join(ApiSessionRow, ApiSessionRow.token_id == ApiTokenRow.token_id).where(
            ApiSessionRow.session_id == credential.session_id,
            ApiSessionRow.expires_at > func.now(),
        )
    return await session.scalar(query) is not None
