"""Strategies and their immutable versions, per user.

Saving a strategy checks that it compiles in the sandbox, then adds version N+1, unless the
source is the latest version's already (saving twice changes nothing). Versions are never edited
or deleted: an assignment names the version it runs, and a decision can always be traced to the
exact source that made it.
"""

from __future__ import annotations

import msgspec
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tradewinds.storage.errors import InvalidRecord, RecordNotFound
from tradewinds.storage.trading_models import StrategyRow, StrategyVersionRow
from tradewinds.storage.users import User, now_ms

MAX_NAME_LENGTH = 120
MAX_SOURCE_BYTES = 256 * 1024
_SAVE_ATTEMPTS = 5  # two saves of one strategy at once: the loser numbers its version again


class InvalidStrategy(InvalidRecord):
    """The source does not compile; `line` is the strategy's line (None when Lua names none)."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


class StrategyVersion(msgspec.Struct, frozen=True):
    id: int
    strategy_id: int
    strategy: str
    number: int
    source: str
    created_ms: int


class StrategySummary(msgspec.Struct, frozen=True):
    id: int
    name: str
    versions: int
    latest_version: int
    created_ms: int
    latest_created_ms: int


class SavedVersion(msgspec.Struct, frozen=True):
    version: StrategyVersion
    created: bool  # False: the source equals the latest version's; nothing was added


def check_name(name: str, what: str = "strategy") -> str:
    cleaned = name.strip()
    if not cleaned:
        raise InvalidRecord(f"a {what} needs a name")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise InvalidRecord(f"{what} name is longer than {MAX_NAME_LENGTH} characters")
    if any(not char.isprintable() for char in cleaned):
        raise InvalidRecord(f"{what} name {cleaned!r} holds control characters")
    return cleaned


def check_source(source: str) -> None:
    """InvalidStrategy with the line and message when `source` does not compile in the sandbox."""
    from tradewinds.strategy.errors import StrategyError
    from tradewinds.strategy.history import check_strategy

    if len(source.encode()) > MAX_SOURCE_BYTES:
        raise InvalidStrategy(f"the strategy is larger than {MAX_SOURCE_BYTES // 1024} KiB", None)
    if not source.strip():
        raise InvalidStrategy("the strategy is empty", None)
    try:
        check_strategy(source)
    except StrategyError as exc:
        raise InvalidStrategy(exc.message, exc.line) from None


async def save_strategy(engine: AsyncEngine, user: User, name: str, source: str) -> SavedVersion:
    """Add `source` as the next version of the user's strategy `name` (created if new)."""
    name = check_name(name)
    check_source(source)
    for attempt in range(_SAVE_ATTEMPTS):
        try:
            return await _save(engine, user, name, source)
        except IntegrityError:
            if attempt == _SAVE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


async def _save(engine: AsyncEngine, user: User, name: str, source: str) -> SavedVersion:
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        strategy = await session.scalar(
            select(StrategyRow).where(StrategyRow.user_id == user.id, StrategyRow.name == name)
        )
        if strategy is None:
            strategy = StrategyRow(user_id=user.id, name=name, created_ms=now_ms())
            session.add(strategy)
            await session.flush()
        latest = await session.scalar(
            select(StrategyVersionRow)
            .where(StrategyVersionRow.strategy_id == strategy.id)
            .order_by(StrategyVersionRow.number.desc())
            .limit(1)
        )
        if latest is not None and latest.source == source:
            return SavedVersion(_version(latest, strategy), created=False)
        row = StrategyVersionRow(
            strategy_id=strategy.id,
            number=1 if latest is None else latest.number + 1,
            source=source,
            created_ms=now_ms(),
        )
        session.add(row)
        await session.flush()
        return SavedVersion(_version(row, strategy), created=True)


async def list_strategies(engine: AsyncEngine, user: User) -> list[StrategySummary]:
    query = (
        select(
            StrategyRow,
            func.count(StrategyVersionRow.id),
            func.max(StrategyVersionRow.number),
            func.max(StrategyVersionRow.created_ms),
        )
        .join(StrategyVersionRow, StrategyVersionRow.strategy_id == StrategyRow.id)
        .where(StrategyRow.user_id == user.id)
        .group_by(StrategyRow.id)
        .order_by(StrategyRow.name)
    )
    async with AsyncSession(engine) as session:
        rows = (await session.execute(query)).all()
    return [
        StrategySummary(
            id=strategy.id,
            name=strategy.name,
            versions=count,
            latest_version=latest,
            created_ms=strategy.created_ms,
            latest_created_ms=latest_ms,
        )
        for strategy, count, latest, latest_ms in rows
    ]


async def get_version(
    engine: AsyncEngine, user: User, name: str, number: int | None = None
) -> StrategyVersion:
    """Version `number` of the user's strategy `name` (None: the latest)."""
    name = name.strip()
    query = (
        select(StrategyVersionRow, StrategyRow)
        .join(StrategyRow, StrategyVersionRow.strategy_id == StrategyRow.id)
        .where(StrategyRow.user_id == user.id, StrategyRow.name == name)
    )
    if number is not None:
        query = query.where(StrategyVersionRow.number == number)
    query = query.order_by(StrategyVersionRow.number.desc()).limit(1)
    async with AsyncSession(engine) as session:
        found = (await session.execute(query)).first()
    if found is None:
        if number is None or not await _exists(engine, user, name):
            raise RecordNotFound(f"{user.email} has no strategy {name!r}")
        raise RecordNotFound(f"strategy {name!r} of {user.email} has no version {number}")
    return _version(found[0], found[1])


async def list_versions(engine: AsyncEngine, user: User, name: str) -> list[StrategyVersion]:
    query = (
        select(StrategyVersionRow, StrategyRow)
        .join(StrategyRow, StrategyVersionRow.strategy_id == StrategyRow.id)
        .where(StrategyRow.user_id == user.id, StrategyRow.name == name.strip())
        .order_by(StrategyVersionRow.number)
    )
    async with AsyncSession(engine) as session:
        rows = (await session.execute(query)).all()
    if not rows:
        raise RecordNotFound(f"{user.email} has no strategy {name.strip()!r}")
    return [_version(version, strategy) for version, strategy in rows]


async def _exists(engine: AsyncEngine, user: User, name: str) -> bool:
    async with AsyncSession(engine) as session:
        found = await session.scalar(
            select(StrategyRow.id).where(StrategyRow.user_id == user.id, StrategyRow.name == name)
        )
    return found is not None


def _version(row: StrategyVersionRow, strategy: StrategyRow) -> StrategyVersion:
    return StrategyVersion(
        id=row.id,
        strategy_id=strategy.id,
        strategy=strategy.name,
        number=row.number,
        source=row.source,
        created_ms=row.created_ms,
    )
