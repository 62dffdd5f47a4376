"""Rows for status tests, written straight to the tables (independent of the admin commands)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tradewinds.domain.candles import Candle, SeriesKey
from tradewinds.domain.timeframes import Timeframe
from tradewinds.storage.candles import CandleStore
from tradewinds.storage.trading_models import (
    AssignmentRow,
    FillRow,
    OrderRow,
    StrategyRow,
    StrategyVersionRow,
    TradingAccountRow,
    UserRow,
)

T0 = 1_700_000_000_000


async def seed_trading(engine: AsyncEngine, now_ms: int) -> dict[str, int]:
    """A user with one paper account and two assignments on sim ALPHA/USD: the first bought 2
    ALPHA at 100 (fee 0.002 ALPHA) and holds them; the second's last evaluation failed and its
    only order was rejected. The newest stored ALPHA/USD close is 110."""
    async with AsyncSession(engine) as session, session.begin():
        user = UserRow(email="demo@example.com", password_hash="x", created_ms=T0)
        session.add(user)
        await session.flush()
        strategy = StrategyRow(user_id=user.id, name="sma-ema", created_ms=T0)
        session.add(strategy)
        await session.flush()
        version = StrategyVersionRow(strategy_id=strategy.id, number=1, source="return 'long'", created_ms=T0)
        account = TradingAccountRow(
            user_id=user.id, name="paper", kind="paper", paper_balances='{"USD": "10000"}', created_ms=T0
        )
        session.add_all([version, account])
        await session.flush()
        common = dict(
            user_id=user.id, version_id=version.id, account_id=account.id, exchange="sim", symbol="ALPHA/USD",
            timeframe="1m", allocation=Decimal(1000), created_ms=T0, updated_ms=T0,
        )  # fmt: skip
        holding = AssignmentRow(
            **common, target="long", last_eval_candle_ms=now_ms - 60_000, last_eval_outcome="decided",
            last_eval_target="long", last_eval_ms=now_ms - 1_000,
        )  # fmt: skip
        failing = AssignmentRow(
            **common, last_eval_candle_ms=now_ms - 60_000, last_eval_outcome="error",
            last_eval_message="line 3: attempt to call a nil value", last_eval_ms=now_ms - 120_000,
        )  # fmt: skip
        session.add_all([holding, failing])
        await session.flush()
        order = dict(
            user_id=user.id, account_id=account.id, leg=0, cid_date="2026-12-01", exchange="sim",
            symbol="ALPHA/USD", candle_time_ms=now_ms - 60_000, created_ms=now_ms - 500,
        )  # fmt: skip
        filled = OrderRow(
            **order, assignment_id=holding.id, intent_id=f"{holding.id}:1", client_order_id=11, side="buy",
            amount=Decimal(2), filled=Decimal(2), price=Decimal(100), fee=Decimal("0.002"),
            fee_currency="ALPHA", status="filled", updated_ms=now_ms - 400,
        )  # fmt: skip
        rejected = OrderRow(
            **order, assignment_id=failing.id, intent_id=f"{failing.id}:1", client_order_id=12, side="buy",
            amount=Decimal(1), status="rejected", error="insufficient funds", updated_ms=now_ms - 300,
        )  # fmt: skip
        session.add_all([filled, rejected])
        await session.flush()
        session.add(
            FillRow(
                order_id=filled.id, assignment_id=holding.id, account_id=account.id, side="buy",
                amount=Decimal(2), price=Decimal(100), fee=Decimal("0.002"), fee_currency="ALPHA",
                time_ms=now_ms - 400,
            )
        )  # fmt: skip
        ids = {"holding": holding.id, "failing": failing.id, "rejected": rejected.id}
    minute = now_ms - now_ms % 60_000 - 60_000
    await CandleStore(engine).upsert(
        SeriesKey("sim", "ALPHA/USD", Timeframe.M1), [Candle(minute, 100, 111, 99, 110, 5)]
    )
    return ids
