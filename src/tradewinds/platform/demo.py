"""The demo `tradewinds up` trades: a user, three strategies, a paper account, four assignments.

Created once per database: a second run finds the demo user and leaves everything as it is, so
the assignments go on from the positions they hold. The user's password is drawn at random and
kept in `$TRADEWINDS_HOME/demo-login.txt` (owner-only), for the web application once it lands.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from tradewinds.storage.accounts import add_paper_account, list_accounts
from tradewinds.storage.assignments import add_assignment, list_assignments
from tradewinds.storage.errors import RecordNotFound
from tradewinds.storage.strategies import list_strategies, save_strategy
from tradewinds.storage.users import add_user, get_user

DEMO_EMAIL = "demo@tradewinds.local"
DEMO_ACCOUNT = "demo-paper"
PAPER_BALANCE = Decimal(100_000)
ALLOCATION = Decimal(10_000)


@dataclass(frozen=True)
class DemoStrategy:
    name: str
    file: str  # in tradewinds/platform/demo_strategies/


@dataclass(frozen=True)
class DemoAssignment:
    strategy: str
    symbol: str
    timeframe: str


STRATEGIES = (
    DemoStrategy("sma-ema", "sma_ema.lua"),  # the founding paper's example
    DemoStrategy("macd-rsi", "macd_rsi.lua"),
    DemoStrategy("ema-cross", "ema_cross.lua"),
)
ASSIGNMENTS = (
    DemoAssignment("sma-ema", "ALPHA/USD", "1m"),
    DemoAssignment("macd-rsi", "BRAVO/USD", "1m"),
    DemoAssignment("ema-cross", "CHARLIE/USD", "1m"),
    DemoAssignment("sma-ema", "DELTA/USD", "5m"),
)


@dataclass(frozen=True)
class DemoSetup:
    created: bool  # False: found from an earlier run
    assignments: int


def strategy_source(file: str) -> str:
    return resources.files("tradewinds.platform").joinpath("demo_strategies", file).read_text("utf-8")


async def ensure_demo(engine: AsyncEngine, home: Path, exchange: str = "sim") -> DemoSetup:
    """The demo user and its assignments on `exchange`; what an earlier run made is kept (and
    what it did not finish, if it was interrupted, is made now)."""
    created = False
    try:
        user = await get_user(engine, DEMO_EMAIL)
    except RecordNotFound:
        password = secrets.token_urlsafe(12)
        user = await add_user(engine, DEMO_EMAIL, password)
        _keep_login(home, password)
        created = True
    saved = {s.name for s in await list_strategies(engine, user)}
    for strategy in STRATEGIES:
        if strategy.name not in saved:
            await save_strategy(engine, user, strategy.name, strategy_source(strategy.file))
    if DEMO_ACCOUNT not in {a.name for a in await list_accounts(engine, user)}:
        await add_paper_account(engine, user, DEMO_ACCOUNT, {"USD": PAPER_BALANCE})
    existing = {(a.strategy, a.symbol, a.timeframe) for a in await list_assignments(engine, user)}
    for item in ASSIGNMENTS:
        if (item.strategy, item.symbol, item.timeframe) in existing:
            continue
        await add_assignment(
            engine,
            user,
            strategy=item.strategy,
            exchange=exchange,
            symbol=item.symbol,
            timeframe=item.timeframe,
            account=DEMO_ACCOUNT,
            allocation=ALLOCATION,
        )
    return DemoSetup(created=created, assignments=len(await list_assignments(engine, user)))


def _keep_login(home: Path, password: str) -> None:
    path = home / "demo-login.txt"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(f"{DEMO_EMAIL}\n{password}\n")
