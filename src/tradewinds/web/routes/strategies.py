"""Strategies and their versions. Saving is adding a version: versions are never edited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tradewinds.storage import strategies
from tradewinds.storage.errors import InvalidRecord, RecordNotFound
from tradewinds.storage.trading_models import StrategyRow, StrategyVersionRow
from tradewinds.storage.users import User
from tradewinds.web.checking import check_source, templates
from tradewinds.web.deps import CurrentUser, Engine
from tradewinds.web.errors import Conflict, Invalid, not_found
from tradewinds.web.paging import ItemId, Limit, Offset, page
from tradewinds.web.schemas import (
    ERROR_RESPONSES,
    CheckIn,
    CheckOut,
    Page,
    StrategyIn,
    StrategyOut,
    TemplateOut,
    VersionIn,
    VersionOut,
)

router = APIRouter(responses=ERROR_RESPONSES, tags=["strategies"])


def version_out(v: strategies.StrategyVersion) -> VersionOut:
    return VersionOut(
        id=v.id, strategy_id=v.strategy_id, number=v.number, source=v.source, created_ms=v.created_ms
    )


async def owned_strategy(engine: AsyncEngine, user: User, strategy_id: int) -> StrategyRow:
    async with AsyncSession(engine) as session:
        row = await session.scalar(
            select(StrategyRow).where(StrategyRow.id == strategy_id, StrategyRow.user_id == user.id)
        )
    if row is None:
        raise not_found("strategy", strategy_id)
    return row


async def owned_version(engine: AsyncEngine, user: User, version_id: int) -> strategies.StrategyVersion:
    """A version of one of the user's strategies, or 404 (someone else's looks like no version)."""
    query = (
        select(StrategyVersionRow, StrategyRow)
        .join(StrategyRow, StrategyVersionRow.strategy_id == StrategyRow.id)
        .where(StrategyVersionRow.id == version_id, StrategyRow.user_id == user.id)
    )
    async with AsyncSession(engine) as session:
        found = (await session.execute(query)).first()
    if found is None:
        raise not_found("strategy version", version_id)
    version, strategy = found
    return strategies.StrategyVersion(
        id=version.id,
        strategy_id=strategy.id,
        strategy=strategy.name,
        number=version.number,
        source=version.source,
        created_ms=version.created_ms,
    )


async def _save(engine: AsyncEngine, user: User, name: str, source: str) -> strategies.SavedVersion:
    try:
        return await strategies.save_strategy(engine, user, name, source)
    except strategies.InvalidStrategy as exc:
        where = f"line {exc.line}: " if exc.line else ""
        raise Invalid(f"{where}{exc}", "source") from None
    except InvalidRecord as exc:
        raise Invalid(str(exc), "name") from None


def _summary(s: strategies.StrategySummary) -> StrategyOut:
    return StrategyOut(
        id=s.id,
        name=s.name,
        latest_version=s.latest_version,
        created_ms=s.created_ms,
        updated_ms=s.latest_created_ms,
    )


@router.get("/strategies", response_model=Page[StrategyOut])
async def list_strategies(
    user: CurrentUser,
    engine: Engine,
    offset: Offset = 0,
    limit: Limit = 50,
    q: Annotated[str | None, Query(max_length=120, description="part of the name")] = None,
) -> Page[StrategyOut]:
    found = await strategies.list_strategies(engine, user)
    if q:
        found = [s for s in found if q.lower() in s.name.lower()]
    return page([_summary(s) for s in found], offset, limit)


@router.post("/strategies", status_code=201, response_model=VersionOut)
async def create_strategy(body: StrategyIn, user: CurrentUser, engine: Engine) -> VersionOut:
    """A new strategy with its first version (the source must compile)."""
    if any(s.name == body.name for s in await strategies.list_strategies(engine, user)):
        raise Conflict(
            f"you already have a strategy named {body.name!r}; save a new version of it instead", "name"
        )
    return version_out((await _save(engine, user, body.name, body.source)).version)


@router.get("/strategies/{strategy_id}", response_model=StrategyOut)
async def get_strategy(strategy_id: ItemId, user: CurrentUser, engine: Engine) -> StrategyOut:
    row = await owned_strategy(engine, user, strategy_id)
    async with AsyncSession(engine) as session:
        latest, latest_ms = (
            await session.execute(
                select(func.max(StrategyVersionRow.number), func.max(StrategyVersionRow.created_ms)).where(
                    StrategyVersionRow.strategy_id == row.id
                )
            )
        ).one()
    return StrategyOut(
        id=row.id,
        name=row.name,
        latest_version=latest or 0,
        created_ms=row.created_ms,
        updated_ms=latest_ms or row.created_ms,
    )


@router.get("/strategies/{strategy_id}/versions", response_model=Page[VersionOut])
async def list_versions(
    strategy_id: ItemId, user: CurrentUser, engine: Engine, offset: Offset = 0, limit: Limit = 50
) -> Page[VersionOut]:
    row = await owned_strategy(engine, user, strategy_id)
    versions = await strategies.list_versions(engine, user, row.name)
    return page([version_out(v) for v in reversed(versions)], offset, limit)


@router.post("/strategies/{strategy_id}/versions", status_code=201, response_model=VersionOut)
async def add_version(strategy_id: ItemId, body: VersionIn, user: CurrentUser, engine: Engine) -> VersionOut:
    """Save: a new version when the source differs from the latest (else the latest, unchanged)."""
    row = await owned_strategy(engine, user, strategy_id)
    return version_out((await _save(engine, user, row.name, body.source)).version)


@router.get("/strategies/{strategy_id}/versions/{number}", response_model=VersionOut)
async def get_version(strategy_id: ItemId, number: ItemId, user: CurrentUser, engine: Engine) -> VersionOut:
    row = await owned_strategy(engine, user, strategy_id)
    if not 1 <= number <= 2**31:
        raise not_found("version", number)
    try:
        return version_out(await strategies.get_version(engine, user, row.name, number))
    except RecordNotFound:
        raise not_found("version", number) from None


@router.post("/strategies/check", response_model=CheckOut)
async def check(body: CheckIn, user: CurrentUser) -> CheckOut:
    """Check a source without saving it: compile errors and dry-run errors at their lines."""
    return await check_source(body.source)


@router.get("/strategy-templates", response_model=list[TemplateOut])
async def list_templates(user: CurrentUser) -> list[TemplateOut]:
    return templates()
