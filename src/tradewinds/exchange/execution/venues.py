"""Where an account's orders go: a paper account kept in the database, or the exchange itself.

A `Venue` is one trading account: its free balances, market orders with a client order id, and
finding an order again by that id. Paper venues are rebuilt from the database (starting balances
plus every recorded fill, the used client ids included), so after a restart the paper "exchange"
knows exactly what the records say, and an order recorded as pending but never filled is simply
not there: sending it again with the same id fills it once. Exchange venues use the account's
API keys (decrypted with the platform's SecretBox, never logged).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tradewinds.domain.trading import AccountKind
from tradewinds.exchange.adapter import (
    AuthenticationFailed,
    Balance,
    ExchangeAdapter,
    MarketInfo,
    OrderReport,
    OrderSide,
)
from tradewinds.exchange.ccxt_adapter import CcxtAdapter
from tradewinds.exchange.paper import DEFAULT_FEE_RATE, PaperAccount
from tradewinds.storage.orders import fills_of_account
from tradewinds.storage.secrets import SecretBox
from tradewinds.storage.trading_models import FillRow, TradingAccountRow

AdapterFactory = Callable[[str, str, str, str | None], ExchangeAdapter]  # exchange, key, secret, passphrase


class Venue(Protocol):
    paper: bool
    buy_reserve: Decimal  # fraction kept back when sizing a buy (fees the venue checks, price moves)

    def quote(self, symbol: str, price: Decimal) -> None:
        """The price this intent trades at (paper fills at it; an exchange has its own)."""
        ...

    async def free_balances(self) -> Mapping[str, Decimal]: ...

    async def place(
        self, symbol: str, side: OrderSide, amount: Decimal, client_order_id: int
    ) -> OrderReport: ...

    async def find(
        self, symbol: str, client_order_id: int, order_id: str | None, cid_date: str
    ) -> OrderReport | None:
        """The order by venue id when known, else by client id used on `cid_date` (UTC day)."""
        ...

    async def close(self) -> None: ...


class PaperVenue:
    """A paper account from the database, filled at the latest streamed price."""

    paper = True

    def __init__(self, account: PaperAccount, last_fill_id: int = 0) -> None:
        self.account = account
        self.buy_reserve = account.slippage  # the fill price is the latest price moved by slippage
        self.last_fill_id = last_fill_id  # the newest recorded fill the account includes (0: none)

    def recorded(self, fill_id: int) -> None:
        self.last_fill_id = max(self.last_fill_id, fill_id)

    def forget(self) -> None:
        """The account in memory no longer matches the records (a write failed)."""
        self.last_fill_id = -1

    def quote(self, symbol: str, price: Decimal) -> None:
        self.account.update_price(symbol, price)

    async def free_balances(self) -> Mapping[str, Decimal]:
        return self.account.free_balances()

    async def place(self, symbol: str, side: OrderSide, amount: Decimal, client_order_id: int) -> OrderReport:
        return self.account.place_market_order(symbol, side, amount, client_order_id)

    async def find(
        self, symbol: str, client_order_id: int, order_id: str | None, cid_date: str
    ) -> OrderReport | None:
        return self.account.fetch_order(symbol, client_order_id=client_order_id)

    async def close(self) -> None:
        return None


class ExchangeVenue:
    """An exchange account reached through an adapter holding its keys."""

    paper = False

    def __init__(self, adapter: ExchangeAdapter, buy_reserve: Decimal) -> None:
        self.adapter = adapter
        self.buy_reserve = buy_reserve

    def quote(self, symbol: str, price: Decimal) -> None:
        return None

    async def free_balances(self) -> dict[str, Decimal]:
        balances: dict[str, Balance] = await self.adapter.fetch_balances()
        return {c: b.free for c, b in balances.items()}

    async def place(self, symbol: str, side: OrderSide, amount: Decimal, client_order_id: int) -> OrderReport:
        return await self.adapter.place_market_order(symbol, side, amount, client_order_id)

    async def find(
        self, symbol: str, client_order_id: int, order_id: str | None, cid_date: str
    ) -> OrderReport | None:
        if order_id:
            return await self.adapter.fetch_order(symbol, order_id=order_id)
        if isinstance(self.adapter, CcxtAdapter):  # venues where a client id is unique per day
            return await self.adapter.fetch_order(
                symbol, client_order_id=client_order_id, placed_day=cid_date
            )
        return await self.adapter.fetch_order(symbol, client_order_id=client_order_id)

    async def close(self) -> None:
        await self.adapter.close()


def starting_balances(row: TradingAccountRow) -> dict[str, Decimal]:
    """A paper account's starting balances (JSON object currency -> decimal string)."""
    try:
        raw = json.loads(row.paper_balances or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"paper account {row.name!r} has unreadable starting balances: {exc}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"paper account {row.name!r}: starting balances must be an object, got {raw!r}")
    return {str(currency).upper(): Decimal(str(amount)) for currency, amount in raw.items()}


async def rebuild_paper_venue(
    engine: AsyncEngine,
    row: TradingAccountRow,
    markets: Mapping[str, MarketInfo],
) -> PaperVenue:
    """Starting balances plus every recorded fill of the account, in the order they happened.

    It fills at the price each intent trades at (`PaperVenue.quote`): the latest streamed close,
    or the decision candle's close when nothing newer was streamed (prices.LatestPrices)."""
    account = PaperAccount(
        starting_balances(row),
        markets.values(),
        fee_rate=row.paper_fee_rate if row.paper_fee_rate is not None else DEFAULT_FEE_RATE,
        slippage=row.paper_slippage or Decimal(0),
        order_id_prefix=f"paper{row.id}",
    )
    last_fill_id = 0
    for recorded in await fills_of_account(engine, row.id):
        fill = recorded.fill
        last_fill_id = max(last_fill_id, recorded.fill_id)
        account.restore_fill(
            recorded.symbol,
            OrderSide(fill.side),
            fill.amount,
            fill.price,
            fill.fee,
            fill.fee_currency,
            recorded.client_order_id,
        )
    return PaperVenue(account, last_fill_id)


def open_exchange_venue(
    row: TradingAccountRow, secrets: SecretBox, factory: AdapterFactory, buy_reserve: Decimal
) -> ExchangeVenue:
    if row.kind != AccountKind.EXCHANGE.value or not row.exchange:
        raise ValueError(f"account {row.name!r} is not an exchange account")
    if not row.api_key_enc or not row.api_secret_enc:
        raise AuthenticationFailed(f"account {row.name!r} has no API key stored; add it again")
    api_key = secrets.decrypt(row.api_key_enc)
    secret = secrets.decrypt(row.api_secret_enc)
    passphrase = secrets.decrypt(row.passphrase_enc) if row.passphrase_enc else None
    return ExchangeVenue(factory(row.exchange, api_key, secret, passphrase), buy_reserve)


async def last_fill_id(engine: AsyncEngine, account_id: int) -> int:
    """The newest recorded fill of an account (0: none): a cached paper account is current when
    it includes exactly that one (another process may trade the same account)."""
    async with AsyncSession(engine) as session:
        newest = await session.scalar(select(func.max(FillRow.id)).where(FillRow.account_id == account_id))
    return int(newest or 0)
