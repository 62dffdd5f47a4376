"""Assignments: a strategy version trading a market on an account, with its live state (last
evaluation, position, realised and unrealised P&L) computed from its recorded fills."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tradewinds.domain.candles import SeriesKey
from tradewinds.domain.ledger import LedgerError, equity, held_position, replay, unrealized_pnl
from tradewinds.domain.timeframes import Timeframe
from tradewinds.storage import assignments
from tradewinds.storage.candles import CandleStore
from tradewinds.storage.errors import InvalidRecord, RecordNotFound
from tradewinds.storage.orders import fills_of_assignment
from tradewinds.storage.trading_models import StrategyVersionRow
from tradewinds.storage.users import User
from tradewinds.web.deps import CurrentUser, Engine
from tradewinds.web.errors import Invalid, not_found
from tradewinds.web.events import publish_assignments_changed
from tradewinds.web.paging import ItemId, Limit, Offset, page
from tradewinds.web.routes.accounts import owned_account_name
from tradewinds.web.routes.strategies import owned_version
from tradewinds.web.schemas import (
    ERROR_RESPONSES,
    AssignmentIn,
    AssignmentOut,
    AssignmentPatch,
    LastEvaluationOut,
    Page,
)

router = APIRouter(responses=ERROR_RESPONSES, tags=["assignments"])

_FAILED = ("error", "timeout", "memory")


async def _latest_close(
    store: CandleStore, exchange: str, symbol: str, cache: dict[tuple[str, str], float | None]
) -> float | None:
    if (exchange, symbol) not in cache:
        last = await store.last(SeriesKey(exchange, symbol, Timeframe.M1), 1)
        cache[(exchange, symbol)] = last[-1].close if last else None
    return cache[(exchange, symbol)]


async def _strategy_ids(engine: AsyncEngine, version_ids: set[int]) -> dict[int, int]:
    if not version_ids:
        return {}
    query = select(StrategyVersionRow.id, StrategyVersionRow.strategy_id).where(
        StrategyVersionRow.id.in_(version_ids)
    )
    async with engine.connect() as conn:
        return {int(v): int(s) for v, s in (await conn.execute(query)).all()}


async def assignment_states(
    engine: AsyncEngine, views: list[assignments.AssignmentView]
) -> list[AssignmentOut]:
    store = CandleStore(engine)
    strategy_of = await _strategy_ids(engine, {v.version_id for v in views})
    prices: dict[tuple[str, str], float | None] = {}
    out = []
    for view in views:
        base, _, quote = view.symbol.partition("/")
        try:
            book = replay(view.allocation, base, quote, await fills_of_assignment(engine, view.id))
        except LedgerError:
            book = replay(view.allocation, base, quote, [])
        price = await _latest_close(store, view.exchange, view.symbol, prices)
        mark = None if price is None else Decimal(repr(price))
        failed = view.last_eval_outcome in _FAILED
        last = None
        if view.last_eval_outcome is not None:
            last = LastEvaluationOut(
                candle_time_ms=view.last_eval_candle_ms,
                result=view.last_eval_target
                if view.last_eval_outcome == "decided"
                else view.last_eval_outcome,
                error=view.last_eval_message if failed else None,
                evaluated_ms=None,
            )
        out.append(
            AssignmentOut(
                id=view.id,
                strategy_id=strategy_of.get(view.version_id, 0),
                strategy=view.strategy,
                version_id=view.version_id,
                version=view.version,
                exchange=view.exchange,
                symbol=view.symbol,
                timeframe=view.timeframe,
                account_id=view.account_id,
                account=view.account,
                allocation=str(view.allocation),
                params=view.params,
                enabled=view.enabled,
                disabled_reason=view.disabled_reason,
                position="long" if held_position(book, mark) == "long" else "short",
                base_held=str(book.base),
                quote_held=str(book.quote),
                realized_pnl=str(book.realized_pnl),
                unrealized_pnl=str(Decimal(0) if mark is None else unrealized_pnl(book, mark)),
                fees=str(book.fees),
                equity=str(book.quote if mark is None else equity(book, mark)),
                last_price=None if price is None else repr(price),
                last_evaluation=last,
                created_ms=view.created_ms,
            )
        )
    return out


async def owned_assignment(engine: AsyncEngine, user: User, assignment_id: int) -> assignments.AssignmentView:
    try:
        return await assignments.get_assignment(engine, user, assignment_id)
    except RecordNotFound:
        raise not_found("assignment", assignment_id) from None


@router.get("/assignments", response_model=Page[AssignmentOut])
async def list_assignments(
    user: CurrentUser, engine: Engine, offset: Offset = 0, limit: Limit = 100
) -> Page[AssignmentOut]:
    views = await assignments.list_assignments(engine, user)
    shown = page(views, offset, limit)
    return page(await assignment_states(engine, shown.items), 0, limit).model_copy(
        update={"total": shown.total, "offset": offset}
    )


@router.post("/assignments", status_code=201, response_model=AssignmentOut)
async def create_assignment(
    body: AssignmentIn, request: Request, user: CurrentUser, engine: Engine
) -> AssignmentOut:
    version = await owned_version(engine, user, body.version_id)
    account = await owned_account_name(engine, user, body.account_id)
    try:
        created = await assignments.add_assignment(
            engine,
            user,
            strategy=version.strategy,
            version=version.number,
            exchange=body.exchange,
            symbol=body.symbol,
            timeframe=body.timeframe,
            account=account,
            allocation=Decimal(body.allocation.strip()),
            params=dict(body.params),
        )
    except InvalidRecord as exc:
        text = str(exc)
        field = (
            "allocation"
            if "allocation" in text or "balance" in text
            else "symbol"
            if "symbol" in text
            else "account_id"
        )
        raise Invalid(text, field) from None
    await publish_assignments_changed(
        request.app, user_id=user.id, assignment_id=created.id, reason="assigned"
    )
    return (await assignment_states(engine, [created]))[0]


@router.get("/assignments/{assignment_id}", response_model=AssignmentOut)
async def get_assignment(assignment_id: ItemId, user: CurrentUser, engine: Engine) -> AssignmentOut:
    return (await assignment_states(engine, [await owned_assignment(engine, user, assignment_id)]))[0]


@router.patch("/assignments/{assignment_id}", response_model=AssignmentOut)
async def update_assignment(
    assignment_id: ItemId, body: AssignmentPatch, request: Request, user: CurrentUser, engine: Engine
) -> AssignmentOut:
    """Enable or disable. Disabling stops new decisions; what the slice holds stays held."""
    await owned_assignment(engine, user, assignment_id)
    try:
        updated = await assignments.set_assignment_enabled(engine, user, assignment_id, body.enabled)
    except InvalidRecord as exc:
        raise Invalid(str(exc), "enabled") from None
    await publish_assignments_changed(
        request.app,
        user_id=user.id,
        assignment_id=assignment_id,
        reason="enabled" if body.enabled else "disabled",
    )
    return (await assignment_states(engine, [updated]))[0]


@router.delete("/assignments/{assignment_id}", status_code=204)
async def disable_assignment(
    assignment_id: ItemId, request: Request, user: CurrentUser, engine: Engine, response: Response
) -> Response:
    """Assignments are kept for their orders' history: deleting one disables it."""
    await owned_assignment(engine, user, assignment_id)
    await assignments.set_assignment_enabled(
        engine, user, assignment_id, False, reason="removed by its owner"
    )
    await publish_assignments_changed(
        request.app, user_id=user.id, assignment_id=assignment_id, reason="removed"
    )
    response.status_code = 204
    return response
