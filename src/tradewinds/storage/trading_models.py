"""Tables of the live-trading domain: users, strategies and versions, accounts, assignments,
decisions, orders and fills.

Money columns are exact decimal strings (`Money`): SQLite has no exact decimal type, and the
books must balance to the last digit on both databases. Times are UTC epoch milliseconds.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column

from tradewinds.storage.models import Base


class Money(TypeDecorator[Decimal]):
    """A Decimal stored as its exact string."""

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else str(Decimal(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-cased
    password_hash: Mapped[str] = mapped_column(String(256))  # argon2
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    trading_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class StrategyRow(Base):
    __tablename__ = "strategies"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    created_ms: Mapped[int] = mapped_column(BigInteger)


class StrategyVersionRow(Base):
    """Immutable: saving a strategy adds a version; assignments name the version they run."""

    __tablename__ = "strategy_versions"
    __table_args__ = (UniqueConstraint("strategy_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    strategy_id: Mapped[int] = mapped_column(ForeignKey("strategies.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ... within the strategy
    source: Mapped[str] = mapped_column(Text)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class TradingAccountRow(Base):
    """A paper account (balances kept here) or an exchange account (encrypted API keys)."""

    __tablename__ = "trading_accounts"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16))  # AccountKind.value
    exchange: Mapped[str | None] = mapped_column(String(64))  # exchange accounts only
    # Encrypted with the platform's secret key (storage/secrets.py); never logged or returned.
    api_key_enc: Mapped[str | None] = mapped_column(Text)
    api_secret_enc: Mapped[str | None] = mapped_column(Text)
    passphrase_enc: Mapped[str | None] = mapped_column(Text)
    # Paper accounts: JSON object currency -> starting balance as a decimal string.
    paper_balances: Mapped[str | None] = mapped_column(Text)
    paper_fee_rate: Mapped[Decimal | None] = mapped_column(Money)
    paper_slippage: Mapped[Decimal | None] = mapped_column(Money)
    # Set when the exchange refused the keys: the account's assignments trade no more until fixed.
    paused_reason: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class AssignmentRow(Base):
    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("strategy_versions.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("trading_accounts.id"), index=True)
    exchange: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(64))
    timeframe: Mapped[str] = mapped_column(String(8))
    allocation: Mapped[Decimal] = mapped_column(Money)  # quote currency the slice starts with
    params: Mapped[str] = mapped_column(Text, default="{}")  # JSON object of param() values
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    target: Mapped[str] = mapped_column(String(8), default="short")  # the last decided target
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    # The last evaluation, whatever its outcome (decided, kept, warming up, error, stale, ...).
    last_eval_candle_ms: Mapped[int | None] = mapped_column(BigInteger)
    last_eval_outcome: Mapped[str | None] = mapped_column(String(16))
    last_eval_target: Mapped[str | None] = mapped_column(String(8))
    last_eval_message: Mapped[str | None] = mapped_column(Text)
    last_eval_ms: Mapped[int | None] = mapped_column(BigInteger)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class DecisionRow(Base):
    """A change of an assignment's target: one per (assignment, closed candle), the intent's id."""

    __tablename__ = "decisions"
    __table_args__ = (UniqueConstraint("assignment_id", "candle_time_ms"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), index=True)
    intent_id: Mapped[str] = mapped_column(String(64), unique=True)
    candle_time_ms: Mapped[int] = mapped_column(BigInteger)
    target: Mapped[str] = mapped_column(String(8))
    previous: Mapped[str] = mapped_column(String(8))
    candle_close: Mapped[float] = mapped_column()
    stale: Mapped[bool] = mapped_column(Boolean, default=False)  # recorded, no order placed
    created_ms: Mapped[int] = mapped_column(BigInteger)


class OrderRow(Base):
    """An order placed (or about to be placed) for an intent: written before it is sent."""

    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("intent_id", "leg"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("trading_accounts.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    intent_id: Mapped[str] = mapped_column(String(64))
    leg: Mapped[int] = mapped_column(Integer)  # 0, 1, ...: orders placed for one intent
    client_order_id: Mapped[int] = mapped_column(BigInteger)
    cid_date: Mapped[str] = mapped_column(String(10))  # UTC day the cid was used (Bitfinex)
    exchange_order_id: Mapped[str | None] = mapped_column(String(64))
    exchange: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(4))  # buy | sell
    amount: Mapped[Decimal] = mapped_column(Money)  # requested, base currency
    filled: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    price: Mapped[Decimal | None] = mapped_column(Money)  # average fill price
    fee: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    fee_currency: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # OrderState.value
    error: Mapped[str | None] = mapped_column(Text)
    candle_time_ms: Mapped[int] = mapped_column(BigInteger)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class FillRow(Base):
    """One execution of an order; positions and P&L are computed from these."""

    __tablename__ = "fills"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("trading_accounts.id"), index=True)
    side: Mapped[str] = mapped_column(String(4))
    amount: Mapped[Decimal] = mapped_column(Money)  # base units bought (gross) or sold
    price: Mapped[Decimal] = mapped_column(Money)
    fee: Mapped[Decimal] = mapped_column(Money)
    fee_currency: Mapped[str] = mapped_column(String(16))
    time_ms: Mapped[int] = mapped_column(BigInteger)
