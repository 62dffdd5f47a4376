"""Paper trading: balances kept by Tradewinds, market orders filled at the latest price of any feed.

`PaperAccount` is pure bookkeeping (no I/O): it fills a market order at once at the latest known
price, moved against the trader by `slippage`, and takes `fee_rate` of what the trader receives,
as the backtest does: a buy of A base units costs A * price quote and delivers A * (1 - fee) base
(the fee in base); a sale of U units delivers U * price * (1 - fee) quote (the fee in quote). So
cash C buys C(1-f)/P units and U units sell for U·P(1-f), and a paper account and a backtest agree
to the cent. Money amounts are kept exact (Decimal with a wide precision, never rounded); only
the order amount is rounded, down to the market's amount step.

The money-safety property: an order is identified by its client order id. Placing the same order
(symbol, side, amount) again with an id already used returns the first order's report without
trading again, so one decision can never trade twice (retries after a timeout are safe); the same
id with a different order is refused with `DuplicateClientOrderId` naming the conflict, and changes
nothing. A rejected order changes nothing, not even the used ids, so it may be retried with the
same id.

An account can be rebuilt from its records (`restore_fill`): starting balances plus every
recorded fill, so a restarted platform continues with exactly the balances it had.

`PaperTradingAdapter` puts an account behind any feed adapter: candles and markets come from the
feed, orders and balances go to the account.
"""

from __future__ import annotations

import asyncio
import decimal
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType

import msgspec

from tradewinds.domain.candles import Candle
from tradewinds.domain.messages import CandleUpdate
from tradewinds.domain.timeframes import Timeframe
from tradewinds.exchange.adapter import (
    Balance,
    ExchangeAdapter,
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
    MarketInfo,
    OrderReport,
    OrderSide,
    OrderStatus,
)
from tradewinds.exchange.resume import wall_clock_ms

DEFAULT_FEE_RATE = Decimal("0.001")

# Wide enough that sums and products of realistic amounts are never rounded.
_EXACT = decimal.Context(prec=60)

PriceSource = Callable[[str], Decimal | None]


class DuplicateClientOrderId(ExchangeError):
    """A client order id already used for a different order (symbol, side or amount)."""


class Fill(msgspec.Struct, frozen=True):
    """One execution of a paper order (a market order fills completely in one go)."""

    order_id: str
    client_order_id: int
    symbol: str
    side: OrderSide
    amount: Decimal  # base currency
    price: Decimal  # what was paid or received per unit, slippage included
    reference_price: Decimal  # the market price the fill was based on
    cost: Decimal  # amount * price, in the quote currency, before the fee
    fee: Decimal  # in `fee_currency`
    fee_currency: str
    timestamp_ms: int

    @property
    def slippage_cost(self) -> Decimal:
        """What slippage cost in the quote currency (always >= 0)."""
        return abs(self.price - self.reference_price) * self.amount


def to_price(value: Decimal | float | int) -> Decimal:
    """A Decimal price from a feed's number (floats through `str`, so 0.1 stays 0.1)."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


def split_symbol(symbol: str) -> tuple[str, str] | None:
    """(base, quote) of a unified symbol such as "BTC/USD", or None if it is not one."""
    base, sep, rest = symbol.partition("/")
    quote = rest.split(":", 1)[0]
    if not sep or not base or not quote:
        return None
    return base, quote


class PaperAccount:
    """Balances and market orders on paper, e.g. `PaperAccount({"USD": Decimal("10000")})`.

    Prices come from `price_source(symbol)` when given (None: no price) and otherwise from the
    last `update_price`. With `markets`, only their symbols trade and their amount step and
    limits apply; without, any "BASE/QUOTE" symbol trades with no rules.
    """

    def __init__(
        self,
        balances: Mapping[str, Decimal],
        markets: Iterable[MarketInfo] | None = None,
        *,
        fee_rate: Decimal = DEFAULT_FEE_RATE,
        slippage: Decimal = Decimal(0),
        price_source: PriceSource | None = None,
        now_ms: Callable[[], int] = wall_clock_ms,
        order_id_prefix: str = "paper",
    ) -> None:
        if not Decimal(0) <= fee_rate < 1:
            raise ValueError(f"fee_rate must be a fraction in [0, 1), got {fee_rate}")
        if not Decimal(0) <= slippage < 1:
            raise ValueError(f"slippage must be a fraction in [0, 1), got {slippage}")
        for currency, amount in balances.items():
            if not amount.is_finite() or amount < 0:
                raise ValueError(f"the starting balance of {currency} must be >= 0, got {amount}")
        self.fee_rate = fee_rate
        self.slippage = slippage
        self._balances: dict[str, Decimal] = dict(balances)
        self._markets: dict[str, MarketInfo] | None = None
        if markets is not None:
            self.set_markets(markets)
        self._price_source = price_source
        self._prices: dict[str, Decimal] = {}
        self._now_ms = now_ms
        self._prefix = order_id_prefix
        self._orders: list[OrderReport] = []
        self._fills: list[Fill] = []
        self._by_id: dict[str, OrderReport] = {}
        self._by_client_id: dict[int, OrderReport] = {}
        self._requested: dict[int, tuple[str, OrderSide, Decimal]] = {}  # client id -> the order asked

    # -------------------------------------------------------------- markets and prices

    @property
    def has_markets(self) -> bool:
        return self._markets is not None

    def set_markets(self, markets: Iterable[MarketInfo]) -> None:
        """The markets that may trade, with their rules (replaces any known before)."""
        self._markets = {m.symbol: m for m in markets}

    def update_price(self, symbol: str, price: Decimal | float) -> None:
        """Record the latest traded price of `symbol` (used when the price source has none)."""
        value = to_price(price)
        if not value.is_finite() or value <= 0:
            raise ValueError(f"the price of {symbol} must be positive, got {price}")
        self._prices[symbol] = value

    def latest_price(self, symbol: str) -> Decimal | None:
        if self._price_source is not None:
            price = self._price_source(symbol)
            if price is not None and price.is_finite() and price > 0:
                return price
        return self._prices.get(symbol)

    # -------------------------------------------------------------- reading the books

    def balance(self, currency: str) -> Decimal:
        return self._balances.get(currency, Decimal(0))

    def free_balances(self) -> Mapping[str, Decimal]:
        """What is free of each currency, read-only and without a copy: a trade asks at every
        leg, and an account trading 200 markets holds 200 currencies."""
        return MappingProxyType(self._balances)

    def balances(self) -> dict[str, Balance]:
        """Every currency the account holds or held; all of it is free (market orders fill at once)."""
        return {c: Balance(currency=c, total=v, free=v) for c, v in sorted(self._balances.items())}

    @property
    def orders(self) -> tuple[OrderReport, ...]:
        """Every order that traded, oldest first."""
        return tuple(self._orders)

    @property
    def fills(self) -> tuple[Fill, ...]:
        return tuple(self._fills)

    def fetch_order(
        self, symbol: str | None = None, order_id: str | None = None, client_order_id: int | None = None
    ) -> OrderReport | None:
        """The order by id or client id (None if unknown, or if it is not an order of `symbol`)."""
        if order_id is None and client_order_id is None:
            raise ValueError("fetch_order needs an order_id or a client_order_id")
        if order_id is not None:
            report = self._by_id.get(order_id)
        else:
            assert client_order_id is not None
            report = self._by_client_id.get(client_order_id)
        if report is None or (symbol is not None and report.symbol != symbol):
            return None
        return report

    # -------------------------------------------------------------- trading

    def place_market_order(
        self, symbol: str, side: OrderSide, amount: Decimal, client_order_id: int
    ) -> OrderReport:
        """Fill a market order now, or raise InvalidOrder / InsufficientFunds changing nothing.

        An order whose client id was used before is not placed again: the same order gets the first
        report back; a different one raises DuplicateClientOrderId.
        """
        known = self._by_client_id.get(client_order_id)
        if known is not None:
            self._check_same_order(client_order_id, known, symbol, side, amount)
            return known
        with decimal.localcontext(_EXACT):
            fill = self._price_fill(symbol, side, amount, client_order_id)
            self._settle(fill)
        report = OrderReport(
            order_id=fill.order_id,
            client_order_id=client_order_id,
            symbol=symbol,
            side=side,
            amount=fill.amount,
            filled=fill.amount,
            average_price=fill.price,
            fee=fill.fee,
            fee_currency=fill.fee_currency,
            status=OrderStatus.CLOSED,
            timestamp_ms=fill.timestamp_ms,
        )
        self._orders.append(report)
        self._fills.append(fill)
        self._by_id[report.order_id] = report
        self._by_client_id[client_order_id] = report
        self._requested[client_order_id] = (symbol, side, to_price(amount))
        return report

    def _check_same_order(
        self, client_order_id: int, known: OrderReport, symbol: str, side: OrderSide, amount: Decimal
    ) -> None:
        first_symbol, first_side, first_amount = self._requested.get(
            client_order_id, (known.symbol, known.side, known.amount)
        )
        asked = to_price(amount)
        conflicts = [
            f"{name} {first} (now {now})"
            for name, first, now in (
                ("symbol", first_symbol, symbol),
                ("side", first_side.value, side.value),
                ("amount", first_amount, asked),
            )
            if first != now
        ]
        if conflicts:
            raise DuplicateClientOrderId(
                f"client order id {client_order_id} was already used for a {first_side.value} of "
                f"{first_amount} {first_symbol} (order {known.order_id}); this order differs in "
                f"{', '.join(conflicts)}, so it is refused and nothing changed"
            )

    def restore_fill(
        self,
        symbol: str,
        side: OrderSide,
        amount: Decimal,
        price: Decimal,
        fee: Decimal,
        fee_currency: str,
        client_order_id: int | None = None,
    ) -> None:
        """Apply a fill recorded earlier (rebuilding the account on start): no checks, no new report
        unless `client_order_id` is given, in which case that id counts as used by this order."""
        currencies = split_symbol(symbol)
        if currencies is None:
            raise ValueError(f"{symbol!r} is not a market symbol (symbols look like 'BTC/USD')")
        base, quote = currencies
        with decimal.localcontext(_EXACT):
            cost = amount * price
            if side is OrderSide.BUY:
                self._credit(quote, -cost)
                self._credit(base, amount)
            else:
                self._credit(base, -amount)
                self._credit(quote, cost)
            self._credit(fee_currency, -fee)
        if client_order_id is not None and client_order_id not in self._by_client_id:
            report = OrderReport(
                order_id=f"{self._prefix}-restored-{client_order_id}",
                client_order_id=client_order_id,
                symbol=symbol,
                side=side,
                amount=amount,
                filled=amount,
                average_price=price,
                fee=fee,
                fee_currency=fee_currency,
                status=OrderStatus.CLOSED,
                timestamp_ms=self._now_ms(),
            )
            self._by_id[report.order_id] = report
            self._by_client_id[client_order_id] = report

    def _credit(self, currency: str, delta: Decimal) -> None:
        self._balances[currency] = self.balance(currency) + delta

    def _price_fill(self, symbol: str, side: OrderSide, amount: Decimal, client_order_id: int) -> Fill:
        """The fill the order would get, after every check; raises before anything changes."""
        currencies = split_symbol(symbol)
        market = self._market(symbol)
        if currencies is None:
            raise InvalidOrder(f"{symbol!r} is not a market symbol (symbols look like 'BTC/USD')")
        base, quote = currencies
        size = self._order_size(symbol, amount, market)
        reference = self.latest_price(symbol)
        if reference is None:
            raise InvalidOrder(f"no price for {symbol} yet, so a market order cannot be filled")
        factor = 1 + self.slippage if side is OrderSide.BUY else 1 - self.slippage
        price = reference * factor
        cost = size * price
        if market is not None and market.min_cost is not None and cost < market.min_cost:
            raise InvalidOrder(
                f"a {symbol} order must cost at least {market.min_cost} {quote}; {size} costs {cost}"
            )
        fill = Fill(
            order_id=f"{self._prefix}-{len(self._orders) + 1}",
            client_order_id=client_order_id,
            symbol=symbol,
            side=side,
            amount=size,
            price=price,
            reference_price=reference,
            cost=cost,
            # The fee comes out of what the trader receives (the backtest's convention).
            fee=size * self.fee_rate if side is OrderSide.BUY else cost * self.fee_rate,
            fee_currency=base if side is OrderSide.BUY else quote,
            timestamp_ms=self._now_ms(),
        )
        self._check_funds(fill, currencies)
        return fill

    def _market(self, symbol: str) -> MarketInfo | None:
        if self._markets is None:
            return None
        market = self._markets.get(symbol)
        if market is None:
            listed = ", ".join(sorted(self._markets)) or "none"
            raise InvalidOrder(f"unknown market {symbol!r}; the markets are: {listed}")
        return market

    def _order_size(self, symbol: str, amount: Decimal, market: MarketInfo | None) -> Decimal:
        """The amount that trades: rounded down to the market's step, within its limits."""
        amount = to_price(amount)
        if not amount.is_finite() or amount <= 0:
            raise InvalidOrder(f"the amount of a {symbol} order must be positive, got {amount}")
        if market is None:
            return amount
        step = market.amount_precision
        size = (amount // step) * step if step else amount
        if size <= 0:
            raise InvalidOrder(f"{amount} is less than the smallest {symbol} amount step {step}")
        if market.min_amount is not None and size < market.min_amount:
            raise InvalidOrder(f"a {symbol} order must be at least {market.min_amount}, got {size}")
        if market.max_amount is not None and size > market.max_amount:
            raise InvalidOrder(f"a {symbol} order must be at most {market.max_amount}, got {size}")
        return size

    def _check_funds(self, fill: Fill, currencies: tuple[str, str]) -> None:
        base, quote = currencies
        if fill.side is OrderSide.BUY:
            need = fill.cost
            have = self.balance(quote)
            if need > have:
                raise InsufficientFunds(
                    f"not enough {quote} to buy {fill.amount} {base} ({fill.symbol}): need {need} {quote} "
                    f"({fill.amount} at {fill.price}), have {have} {quote}"
                )
        else:
            have = self.balance(base)
            if fill.amount > have:
                raise InsufficientFunds(
                    f"not enough {base} to sell {fill.amount} {base} ({fill.symbol}): "
                    f"need {fill.amount} {base}, have {have} {base}"
                )

    def _settle(self, fill: Fill) -> None:
        base, quote = split_symbol(fill.symbol) or ("", "")
        if fill.side is OrderSide.BUY:
            self._balances[quote] = self.balance(quote) - fill.cost
            self._balances[base] = self.balance(base) + fill.amount - fill.fee
        else:
            self._balances[base] = self.balance(base) - fill.amount
            self._balances[quote] = self.balance(quote) + fill.cost - fill.fee


class PaperTradingAdapter:
    """Trade on paper against a real feed: candles from `feed`, orders and balances in `account`.

    The adapter keeps the feed's `name`, because the candles it streams and fetches are the
    feed's (they are stored, and backfills are asked for, under that exchange); `paper` tells the
    two apart. Each streamed candle update newer than the last one seen for its market sets the
    account's latest price to its close. Markets for the order rules are loaded from the feed on
    the first order unless the account already has them.
    """

    paper = True

    def __init__(self, feed: ExchangeAdapter, account: PaperAccount) -> None:
        self.feed = feed
        self.account = account
        self.name = feed.name
        self._latest_minute: dict[str, int] = {}
        self._markets_lock = asyncio.Lock()

    async def list_markets(self) -> list[MarketInfo]:
        return await self.feed.list_markets()

    def stream_candles(self, symbols: Sequence[str]) -> AsyncIterator[CandleUpdate]:
        return self._stream(self.feed.stream_candles(symbols))

    async def _stream(self, updates: AsyncIterator[CandleUpdate]) -> AsyncIterator[CandleUpdate]:
        async for update in updates:
            self.observe(update)
            yield update

    def observe(self, update: CandleUpdate) -> None:
        """Take the update's close as the latest price unless an older minute is being re-sent."""
        candle = update.candle
        if candle.time >= self._latest_minute.get(update.symbol, candle.time):
            self._latest_minute[update.symbol] = candle.time
            self.account.update_price(update.symbol, candle.close)

    async def fetch_candles(
        self,
        symbol: str,
        timeframe: Timeframe,
        since_ms: int,
        until_ms: int | None = None,
        limit: int = 1000,
    ) -> list[Candle]:
        return await self.feed.fetch_candles(symbol, timeframe, since_ms, until_ms, limit)

    async def fetch_balances(self) -> dict[str, Balance]:
        return self.account.balances()

    async def place_market_order(
        self, symbol: str, side: OrderSide, amount: Decimal, client_order_id: int
    ) -> OrderReport:
        await self._ensure_markets()
        return self.account.place_market_order(symbol, side, amount, client_order_id)

    async def _ensure_markets(self) -> None:
        async with self._markets_lock:
            if not self.account.has_markets:
                self.account.set_markets(await self.feed.list_markets())

    async def fetch_order(
        self, symbol: str, order_id: str | None = None, client_order_id: int | None = None
    ) -> OrderReport | None:
        return self.account.fetch_order(symbol, order_id, client_order_id)

    async def close(self) -> None:
        await self.feed.close()
