"""Sign-in sessions and personal API tokens, as rows holding only digests of the secrets."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tradewinds.storage.web_models import ApiTokenRow, WebSessionRow
from tradewinds.web.security import digest, new_api_token, new_secret


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class NewSession:
    token: str  # for the cookie; only its digest is stored
    csrf_token: str
    expires_ms: int


@dataclass(frozen=True)
class SessionUser:
    user_id: int
    csrf_token: str


async def start_session(engine: AsyncEngine, user_id: int, days: float) -> NewSession:
    token, csrf = new_secret(), new_secret()
    created = now_ms()
    expires = created + int(days * 86_400_000)
    async with engine.begin() as conn:
        await conn.execute(
            insert(WebSessionRow).values(
                user_id=user_id,
                token_hash=digest(token),
                csrf_token=csrf,
                created_ms=created,
                expires_ms=expires,
            )
        )
        # Expired sessions of anyone are removed as new ones start: the table stays small.
        await conn.execute(delete(WebSessionRow).where(WebSessionRow.expires_ms < created))
    return NewSession(token, csrf, expires)


async def session_user(engine: AsyncEngine, token: str) -> SessionUser | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(WebSessionRow.user_id, WebSessionRow.csrf_token, WebSessionRow.expires_ms).where(
                    WebSessionRow.token_hash == digest(token)
                )
            )
        ).first()
    if row is None or row.expires_ms < now_ms():
        return None
    return SessionUser(row.user_id, row.csrf_token)


async def end_session(engine: AsyncEngine, token: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(WebSessionRow).where(WebSessionRow.token_hash == digest(token)))


async def end_all_sessions(engine: AsyncEngine, user_id: int, keep_token: str | None = None) -> None:
    """After a password change: every other browser signs in again."""
    query = delete(WebSessionRow).where(WebSessionRow.user_id == user_id)
    if keep_token is not None:
        query = query.where(WebSessionRow.token_hash != digest(keep_token))
    async with engine.begin() as conn:
        await conn.execute(query)


@dataclass(frozen=True)
class ApiToken:
    id: int
    name: str
    prefix: str
    created_ms: int
    last_used_ms: int | None


async def create_token(engine: AsyncEngine, user_id: int, name: str) -> tuple[ApiToken, str]:
    """The new token's record and the token itself, which is never shown again."""
    token = new_api_token()
    created = now_ms()
    prefix = token[:10]
    async with engine.begin() as conn:
        result = await conn.execute(
            insert(ApiTokenRow).values(
                user_id=user_id,
                name=name,
                token_hash=digest(token),
                prefix=prefix,
                created_ms=created,
                revoked=False,
            )
        )
        token_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    return ApiToken(token_id, name, prefix, created, None), token


async def list_tokens(engine: AsyncEngine, user_id: int) -> list[ApiToken]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(ApiTokenRow)
            .where(ApiTokenRow.user_id == user_id, ApiTokenRow.revoked.is_(False))
            .order_by(ApiTokenRow.id)
        )
        return [ApiToken(r.id, r.name, r.prefix, r.created_ms, r.last_used_ms) for r in rows]


async def revoke_token(engine: AsyncEngine, user_id: int, token_id: int) -> bool:
    async with engine.begin() as conn:
        result = await conn.execute(
            update(ApiTokenRow)
            .where(ApiTokenRow.id == token_id, ApiTokenRow.user_id == user_id, ApiTokenRow.revoked.is_(False))
            .values(revoked=True)
        )
    return bool(result.rowcount)


async def token_user(engine: AsyncEngine, token: str) -> int | None:
    hashed = digest(token)
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                select(ApiTokenRow.id, ApiTokenRow.user_id).where(
                    ApiTokenRow.token_hash == hashed, ApiTokenRow.revoked.is_(False)
                )
            )
        ).first()
        if row is None:
            return None
        await conn.execute(update(ApiTokenRow).where(ApiTokenRow.id == row.id).values(last_used_ms=now_ms()))
    return int(row.user_id)
