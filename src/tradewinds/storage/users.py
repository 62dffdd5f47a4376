"""Users: who owns strategies, accounts and assignments, and their per-user trading switch.

Emails are stored lower-cased (one person, one row, however they type it). The first user ever
created is an administrator, so a fresh installation always has someone who can administer it.
"""

from __future__ import annotations

import re
import time

import msgspec
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tradewinds.storage.errors import InvalidRecord, RecordNotFound
from tradewinds.storage.passwords import hash_password, verify_password
from tradewinds.storage.trading_models import UserRow

MAX_EMAIL_LENGTH = 320
# Deliberately simple: one @, a dot in the domain, no spaces. Delivery proves the rest.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


class User(msgspec.Struct, frozen=True):
    id: int
    email: str
    is_admin: bool
    trading_paused: bool
    created_ms: int


def normalize_email(text: str) -> str:
    """`text` stripped and lower-cased, or InvalidRecord saying why it is no email address."""
    email = text.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidRecord(f"email address is longer than {MAX_EMAIL_LENGTH} characters")
    if not _EMAIL.match(email):
        raise InvalidRecord(f"{text!r} is not an email address (expected name@example.com)")
    return email


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def add_user(engine: AsyncEngine, email: str, password: str, admin: bool = False) -> User:
    """Create a user (an administrator if asked, or if it is the first user ever)."""
    address = normalize_email(email)
    password_hash = await hash_password(password)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
            first = (await session.scalar(select(func.count()).select_from(UserRow))) == 0
            row = UserRow(
                email=address,
                password_hash=password_hash,
                is_admin=admin or first,
                trading_paused=False,
                created_ms=now_ms(),
            )
            session.add(row)
    except IntegrityError:
        raise InvalidRecord(f"a user {address} already exists") from None
    return _view(row)


async def get_user(engine: AsyncEngine, email: str) -> User:
    address = normalize_email(email)
    async with AsyncSession(engine) as session:
        row = await session.scalar(select(UserRow).where(UserRow.email == address))
    if row is None:
        raise RecordNotFound(f"no user {address}")
    return _view(row)


async def get_user_by_id(engine: AsyncEngine, user_id: int) -> User:
    async with AsyncSession(engine) as session:
        row = await session.get(UserRow, user_id)
    if row is None:
        raise RecordNotFound(f"no user with id {user_id}")
    return _view(row)


async def list_users(engine: AsyncEngine) -> list[User]:
    async with AsyncSession(engine) as session:
        rows = (await session.scalars(select(UserRow).order_by(UserRow.id))).all()
    return [_view(row) for row in rows]


async def set_trading_paused(engine: AsyncEngine, user: User, paused: bool) -> User:
    """Pause (no new orders for any of the user's assignments) or resume the user's trading."""
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        row = await session.get(UserRow, user.id)
        if row is None:
            raise RecordNotFound(f"no user {user.email}")
        row.trading_paused = paused
    return _view(row)


async def authenticate(engine: AsyncEngine, email: str, password: str) -> User | None:
    """The user if `password` is theirs, else None (the same answer for an unknown email)."""
    try:
        address = normalize_email(email)
    except InvalidRecord:
        return None
    async with AsyncSession(engine) as session:
        row = await session.scalar(select(UserRow).where(UserRow.email == address))
    if row is None:
        return None
    return _view(row) if await verify_password(row.password_hash, password) else None


def _view(row: UserRow) -> User:
    return User(
        id=row.id,
        email=row.email,
        is_admin=row.is_admin,
        trading_paused=row.trading_paused,
        created_ms=row.created_ms,
    )
