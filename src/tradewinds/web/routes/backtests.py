"""Backtests: submitted, queued per user, run in the background; progress, cancel, results."""

from __future__ import annotations

import json
import secrets
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tradewinds.domain.timeframes import Timeframe
from tradewinds.storage.trading_models import StrategyRow, StrategyVersionRow
from tradewinds.storage.users import User
from tradewinds.storage.web_models import BacktestRow
from tradewinds.web.backtests import FINISHED, QUEUED
from tradewinds.web.deps import CurrentUser, Engine
from tradewinds.web.errors import Conflict, Invalid, not_found
from tradewinds.web.paging import ItemId, Limit, Offset
from tradewinds.web.routes.strategies import owned_version
from tradewinds.web.schemas import (
    ERROR_RESPONSES,
    BacktestIn,
    BacktestOut,
    BacktestResultOut,
    MetricsOut,
    Page,
    TimeframeText,
)
from tradewinds.web.sessions import now_ms

router = APIRouter(responses=ERROR_RESPONSES, tags=["backtests"])

MAX_QUEUED_PER_USER = 20


def backtest_out(
    row: BacktestRow, strategy: str, strategy_id: int, number: int, with_result: bool
) -> BacktestOut:
    result = BacktestResultOut.model_validate_json(row.result) if with_result and row.result else None
    metrics = MetricsOut.model_validate_json(row.metrics) if row.metrics else None
    return BacktestOut(
        id=row.id,
        status=row.status,  # type: ignore[arg-type]
        progress=row.progress,
        error=row.error,
        strategy=strategy,
        strategy_id=strategy_id,
        version=number,
        version_id=row.version_id,
        exchange=row.exchange,
        symbol=row.symbol,
        upload_name=_shown_name(row.upload_name),
        timeframe=row.timeframe,
        since_ms=row.since_ms,
        until_ms=row.until_ms,
        cash=row.cash,
        fee=row.fee,
        params=json.loads(row.params or "{}"),
        created_ms=row.created_ms,
        finished_ms=row.finished_ms,
        metrics=metrics,
        result=result,
    )


def _shown_name(stored: str | None) -> str | None:
    return None if stored is None else stored.split("-", 2)[-1]


def _query(user: User):  # type: ignore[no-untyped-def]
    return (
        select(BacktestRow, StrategyRow.name, StrategyRow.id, StrategyVersionRow.number)
        .join(StrategyVersionRow, StrategyVersionRow.id == BacktestRow.version_id)
        .join(StrategyRow, StrategyRow.id == StrategyVersionRow.strategy_id)
        .where(BacktestRow.user_id == user.id)
    )


async def _owned(engine: AsyncEngine, user: User, backtest_id: int, with_result: bool = True) -> BacktestOut:
    async with AsyncSession(engine) as session:
        found = (await session.execute(_query(user).where(BacktestRow.id == backtest_id))).first()
    if found is None:
        raise not_found("backtest", backtest_id)
    return backtest_out(found[0], found[1], found[2], found[3], with_result)


async def _queued_count(engine: AsyncEngine, user: User) -> int:
    async with AsyncSession(engine) as session:
        return int(
            await session.scalar(
                select(func.count(BacktestRow.id)).where(
                    BacktestRow.user_id == user.id, BacktestRow.status.not_in(FINISHED)
                )
            )
            or 0
        )


async def _submit(request: Request, engine: AsyncEngine, user: User, row: BacktestRow) -> BacktestOut:
    if await _queued_count(engine, user) >= MAX_QUEUED_PER_USER:
        raise Conflict(f"you have {MAX_QUEUED_PER_USER} backtests waiting; let them finish or cancel some")
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        session.add(row)
    request.app.state.backtests.submit(user.id, row.id)
    return await _owned(engine, user, row.id)


def _check_money(cash: str, fee: str) -> tuple[str, str]:
    if float(cash) <= 0:
        raise Invalid("the starting cash must be positive", "cash")
    if not 0 <= float(fee) < 0.5:
        raise Invalid("the fee is a fraction of each trade, e.g. 0.001 for 0.1%", "fee")
    return cash.strip(), fee.strip()


@router.post("/backtests", status_code=202, response_model=BacktestOut)
async def create_backtest(
    body: BacktestIn, request: Request, user: CurrentUser, engine: Engine
) -> BacktestOut:
    """Backtest a strategy version on stored candles of a market (a timeframe not stored is rolled
    up from a finer one). Runs in the background: poll the item for progress and the result."""
    await owned_version(engine, user, body.version_id)
    if body.since_ms is not None and body.until_ms is not None and body.since_ms > body.until_ms:
        raise Invalid("since_ms must not be after until_ms", "since_ms")
    cash, fee = _check_money(body.cash, body.fee)
    row = BacktestRow(
        user_id=user.id,
        version_id=body.version_id,
        exchange=body.exchange.lower(),
        symbol=body.symbol.upper(),
        timeframe=body.timeframe,
        since_ms=body.since_ms,
        until_ms=body.until_ms,
        cash=cash,
        fee=fee,
        params=json.dumps(body.params),
        status=QUEUED,
        progress=0.0,
        created_ms=now_ms(),
    )
    return await _submit(request, engine, user, row)


@router.post("/backtests/upload", status_code=202, response_model=BacktestOut)
async def upload_backtest(
    request: Request,
    user: CurrentUser,
    engine: Engine,
    file: Annotated[UploadFile, File(description="candle CSV: timestamp_ms,open,high,low,close,volume")],
    version_id: Annotated[int, Form(ge=1, le=2**53)],
    timeframe: Annotated[TimeframeText, Form()] = "1h",
    cash: Annotated[str, Form(max_length=40, pattern=r"^\s*[0-9]+(\.[0-9]+)?\s*$")] = "10000",
    fee: Annotated[str, Form(max_length=40, pattern=r"^\s*[0-9]+(\.[0-9]+)?\s*$")] = "0.001",
    params: Annotated[str, Form(max_length=4000)] = "{}",
) -> BacktestOut:
    """Backtest on an uploaded candle CSV (checked before it is queued: a bad line is named)."""
    from tradewinds.domain.candle_checks import CandleFileError
    from tradewinds.domain.candle_csv import parse_candle_bytes

    await owned_version(engine, user, version_id)
    cash, fee = _check_money(cash, fee)
    try:
        values = json.loads(params)
        assert isinstance(values, dict) and all(
            isinstance(v, (int, float, str, bool)) for v in values.values()
        )
    except (ValueError, AssertionError):
        raise Invalid(
            'params must be a JSON object of numbers, strings and booleans, e.g. {"fast": 5}', "params"
        ) from None
    limit = request.app.state.settings.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise Invalid(f"the file is larger than {limit // (1024 * 1024)} MiB", "file")
    name = (file.filename or "candles.csv").replace("/", "_").replace("\\", "_")[-120:]
    try:
        candles = parse_candle_bytes(data, name)
    except (CandleFileError, ValueError) as exc:
        raise Invalid(str(exc), "file") from None
    if len(candles) == 0:
        raise Invalid(f"{name} holds no candles", "file")
    folder = request.app.state.upload_folder
    stored = f"{user.id}-{secrets.token_hex(6)}-{name}"
    (folder / stored).write_bytes(data)
    row = BacktestRow(
        user_id=user.id,
        version_id=version_id,
        upload_name=stored,
        timeframe=Timeframe(timeframe).value,
        cash=cash,
        fee=fee,
        params=json.dumps(values),
        status=QUEUED,
        progress=0.0,
        created_ms=now_ms(),
    )
    return await _submit(request, engine, user, row)


@router.get("/backtests", response_model=Page[BacktestOut])
async def list_backtests(
    user: CurrentUser, engine: Engine, offset: Offset = 0, limit: Limit = 50
) -> Page[BacktestOut]:
    async with AsyncSession(engine) as session:
        total = int(
            await session.scalar(select(func.count(BacktestRow.id)).where(BacktestRow.user_id == user.id))
            or 0
        )
        rows = (
            await session.execute(_query(user).order_by(BacktestRow.id.desc()).offset(offset).limit(limit))
        ).all()
    items = [backtest_out(r[0], r[1], r[2], r[3], with_result=False) for r in rows]
    return Page[BacktestOut](items=items, total=total, offset=offset, limit=limit)


@router.get("/backtests/{backtest_id}", response_model=BacktestOut)
async def get_backtest(backtest_id: ItemId, user: CurrentUser, engine: Engine) -> BacktestOut:
    return await _owned(engine, user, backtest_id)


@router.post("/backtests/{backtest_id}/cancel", response_model=BacktestOut)
async def cancel_backtest(
    backtest_id: ItemId, request: Request, user: CurrentUser, engine: Engine
) -> BacktestOut:
    current = await _owned(engine, user, backtest_id, with_result=False)
    if current.status in FINISHED:
        raise Conflict(f"backtest {backtest_id} has already finished ({current.status})")
    await request.app.state.backtests.cancel(user.id, backtest_id)
    return await _owned(engine, user, backtest_id)


@router.delete("/backtests/{backtest_id}", status_code=204)
async def delete_backtest(
    backtest_id: ItemId, request: Request, user: CurrentUser, engine: Engine, response: Response
) -> Response:
    current = await _owned(engine, user, backtest_id, with_result=False)
    if current.status not in FINISHED:
        await request.app.state.backtests.cancel(user.id, backtest_id)
    async with AsyncSession(engine) as session, session.begin():
        row = await session.get(BacktestRow, backtest_id)
        if row is not None:
            await session.delete(row)
    response.status_code = 204
    return response
