"""`SimulatedExchange`: the `sim` venue, a synthetic or replayed market in simulated time."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candle_csv import read_candle_csv
from tradewinds.domain.candles import Candle
from tradewinds.domain.messages import CandleUpdate, StreamAlive, UpdateSource
from tradewinds.domain.resample import resample_candles
from tradewinds.domain.timeframes import MINUTE_MS, Timeframe
from tradewinds.exchange.adapter import (
    Balance,
    ExchangeError,
    MarketInfo,
    OrderReport,
    OrderSide,
)
from tradewinds.exchange.paper import DEFAULT_FEE_RATE, PaperAccount
from tradewinds.exchange.resume import wall_clock_ms
from tradewinds.exchange.sim.replay import ReplayTape
from tradewinds.exchange.sim.source import (
    NAME,
    MinuteSource,
    step_offset_ms,
    steps_due,
    unknown_market_message,
)
from tradewinds.exchange.sim.synthetic import SyntheticMarket

Clock = Callable[[], float]  # real seconds, monotonic
Sleep = Callable[[float], Awaitable[None]]

_FETCH_CHUNK_MINUTES = 30 * 1440  # bounds the memory of one history request
# The sim knows when a minute is over: it vouches for it this long (simulated) after the minute's
# end, past the core's settle time (`alive_settle_ms`), so the core closes the minute then instead
# of waiting for the next minute's first update (a paper fill then sees the closed candle's close).
ALIVE_AFTER_MS = 1_500


class SimulatedExchange:
    """The `sim` venue: a synthetic (or replayed) market in simulated time, trading on paper.

    `speed` is simulated seconds per real second (60: a simulated minute per second); simulated
    time starts at `start_ms` (default: now, in step with the wall clock). `clock` (real seconds)
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
        source: MinuteSource | None = None,
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
        """`source` replaces the synthetic market of `pairs`, `seed` and `quote` (see `replay`)."""
        source = source or SyntheticMarket(pairs, seed, quote)
        present = wall_clock()
        start_ms = present if start_ms is None else start_ms  # in step with the wall clock
        if start_ms < source.first_ms:
            raise ValueError(f"start_ms {start_ms} is before the market's first minute ({source.first_ms})")
        if balances is None:
            balances = {next(iter(source.markets.values())).quote: Decimal(10_000)}
        catch_up_until_ms = present if realtime_after_catch_up else None
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
        tape = ReplayTape(arrays, symbol, seed)
        return cls(
            speed=speed,
            start_ms=tape.first_ms if start_ms is None else start_ms - start_ms % MINUTE_MS,
            source=tape,
            clock=clock,
            sleep=sleep,
            balances=balances,
            fee_rate=fee_rate,
            slippage=slippage,
            updates_per_minute=updates_per_minute,
            snapshot_minutes=snapshot_minutes,
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
        return self._stream(self._chosen(symbols), alive=False)  # type: ignore[return-value]

    def stream_market_data(self, symbols: Sequence[str]) -> AsyncIterator[CandleUpdate | StreamAlive]:
        """`stream_candles`, with a `StreamAlive` for every minute once it is over."""
        return self._stream(self._chosen(symbols), alive=True)

    def _chosen(self, symbols: Sequence[str]) -> list[str]:
        self._check_open()
        chosen = list(dict.fromkeys(symbols))
        for symbol in chosen:
            self._market(symbol)
        return chosen

    async def _stream(self, symbols: list[str], alive: bool) -> AsyncIterator[CandleUpdate | StreamAlive]:
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
                if alive:
                    vouched = minute + MINUTE_MS + ALIVE_AFTER_MS
                    await self._pause_until(vouched)
                    yield StreamAlive(self.name, tuple(symbols), vouched)
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
            sleeper.cancel()
            closer.cancel()
            # gather, not `suppress(CancelledError)` around each await: a cancel of this task that
            # lands here must end the stream, and suppress would swallow it (streaming on forever).
            await asyncio.gather(sleeper, closer, return_exceptions=True)

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
