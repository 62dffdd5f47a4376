"""Assignments: a strategy version trading one market on one account with its own allocation.

Checks made when an assignment is added or enabled again: the version and the account are the
user's, the market is well formed (exchange lower-case, symbol `BASE/QUOTE` upper-case, a known
timeframe), the allocation is positive, an exchange account trades only its own exchange, and a
paper account holds the symbol's quote currency with enough of it left unallocated across its
enabled assignments. The account row is locked (an UPDATE is the transaction's first statement,
which takes the row lock on PostgreSQL and the write lock on SQLite), so two assignments made at
once cannot both spend the same unallocated balance.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal

import msgspec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tradewinds.domain.timeframes import ROLLUP_TIMEFRAMES, Timeframe
from tradewinds.domain.trading import AccountKind, ParamValue
from tradewinds.storage.accounts import SIM_EXCHANGE, check_exchange_id, paper_balances, parse_currency
from tradewinds.storage.errors import InvalidRecord, RecordNotFound
from tradewinds.storage.strategies import get_version
from tradewinds.storage.trading_models import (
    AssignmentRow,
    StrategyRow,
    StrategyVersionRow,
    TradingAccountRow,
)
from tradewinds.storage.users import User, now_ms

MAX_PARAMS = 64
LIVE_TIMEFRAMES = (Timeframe.M1, *ROLLUP_TIMEFRAMES)  # what the core closes


class AssignmentView(msgspec.Struct, frozen=True):
    id: int
    user_id: int
    strategy: str
    version: int
    version_id: int
    exchange: str
    symbol: str
    timeframe: str
    account: str
    account_id: int
    allocation: Decimal
    params: dict[str, ParamValue]
    enabled: bool
    disabled_reason: str | None
    target: str
    consecutive_failures: int
    last_eval_candle_ms: int | None
    last_eval_outcome: str | None
    last_eval_target: str | None
    last_eval_message: str | None
    created_ms: int
    updated_ms: int
    account_enabled: bool = True
    account_paused_reason: str | None = None  # the exchange refused the account's keys

    @property
    def base(self) -> str:
        return self.symbol.split("/", 1)[0]

    @property
    def quote(self) -> str:
        return self.symbol.split("/", 1)[1]


def parse_symbol(text: str) -> str:
    """`btc/usd` -> `BTC/USD`; InvalidRecord unless it is BASE/QUOTE."""
    base, slash, quote = text.strip().partition("/")
    if not slash:
        raise InvalidRecord(f"symbol {text!r} is not BASE/QUOTE (e.g. BTC/USD)")
    return f"{parse_currency(base)}/{parse_currency(quote)}"


def parse_timeframe(text: str) -> str:
    """A timeframe the core closes: 1m and its rollups (other labels would never be evaluated)."""
    try:
        frame = Timeframe.parse(text)
    except ValueError as exc:
        raise InvalidRecord(str(exc)) from None
    if frame not in LIVE_TIMEFRAMES:
        choices = ", ".join(tf.value for tf in LIVE_TIMEFRAMES)
        raise InvalidRecord(f"timeframe {frame.value} is not one the platform closes live; choose {choices}")
    return frame.value


def check_params(params: dict[str, ParamValue]) -> dict[str, ParamValue]:
    if len(params) > MAX_PARAMS:
        raise InvalidRecord(f"at most {MAX_PARAMS} parameters")
    for name, value in params.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise InvalidRecord(f"parameter name {name!r} is not a Lua identifier")
        if not isinstance(value, bool | int | float | str):
            raise InvalidRecord(f"parameter {name}: {value!r} is not a number, string or boolean")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidRecord(f"parameter {name}: {value} is not a finite number")
    return dict(params)


async def add_assignment(
    engine: AsyncEngine,
    user: User,
    *,
    strategy: str,
    exchange: str,
    symbol: str,
    timeframe: str,
    account: str,
    allocation: Decimal,
    version: int | None = None,
    params: dict[str, ParamValue] | None = None,
) -> AssignmentView:
    """Assign version `version` (None: the latest) of `strategy` to a market and account."""
    exchange_id = check_exchange_id(exchange)
    symbol = parse_symbol(symbol)
    frame = parse_timeframe(timeframe)
    values = check_params(params or {})
    if allocation <= 0 or not allocation.is_finite():
        raise InvalidRecord(f"the allocation must be a positive amount of {symbol.split('/')[1]}")
    chosen = await get_version(engine, user, strategy, version)
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        account_row = await _lock_account(session, user, account_name=account)
        _check_market(account_row, exchange_id)
        await _check_allocation(session, account_row, symbol, allocation, exclude_id=None)
        stamp = now_ms()
        row = AssignmentRow(
            user_id=user.id,
            version_id=chosen.id,
            account_id=account_row.id,
            exchange=exchange_id,
            symbol=symbol,
            timeframe=frame,
            allocation=allocation,
            params=json.dumps(values, sort_keys=True),
            enabled=True,
            target="short",
            consecutive_failures=0,
            created_ms=stamp,
            updated_ms=stamp,
        )
        session.add(row)
        await session.flush()
        assignment_id = row.id
    return await get_assignment(engine, user, assignment_id)


async def set_assignment_enabled(
    engine: AsyncEngine, user: User, assignment_id: int, enabled: bool, reason: str | None = None
) -> AssignmentView:
    """Enable (checks made again, failures counted afresh) or disable an assignment of the user."""
    async with AsyncSession(engine) as session:
        owner = await session.scalar(
            select(AssignmentRow.account_id).where(
                AssignmentRow.id == assignment_id, AssignmentRow.user_id == user.id
            )
        )
    if owner is None:
        raise RecordNotFound(f"{user.email} has no assignment {assignment_id}")
    # A read before the lock would let SQLite refuse the write on a stale snapshot: lock first.
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        account_row = await _lock_account(session, user, account_id=owner, require_enabled=enabled)
        row = await session.get(AssignmentRow, assignment_id)
        assert row is not None  # the account lock keeps it; it was just found
        if enabled and not row.enabled:
            await _check_allocation(session, account_row, row.symbol, row.allocation, exclude_id=row.id)
            row.consecutive_failures = 0
            row.disabled_reason = None
        elif not enabled and row.enabled:
            row.disabled_reason = reason or "disabled by its owner"
        row.enabled = enabled
        row.updated_ms = now_ms()
    return await get_assignment(engine, user, assignment_id)


async def get_assignment(engine: AsyncEngine, user: User, assignment_id: int) -> AssignmentView:
    found = await _select(engine, user, assignment_id)
    if not found:
        raise RecordNotFound(f"{user.email} has no assignment {assignment_id}")
    return found[0]


async def list_assignments(engine: AsyncEngine, user: User) -> list[AssignmentView]:
    return await _select(engine, user, None)


async def _select(engine: AsyncEngine, user: User, assignment_id: int | None) -> list[AssignmentView]:
    query = (
        select(AssignmentRow, StrategyRow.name, StrategyVersionRow.number, TradingAccountRow)
        .join(StrategyVersionRow, StrategyVersionRow.id == AssignmentRow.version_id)
        .join(StrategyRow, StrategyRow.id == StrategyVersionRow.strategy_id)
        .join(TradingAccountRow, TradingAccountRow.id == AssignmentRow.account_id)
        .where(AssignmentRow.user_id == user.id)
        .order_by(AssignmentRow.id)
    )
    if assignment_id is not None:
        query = query.where(AssignmentRow.id == assignment_id)
    async with AsyncSession(engine) as session:
        rows = (await session.execute(query)).all()
    return [_view(row, strategy, number, account) for row, strategy, number, account in rows]


async def _lock_account(
    session: AsyncSession,
    user: User,
    *,
    account_name: str | None = None,
    account_id: int | None = None,
    require_enabled: bool = True,
) -> TradingAccountRow:
    where = [TradingAccountRow.user_id == user.id]
    if account_id is not None:
        where.append(TradingAccountRow.id == account_id)
    else:
        where.append(TradingAccountRow.name == (account_name or "").strip())
    # The first statement writes, so the transaction holds the account until it commits.
    locked = (
        await session.execute(
            update(TradingAccountRow)
            .where(*where)
            .values(enabled=TradingAccountRow.enabled)
            .returning(TradingAccountRow.id)
            .execution_options(synchronize_session=False)
        )
    ).scalar()
    if locked is None:
        raise RecordNotFound(f"{user.email} has no account {(account_name or account_id)!r}")
    row = await session.get(TradingAccountRow, locked)
    assert row is not None
    if require_enabled and not row.enabled:
        raise InvalidRecord(f"account {row.name!r} is disabled")
    return row


def _check_market(account: TradingAccountRow, exchange: str) -> None:
    if account.kind == AccountKind.EXCHANGE.value:
        if exchange != account.exchange:
            raise InvalidRecord(
                f"account {account.name!r} is on {account.exchange}: it cannot trade on {exchange}"
            )
        return
    if exchange == SIM_EXCHANGE:
        return
    import ccxt  # the list of venues; imported here, it takes a second to load

    if exchange not in ccxt.exchanges:
        raise InvalidRecord(f"unknown exchange {exchange!r} (sim, or a ccxt id such as bitfinex)")


async def _check_allocation(
    session: AsyncSession,
    account: TradingAccountRow,
    symbol: str,
    allocation: Decimal,
    exclude_id: int | None,
) -> None:
    if account.kind != AccountKind.PAPER.value:
        return  # an exchange account's balance is the exchange's: the adapter checks free funds
    quote = symbol.split("/", 1)[1]
    balances = paper_balances(account)
    if quote not in balances:
        held = ", ".join(sorted(balances)) or "nothing"
        raise InvalidRecord(f"paper account {account.name!r} holds no {quote} (it holds {held})")
    others = (
        await session.execute(
            select(AssignmentRow.id, AssignmentRow.symbol, AssignmentRow.allocation).where(
                AssignmentRow.account_id == account.id, AssignmentRow.enabled.is_(True)
            )
        )
    ).all()
    allocated = sum(
        (amount for ident, other, amount in others if ident != exclude_id and other.endswith(f"/{quote}")),
        Decimal(0),
    )
    free = balances[quote] - allocated
    if allocation > free:
        raise InvalidRecord(
            f"allocation {allocation} {quote} exceeds what paper account {account.name!r} has left: "
            f"{free} of {balances[quote]} {quote} ({allocated} allocated to its enabled assignments)"
        )


def _view(row: AssignmentRow, strategy: str, number: int, account: TradingAccountRow) -> AssignmentView:
    return AssignmentView(
        id=row.id,
        user_id=row.user_id,
        strategy=strategy,
        version=number,
        version_id=row.version_id,
        exchange=row.exchange,
        symbol=row.symbol,
        timeframe=row.timeframe,
        account=account.name,
        account_id=row.account_id,
        allocation=row.allocation,
        params=json.loads(row.params or "{}"),
        enabled=row.enabled,
        disabled_reason=row.disabled_reason,
        target=row.target,
        consecutive_failures=row.consecutive_failures,
        last_eval_candle_ms=row.last_eval_candle_ms,
        last_eval_outcome=row.last_eval_outcome,
        last_eval_target=row.last_eval_target,
        last_eval_message=row.last_eval_message,
        created_ms=row.created_ms,
        updated_ms=row.updated_ms,
        account_enabled=account.enabled,
        account_paused_reason=account.paused_reason,
    )


async def assignment_owner(engine: AsyncEngine, assignment_id: int) -> User:
    """Whose assignment this is (operators name assignments by id alone)."""
    from tradewinds.storage.users import get_user_by_id

    async with AsyncSession(engine) as session:
        user_id = await session.scalar(select(AssignmentRow.user_id).where(AssignmentRow.id == assignment_id))
    if user_id is None:
        raise RecordNotFound(f"no assignment {assignment_id}")
    return await get_user_by_id(engine, user_id)
