"""The simulated exchange `sim`: a deterministic synthetic market (or a replayed CSV) in simulated time.

Every candle is a pure function of (seed, pair, minute): history, the live stream and a restarted
simulator always agree about a minute (numpy's seeding is stable; its generators' output could in
principle change between numpy versions). The synthetic price is generated a day (block) at a time
from a counter-based seed `[seed, pair, kind, day]`: each day's opening log price is drawn around
the pair's base price, and the minutes in between are a random walk pinned to both ends (a
Brownian bridge), so any minute costs one cached day and prices never drift away. A small seeded
share of minutes has no trades and no candle, as on Bitfinex, so consumers meet gaps.

The stream re-sends the forming candle `updates_per_minute` times per simulated minute; its
states are deterministic too (seeded by the minute) and end exactly at the closed candle when
the minute is over. Trading goes to a `PaperAccount` priced by the simulator's latest price.

The simulated clock runs `speed` times as fast as the injected real clock, from `start_ms`;
`now_ms()` reads it, and whatever drives consumers of the stream (e.g. the core's close timeouts)
should use that clock rather than the wall clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from tradewinds.domain.candle_arrays import CandleArrays, FloatArray
from tradewinds.domain.candle_csv import read_candle_csv
from tradewinds.domain.candles import Candle
from tradewinds.domain.messages import CandleUpdate, UpdateSource
from tradewinds.domain.resample import resample_candles
from tradewinds.domain.timeframes import MINUTE_MS, Timeframe
from tradewinds.exchange.adapter import (
    Balance,
    ExchangeError,
    MarketInfo,
    OrderReport,
    OrderSide,
)
from tradewinds.exchange.paper import DEFAULT_FEE_RATE, PaperAccount, split_symbol
from tradewinds.exchange.resume import wall_clock_ms

NAME = "sim"
# Synthetic markets trade from 2015-01-01T00:00Z on; there are no candles before.
LISTED_MS = 1_420_070_400_000
BLOCK_MINUTES = 1440  # one generated block per UTC day
_FETCH_CHUNK_MINUTES = 30 * BLOCK_MINUTES  # bounds the memory of one history request

# The `kind` word of the seed keeps the random streams of the different uses apart.
_PAIR_KIND, _ANCHOR_KIND, _WALK_KIND, _FORMING_KIND = 1, 2, 3, 4

PAIR_NAMES = (
    "ALPHA", "BRAVO", "CHARLIE", "DELTA", "ECHO", "FOXTROT", "GOLF", "HOTEL", "INDIA", "JULIETT",
    "KILO", "LIMA", "MIKE", "NOVEMBER", "OSCAR", "PAPA", "QUEBEC", "ROMEO", "SIERRA", "TANGO",
    "UNIFORM", "VICTOR", "WHISKEY", "XRAY", "YANKEE", "ZULU",
)  # fmt: skip

Clock = Callable[[], float]  # real seconds, monotonic
Sleep = Callable[[float], Awaitable[None]]


def pair_name(index: int) -> str:
    """The base currency of synthetic pair `index`: NATO names, then SIM26, SIM27..."""
    return PAIR_NAMES[index] if index < len(PAIR_NAMES) else f"SIM{index}"


def step_offset_ms(step: int, steps: int) -> int:
    """When, after the minute opened, forming update `step` (1..steps) is due; the last at its end."""
    return step * MINUTE_MS // steps


def steps_due(minute_ms: int, now_ms: int, steps: int) -> int:
    """How many of the minute's forming updates are due at `now_ms` (0..steps)."""
    elapsed = now_ms - minute_ms
    if elapsed <= 0:
        return 0
    return min(steps, elapsed * steps // MINUTE_MS)


def forming_states(
    final: Candle, steps: int, rng: np.random.Generator, decimals: int | None = None
) -> list[tuple[int, Candle]]:
    """The states (step, candle) a minute goes through on its way to `final`, ascending by step.

    The open is fixed, high and low only widen, closes stay inside the final range and volume
    grows strictly (the core tells versions of a minute apart by volume), ending at `final` at
    step `steps`. A state whose volume would not grow (zero-volume minutes) is left out.
    """
    o, h, lo, c, v = final.open, final.high, final.low, final.close, final.volume
    draws = rng.random(steps - 1)
    high_at, low_at = (int(x) for x in rng.integers(1, steps + 1, size=2))
    weights = 0.3 + rng.random(steps)
    shares = np.cumsum(weights) / weights.sum()
    path = o + (c - o) * np.arange(1, steps) / steps + (draws - 0.5) * (h - lo)
    closes = np.round(path, decimals) if decimals is not None else path
    closes = np.clip(closes, lo, h)
    states: list[tuple[int, Candle]] = []
    run_high = run_low = o
    last_volume = 0.0
    for step in range(1, steps):
        close = float(closes[step - 1])
        run_high = h if step >= high_at else max(run_high, close)
        run_low = lo if step >= low_at else min(run_low, close)
        volume = float(v * shares[step - 1])
        if decimals is not None:
            volume = round(volume, 8)
        if last_volume < volume < v:
            states.append((step, Candle(final.time, o, run_high, run_low, close, volume)))
            last_volume = volume
    states.append((steps, final))
    return states


class MinuteSource(Protocol):
    """Where a simulator's 1-minute candles come from. Pure: no I/O, no clock."""

    markets: Mapping[str, MarketInfo]
    first_ms: int  # no candle opens earlier
    end_ms: int | None  # the stream ends when simulated time reaches it; None: never

    def candle(self, symbol: str, minute_ms: int) -> Candle | None:
        """The closed candle of the minute, None if it had no trades."""
        ...

    def closed(self, symbol: str, first_ms: int, last_ms: int) -> CandleArrays:
        """Candles opening in [first_ms, last_ms], ascending."""
        ...

    def before(self, symbol: str, minute_ms: int, count: int) -> list[Candle]:
        """The newest `count` candles opening before `minute_ms`, ascending."""
        ...

    def forming(self, symbol: str, minute_ms: int, steps: int) -> list[tuple[int, Candle]]:
        """The forming states of the minute (see `forming_states`); empty if it had no trades."""
        ...


# ----------------------------------------------------------------------------- synthetic market


@dataclass(frozen=True, slots=True)
class PairModel:
    """The seeded character of one synthetic pair."""

    index: int
    market: MarketInfo
    base_price: float
    volatility: float  # standard deviation of a one-minute log return
    base_volume: float  # typical volume of a minute, in base currency
    no_trade_rate: float  # share of minutes without trades
    decimals: int  # prices are rounded to this many decimals (5 significant digits)


@dataclass(frozen=True, slots=True)
class _Block:
    """One day of one pair; index i is minute `start + i`."""

    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    traded: npt.NDArray[np.bool_]


def _pair_model(seed: int, index: int, quote: str) -> PairModel:
    rng = np.random.default_rng([seed, index, _PAIR_KIND])
    magnitude = float(rng.uniform(-1.0, 4.5))
    decimals = max(0, 4 - math.floor(magnitude))
    base_price = round(10.0**magnitude, decimals)
    volatility = float(rng.uniform(0.0005, 0.003))
    base_volume = round(10.0 ** float(rng.uniform(3.0, 5.0)) / base_price, 8)
    no_trade_rate = float(rng.uniform(0.005, 0.04))
    amount_decimals = min(8, max(0, math.floor(magnitude) + 4))
    step = Decimal(1).scaleb(-amount_decimals)
    min_amount = max(step, Decimal(10) ** math.ceil(math.log10(10.0 / base_price)))
    base = pair_name(index)
    market = MarketInfo(
        symbol=f"{base}/{quote}",
        exchange_id=f"{base}{quote}",
        base=base,
        quote=quote,
        amount_precision=step,
        price_precision=Decimal(1).scaleb(-decimals),
        min_amount=min_amount,
    )
    return PairModel(index, market, base_price, volatility, base_volume, no_trade_rate, decimals)


class SyntheticMarket:
    """`pairs` seeded random-walk markets quoted in `quote`; implements `MinuteSource`."""

    end_ms: int | None = None

    def __init__(self, pairs: int = 8, seed: int = 1, quote: str = "USD", cache_blocks: int = 64) -> None:
        if not 1 <= pairs <= 1000:
            raise ValueError(f"pairs must be between 1 and 1000, got {pairs}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.seed = seed
        self.first_ms = LISTED_MS
        self.models = {m.market.symbol: m for m in (_pair_model(seed, i, quote) for i in range(pairs))}
        self.markets: Mapping[str, MarketInfo] = {s: m.market for s, m in self.models.items()}
        self._blocks: OrderedDict[tuple[int, int], _Block] = OrderedDict()
        self._cache_blocks = cache_blocks

    def _anchor(self, model: PairModel, block: int) -> float:
        """The log price a day opens at: drawn around the base price, independently per day.

        Its spread makes day-to-day changes as large as a day of the minute walk would be.
        """
        z = float(np.random.default_rng([self.seed, model.index, _ANCHOR_KIND, block]).standard_normal())
        return math.log(model.base_price) + z * model.volatility * math.sqrt(BLOCK_MINUTES / 2)

    def _block(self, model: PairModel, block: int) -> _Block:
        key = (model.index, block)
        cached = self._blocks.get(key)
        if cached is not None:
            self._blocks.move_to_end(key)
            return cached
        made = self._generate(model, block)
        self._blocks[key] = made
        if len(self._blocks) > self._cache_blocks:
            self._blocks.popitem(last=False)
        return made

    def _generate(self, model: PairModel, block: int) -> _Block:
        n = BLOCK_MINUTES
        rng = np.random.default_rng([self.seed, model.index, _WALK_KIND, block])
        start, end = self._anchor(model, block), self._anchor(model, block + 1)
        returns = rng.standard_normal(n) * model.volatility
        walk = np.cumsum(returns)
        # Brownian bridge: the walk, bent linearly so that it ends at the next day's anchor.
        levels = np.empty(n + 1)
        levels[0] = start
        levels[1:] = start + walk - np.arange(1, n + 1) / n * (walk[-1] - (end - start))
        levels[-1] = end
        d = model.decimals
        tick = 10.0**-d
        prices = np.maximum(np.round(np.exp(levels), d), tick)
        opens, closes = prices[:-1], prices[1:]
        wick_up = np.abs(rng.standard_normal(n)) * model.volatility * 0.6
        wick_down = np.abs(rng.standard_normal(n)) * model.volatility * 0.6
        top, bottom = np.maximum(opens, closes), np.minimum(opens, closes)
        highs = np.maximum(np.round(top * np.exp(wick_up), d), top)
        lows = np.maximum(np.minimum(np.round(bottom * np.exp(-wick_down), d), bottom), tick)
        activity = np.exp(0.5 * rng.standard_normal(n)) * (1 + 0.5 * np.abs(returns) / model.volatility)
        volumes = np.maximum(np.round(model.base_volume * activity, 8), 1e-4)
        traded = rng.random(n) >= model.no_trade_rate
        return _Block(opens, highs, lows, closes, volumes, traded)

    def _model(self, symbol: str) -> PairModel:
        model = self.models.get(symbol)
        if model is None:
            raise ExchangeError(unknown_market_message(symbol, self.markets))
        return model

    def candle(self, symbol: str, minute_ms: int) -> Candle | None:
        model = self._model(symbol)
        if minute_ms < self.first_ms:
            return None
        minute = minute_ms // MINUTE_MS
        block = self._block(model, minute // BLOCK_MINUTES)
        i = minute % BLOCK_MINUTES
        if not block.traded[i]:
            return None
        return Candle(
            minute * MINUTE_MS,
            float(block.open[i]),
            float(block.high[i]),
            float(block.low[i]),
            float(block.close[i]),
            float(block.volume[i]),
        )

    def closed(self, symbol: str, first_ms: int, last_ms: int) -> CandleArrays:
        model = self._model(symbol)
        first = -(-max(first_ms, self.first_ms) // MINUTE_MS)
        last = last_ms // MINUTE_MS
        parts: list[CandleArrays] = []
        blocks = range(first // BLOCK_MINUTES, last // BLOCK_MINUTES + 1) if first <= last else range(0)
        for block_index in blocks:
            block = self._block(model, block_index)
            origin = block_index * BLOCK_MINUTES
            lo, hi = max(first - origin, 0), min(last - origin, BLOCK_MINUTES - 1) + 1
            keep = np.flatnonzero(block.traded[lo:hi]) + lo
            parts.append(
                CandleArrays(
                    time=(origin + keep).astype(np.int64) * MINUTE_MS,
                    open=block.open[keep],
                    high=block.high[keep],
                    low=block.low[keep],
                    close=block.close[keep],
                    volume=block.volume[keep],
                )
            )
        return _concat(parts)

    def before(self, symbol: str, minute_ms: int, count: int) -> list[Candle]:
        found: list[Candle] = []
        last = minute_ms - MINUTE_MS
        while len(found) < count and last >= self.first_ms:
            first = max(last - (2 * count + 8) * MINUTE_MS, self.first_ms)
            found = self.closed(symbol, first, last).to_candles()[-(count - len(found)) :] + found
            last = first - MINUTE_MS
        return found

    def forming(self, symbol: str, minute_ms: int, steps: int) -> list[tuple[int, Candle]]:
        final = self.candle(symbol, minute_ms)
        if final is None:
            return []
        model = self.models[symbol]
        rng = np.random.default_rng([self.seed, model.index, _FORMING_KIND, minute_ms // MINUTE_MS])
        return forming_states(final, steps, rng, model.decimals)


# ----------------------------------------------------------------------------- replay


class ReplayTape:
    """The 1-minute candles of one market from a file, as a `MinuteSource`."""

    def __init__(self, candles: CandleArrays, symbol: str = "BTC/USD", seed: int = 1) -> None:
        currencies = split_symbol(symbol)
        if currencies is None:
            raise ValueError(f"{symbol!r} is not a market symbol (symbols look like 'BTC/USD')")
        if len(candles) == 0:
            raise ValueError("there are no candles to replay")
        if np.any(candles.time % MINUTE_MS):
            raise ValueError("replay needs 1-minute candles; some rows do not open on a minute")
        if len(candles) > 1 and int(np.min(np.diff(candles.time))) != MINUTE_MS:
            raise ValueError("replay needs 1-minute candles; no two rows are one minute apart")
        self.symbol = symbol
        self.seed = seed
        self.tape = candles
        base, quote = currencies
        self.markets: Mapping[str, MarketInfo] = {
            symbol: MarketInfo(
                symbol=symbol,
                exchange_id=f"{base}{quote}",
                base=base,
                quote=quote,
                amount_precision=Decimal("0.00000001"),
                min_amount=Decimal("0.00001"),
            )
        }
        self.first_ms = int(candles.time[0])
        self.end_ms: int | None = int(candles.time[-1]) + MINUTE_MS

    def _check(self, symbol: str) -> None:
        if symbol != self.symbol:
            raise ExchangeError(unknown_market_message(symbol, self.markets))

    def _index(self, minute_ms: int) -> int:
        """Position of the first row opening at or after `minute_ms`."""
        return int(np.searchsorted(self.tape.time, minute_ms, side="left"))

    def candle(self, symbol: str, minute_ms: int) -> Candle | None:
        self._check(symbol)
        i = self._index(minute_ms)
        if i < len(self.tape) and int(self.tape.time[i]) == minute_ms:
            return self.tape.slice(i, i + 1).to_candles()[0]
        return None

    def closed(self, symbol: str, first_ms: int, last_ms: int) -> CandleArrays:
        self._check(symbol)
        return self.tape.slice(self._index(first_ms), self._index(last_ms + 1))

    def before(self, symbol: str, minute_ms: int, count: int) -> list[Candle]:
        self._check(symbol)
        end = self._index(minute_ms)
        return self.tape.slice(max(0, end - count), end).to_candles()

    def forming(self, symbol: str, minute_ms: int, steps: int) -> list[tuple[int, Candle]]:
        final = self.candle(symbol, minute_ms)
        if final is None:
            return []
        rng = np.random.default_rng([self.seed, 0, _FORMING_KIND, minute_ms // MINUTE_MS])
        return forming_states(final, steps, rng)


def _concat(parts: Sequence[CandleArrays]) -> CandleArrays:
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return CandleArrays.from_candles([])
    return CandleArrays(
        time=np.concatenate([p.time for p in parts]),
        open=np.concatenate([p.open for p in parts]),
        high=np.concatenate([p.high for p in parts]),
        low=np.concatenate([p.low for p in parts]),
        close=np.concatenate([p.close for p in parts]),
        volume=np.concatenate([p.volume for p in parts]),
    )


def unknown_market_message(symbol: str, markets: Mapping[str, MarketInfo]) -> str:
    return f"{NAME} has no market {symbol!r}; its markets are: {', '.join(markets)}"


# ----------------------------------------------------------------------------- the exchange


class SimulatedExchange:
    """The `sim` venue: a synthetic (or replayed) market in simulated time, trading on paper.

    `speed` is simulated seconds per real second (60: a simulated minute per second); simulated
    time starts at `start_ms` (default: now, aligned down to a minute). `clock` (real seconds)
    and `sleep` are injectable so tests can run simulated time without waiting. The paper account
    (`account`) starts with `balances`, by default 10,000 of the quote currency.

    With `realtime_after_catch_up`, a simulator started in the past (`start_ms` before the
    present, read from `wall_clock` once) runs at `speed` until it reaches the present and then
    in real time, keeping step with the wall clock.
    """

    def __init__(
        self,
        pairs: int = 8,
        seed: int = 1,
        speed: float = 1.0,
        start_ms: int | None = None,
        *,
        quote: str = "USD",
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        balances: Mapping[str, Decimal] | None = None,
        fee_rate: Decimal = DEFAULT_FEE_RATE,
        slippage: Decimal = Decimal(0),
        updates_per_minute: int = 6,
        snapshot_minutes: int = 5,
        realtime_after_catch_up: bool = False,
        wall_clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        source = SyntheticMarket(pairs, seed, quote)
        present = wall_clock()
        start = present if start_ms is None else start_ms  # in step with the wall clock
        if start < source.first_ms:
            raise ValueError(f"start_ms {start} is before the synthetic markets open ({LISTED_MS})")
        self._setup(
            source,
            speed=speed,
            start_ms=start,
            clock=clock,
            sleep=sleep,
            balances={quote: Decimal(10_000)} if balances is None else balances,
            fee_rate=fee_rate,
            slippage=slippage,
            updates_per_minute=updates_per_minute,
            snapshot_minutes=snapshot_minutes,
            catch_up_until_ms=present if realtime_after_catch_up else None,
        )

    @classmethod
    def replay(
        cls,
        candles: Path | str | CandleArrays,
        symbol: str = "BTC/USD",
        speed: float = 60.0,
        start_ms: int | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        balances: Mapping[str, Decimal] | None = None,
        fee_rate: Decimal = DEFAULT_FEE_RATE,
        slippage: Decimal = Decimal(0),
        updates_per_minute: int = 6,
        snapshot_minutes: int = 5,
        seed: int = 1,
    ) -> SimulatedExchange:
        """Replay a 1-minute candle CSV (or arrays) as `symbol`, from `start_ms` (default: its first row).

        History is the rows before the replay position; the stream ends after the last row.
        """
        arrays = candles if isinstance(candles, CandleArrays) else read_candle_csv(candles)
        source = ReplayTape(arrays, symbol, seed)
        start = source.first_ms if start_ms is None else start_ms - start_ms % MINUTE_MS
        quote = source.markets[symbol].quote
        sim = cls.__new__(cls)
        sim._setup(
            source,
            speed=speed,
            start_ms=start,
            clock=clock,
            sleep=sleep,
            balances={quote: Decimal(10_000)} if balances is None else balances,
            fee_rate=fee_rate,
            slippage=slippage,
            updates_per_minute=updates_per_minute,
            snapshot_minutes=snapshot_minutes,
        )
        return sim

    def _setup(
        self,
        source: MinuteSource,
        *,
        speed: float,
        start_ms: int,
        clock: Clock,
        sleep: Sleep,
        balances: Mapping[str, Decimal],
        fee_rate: Decimal,
        slippage: Decimal,
        updates_per_minute: int,
        snapshot_minutes: int,
        catch_up_until_ms: int | None = None,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed}")
        if not 1 <= updates_per_minute <= 600:
            raise ValueError(f"updates_per_minute must be between 1 and 600, got {updates_per_minute}")
        self.name = NAME
        self.source = source
        self.speed = speed
        self.start_ms = start_ms
        self.updates_per_minute = updates_per_minute
        self.snapshot_minutes = snapshot_minutes
        self._clock = clock
        self._sleep = sleep
        self._clock_origin = clock()
        self._present_ms = catch_up_until_ms
        self._closed = asyncio.Event()
        self._forming: OrderedDict[tuple[str, int], list[tuple[int, Candle]]] = OrderedDict()
        self.account = PaperAccount(
            balances,
            source.markets.values(),
            fee_rate=fee_rate,
            slippage=slippage,
            price_source=self.latest_price,
            now_ms=self.now_ms,
            order_id_prefix=NAME,
        )

    # -------------------------------------------------------------- simulated time and prices

    def now_ms(self) -> int:
        """Simulated time, UTC epoch milliseconds."""
        elapsed_ms = (self._clock() - self._clock_origin) * 1000
        simulated = self.start_ms + round(elapsed_ms * self.speed)
        if self._present_ms is None:
            return simulated
        # Catching up: at `speed` until simulated time reaches the present, then in step with it.
        return min(simulated, self._present_ms + round(elapsed_ms))

    def _is_history(self, minute_ms: int) -> bool:
        """Catching up, and the minute ended on the wall clock already."""
        if self._present_ms is None:
            return False
        wall_ms = self._present_ms + round((self._clock() - self._clock_origin) * 1000)
        return minute_ms + MINUTE_MS <= wall_ms

    def _rate(self) -> float:
        """Simulated seconds per real second just now."""
        if self._present_ms is None:
            return self.speed
        elapsed_ms = (self._clock() - self._clock_origin) * 1000
        caught_up = self.start_ms + elapsed_ms * self.speed >= self._present_ms + elapsed_ms
        return 1.0 if caught_up else self.speed

    @property
    def symbols(self) -> list[str]:
        return list(self.source.markets)

    def _market(self, symbol: str) -> MarketInfo:
        market = self.source.markets.get(symbol)
        if market is None:
            raise ExchangeError(unknown_market_message(symbol, self.source.markets))
        return market

    def state_at(self, symbol: str, minute_ms: int, step: int) -> Candle | None:
        """The minute's candle as the stream shows it after `step` updates (None: no trade yet)."""
        key = (symbol, minute_ms)
        states = self._forming.get(key)
        if states is None:
            states = self.source.forming(symbol, minute_ms, self.updates_per_minute)
            self._forming[key] = states
            if len(self._forming) > 4 * len(self.source.markets) + 16:
                self._forming.popitem(last=False)
        shown = None
        for at, candle in states:
            if at > step:
                break
            shown = candle
        return shown

    def latest_candle(self, symbol: str) -> Candle | None:
        """The newest candle state at the current simulated time (forming or closed)."""
        self._market(symbol)
        now = self.now_ms()
        minute = now - now % MINUTE_MS
        forming = self.state_at(symbol, minute, steps_due(minute, now, self.updates_per_minute))
        if forming is not None:
            return forming
        recent = self.source.before(symbol, minute, 1)
        return recent[-1] if recent else None

    def latest_price(self, symbol: str) -> Decimal | None:
        """The close of the newest candle state: what a market order on `sim` fills at."""
        if symbol not in self.source.markets:
            return None
        candle = self.latest_candle(symbol)
        return None if candle is None else Decimal(str(candle.close))

    def _check_open(self) -> None:
        if self._closed.is_set():
            raise ExchangeError(f"the {NAME} exchange is closed")

    # -------------------------------------------------------------- ExchangeAdapter: market data

    async def list_markets(self) -> list[MarketInfo]:
        self._check_open()
        return list(self.source.markets.values())

    async def fetch_candles(
        self,
        symbol: str,
        timeframe: Timeframe,
        since_ms: int,
        until_ms: int | None = None,
        limit: int = 1000,
    ) -> list[Candle]:
        """Closed candles only: a bucket counts once all of its minutes are before the current one."""
        self._check_open()
        self._market(symbol)
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        now = self.now_ms()
        tf = timeframe.ms
        first = max(-(-since_ms // tf) * tf, timeframe.bucket_start(self.source.first_ms))
        last = timeframe.bucket_start(now) - tf  # the newest bucket that is over
        if until_ms is not None:
            last = min(last, timeframe.bucket_start(until_ms))
        chunk = max(tf, min(tf * limit, _FETCH_CHUNK_MINUTES * MINUTE_MS) // tf * tf)
        found: list[Candle] = []
        while first <= last and len(found) < limit:
            upto = min(first + chunk - tf, last)
            minutes = self.source.closed(symbol, first, upto + tf - MINUTE_MS)
            rolled = minutes if timeframe is Timeframe.M1 else resample_candles(minutes, timeframe)
            found.extend(rolled.to_candles())
            first = upto + tf
        return found[:limit]

    def stream_candles(self, symbols: Sequence[str]) -> AsyncIterator[CandleUpdate]:
        self._check_open()
        chosen = list(dict.fromkeys(symbols))
        for symbol in chosen:
            self._market(symbol)
        return self._stream(chosen)

    async def _stream(self, symbols: list[str]) -> AsyncIterator[CandleUpdate]:
        steps = self.updates_per_minute
        now = self.now_ms()
        minute = now - now % MINUTE_MS
        for symbol in symbols:
            for candle in self.source.before(symbol, minute, self.snapshot_minutes):
                yield self._update(symbol, candle, UpdateSource.SNAPSHOT)
        shown: dict[str, Candle] = {}
        done = 0  # forming updates of `minute` already sent
        end = self.source.end_ms
        while not self._closed.is_set() and (end is None or minute < end):
            due = steps_due(minute, self.now_ms(), steps)
            # While catching up, a minute that is over on the wall clock is history: its forming
            # states would reach consumers after they closed it by the clock, as corrections.
            history = self._is_history(minute)
            if history and due < steps:
                due = done
            if due > done:
                # A minute that is already over shows only its final state (a lagging consumer
                # catches up without the intermediate ones).
                for symbol in symbols:
                    state = self.state_at(symbol, minute, due)
                    if state is not None and state != shown.get(symbol):
                        shown[symbol] = state
                        yield self._update(symbol, state, UpdateSource.LIVE)
                done = due
            if done == steps:
                minute += MINUTE_MS
                done = 0
                continue
            await self._pause_until(minute + (MINUTE_MS if history else step_offset_ms(done + 1, steps)))

    def _update(self, symbol: str, candle: Candle, source: UpdateSource) -> CandleUpdate:
        return CandleUpdate(self.name, symbol, candle, source=source, received_ms=self.now_ms())

    async def _pause_until(self, sim_ms: int) -> None:
        """Sleep until simulated time `sim_ms`, or until the exchange is closed."""
        delay = max(0.0, (sim_ms - self.now_ms()) / 1000 / self._rate())
        sleeper = asyncio.ensure_future(self._sleep(delay))
        closer = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait({sleeper, closer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, closer):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # -------------------------------------------------------------- ExchangeAdapter: trading

    async def fetch_balances(self) -> dict[str, Balance]:
        self._check_open()
        return self.account.balances()

    async def place_market_order(
        self, symbol: str, side: OrderSide, amount: Decimal, client_order_id: int
    ) -> OrderReport:
        self._check_open()
        return self.account.place_market_order(symbol, side, amount, client_order_id)

    async def fetch_order(
        self, symbol: str, order_id: str | None = None, client_order_id: int | None = None
    ) -> OrderReport | None:
        self._check_open()
        return self.account.fetch_order(symbol, order_id, client_order_id)

    async def close(self) -> None:
        """End every stream; later calls raise ExchangeError."""
        self._closed.set()
