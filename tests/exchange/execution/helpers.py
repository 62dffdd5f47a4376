"""Rows the execution tests trade on: a user, a strategy version, an account and an assignment."""

from __future__ import annotations

import json
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tradewinds.domain.trading import AccountKind, OrderIntent, intent_id
from tradewinds.storage.secrets import SecretBox
from tradewinds.storage.trading_models import (
    AssignmentRow,
    StrategyRow,
    StrategyVersionRow,
    TradingAccountRow,
    UserRow,
)

NOW = 1_700_000_000_000


async def seed_assignment(
    engine: AsyncEngine,
    *,
    exchange: str = "sim",
    symbol: str = "ALPHA/USD",
    allocation: str = "1000",
    paper_balances: dict[str, str] | None = None,
    fee_rate: str = "0.001",
    slippage: str = "0",
    keys: tuple[SecretBox, str, str] | None = None,
    email: str = "trader@example.com",
) -> AssignmentRow:
    """One user with one account (paper unless `keys` = (box, api key, secret)) and one assignment."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        user = UserRow(email=email, password_hash="x", is_admin=False, trading_paused=False, created_ms=NOW)
        session.add(user)
        await session.flush()
        strategy = StrategyRow(user_id=user.id, name="s", created_ms=NOW)
        session.add(strategy)
        await session.flush()
        version = StrategyVersionRow(
            strategy_id=strategy.id, number=1, source='return "long"', created_ms=NOW
        )
        account = TradingAccountRow(user_id=user.id, name="main", enabled=True, created_ms=NOW)
        if keys is None:
            account.kind = AccountKind.PAPER.value
            account.paper_balances = json.dumps(paper_balances or {"USD": "10000"})
            account.paper_fee_rate = Decimal(fee_rate)
            account.paper_slippage = Decimal(slippage)
        else:
            box, api_key, secret = keys
            account.kind = AccountKind.EXCHANGE.value
            account.exchange = exchange
            account.api_key_enc = box.encrypt(api_key)
            account.api_secret_enc = box.encrypt(secret)
        session.add_all([version, account])
        await session.flush()
        assignment = AssignmentRow(
            user_id=user.id,
            version_id=version.id,
            account_id=account.id,
            exchange=exchange,
            symbol=symbol,
            timeframe="1m",
            allocation=Decimal(allocation),
            params="{}",
            enabled=True,
            target="short",
            consecutive_failures=0,
            created_ms=NOW,
            updated_ms=NOW,
        )
        session.add(assignment)
        await session.commit()
        return assignment


def make_intent(assignment: AssignmentRow, target: str, candle_time_ms: int, close: float) -> OrderIntent:
    return OrderIntent(
        intent_id=intent_id(assignment.id, candle_time_ms),
        assignment_id=assignment.id,
        user_id=assignment.user_id,
        account_id=assignment.account_id,
        exchange=assignment.exchange,
        symbol=assignment.symbol,
        timeframe=assignment.timeframe,
        target=target,
        candle_time_ms=candle_time_ms,
        candle_close=close,
        decided_ms=candle_time_ms + 60_000,
    )
