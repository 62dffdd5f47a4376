"""Orders the platform placed for the user's assignments, newest first."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tradewinds.storage.orders import OrderRecord, order_record
from tradewinds.storage.trading_models import OrderRow
from tradewinds.web.deps import CurrentUser, Engine
from tradewinds.web.errors import not_found
from tradewinds.web.paging import ItemId, Limit, Offset
from tradewinds.web.schemas import ERROR_RESPONSES, OrderOut, Page

router = APIRouter(responses=ERROR_RESPONSES, tags=["orders"])

OrderStatus = Literal["pending", "open", "filled", "canceled", "rejected", "failed"]


def order_out(o: OrderRecord) -> OrderOut:
    return OrderOut(
        id=o.id,
        assignment_id=o.assignment_id,
        client_order_id=o.client_order_id,
        candle_time_ms=o.candle_time_ms,
        exchange=o.exchange,
        symbol=o.symbol,
        side="buy" if o.side == "buy" else "sell",
        amount=str(o.amount),
        filled=str(o.filled),
        price=None if o.price is None else str(o.price),
        fee=str(o.fee),
        fee_currency=o.fee_currency,
        status=o.status,  # type: ignore[arg-type]
        error=o.error,
        created_ms=o.created_ms,
        updated_ms=o.updated_ms,
    )


async def recent_orders(
    engine: AsyncEngine,
    user_id: int,
    limit: int,
    offset: int = 0,
    assignment_id: int | None = None,
    status: str | None = None,
) -> tuple[list[OrderOut], int]:
    where = [OrderRow.user_id == user_id]
    if assignment_id is not None:
        where.append(OrderRow.assignment_id == assignment_id)
    if status is not None:
        where.append(OrderRow.status == status)
    async with AsyncSession(engine) as session:
        total = int(await session.scalar(select(func.count(OrderRow.id)).where(*where)) or 0)
        rows = (
            await session.scalars(
                select(OrderRow).where(*where).order_by(OrderRow.id.desc()).offset(offset).limit(limit)
            )
        ).all()
    return [order_out(order_record(r)) for r in rows], total


@router.get("/orders", response_model=Page[OrderOut])
async def list_orders(
    user: CurrentUser,
    engine: Engine,
    offset: Offset = 0,
    limit: Limit = 100,
    assignment_id: Annotated[int | None, Query(ge=1, le=2**53)] = None,
    status: OrderStatus | None = None,
) -> Page[OrderOut]:
    items, total = await recent_orders(engine, user.id, limit, offset, assignment_id, status)
    return Page[OrderOut](items=items, total=total, offset=offset, limit=limit)


@router.get("/orders/{order_id}", response_model=OrderOut)
async def get_order(order_id: ItemId, user: CurrentUser, engine: Engine) -> OrderOut:
    async with AsyncSession(engine) as session:
        row = await session.scalar(
            select(OrderRow).where(OrderRow.id == order_id, OrderRow.user_id == user.id)
        )
    if row is None:
        raise not_found("order", order_id)
    return order_out(order_record(row))
