"""Bitfinex market data end to end, as separate processes: `tradewinds exchange bitfinex` and
`tradewinds core` on a private nats-server, storing into SQLite, with the exchange pointed at the
fake Bitfinex (tests/exchange/fake_bitfinex.py) serving from a thread of this test process.

The processes run on the wall clock, so the fake's minutes are real ones: a market that runs ahead
of the clock. Its first minutes are in the recent past (history, then streamed), a restart (info
20051) hides a few more past minutes that only REST serves, and it ends on the present minute and
the next two (the core accepts candles up to 5 minutes ahead); the last one is still forming.
Only two REST candle requests per market are needed (startup backfill, catch-up after the
restart), well within the burst of Bitfinex's real budget of 30 per minute.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.e2e.processes import TRADEWINDS, Processes, platform, published_closes, wait_until
from tests.exchange.fake_bitfinex import FakeBitfinex, Row, wire_row
from tradewinds.core.pipeline import PipelineConfig
from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candles import Candle, SeriesKey
from tradewinds.domain.messages import CloseReason
from tradewinds.domain.resample import resample_candles
from tradewinds.domain.timeframes import MINUTE_MS, Timeframe
from tradewinds.storage.candles import CandleStore
from tradewinds.storage.database import create_engine

pytestmark = pytest.mark.slow
MARKETS = {"BTC/USD": ("tBTCUSD", 30_000.0), "ETH/USD": ("tETHUSD", 2_000.0)}  # symbol -> (id, price)
FINAL = 3  # versions 0..3 of a minute are streamed; 3 is the one it closes with
HISTORY = 12  # closed minutes the fake holds before the stream starts
FIVE = Timeframe.M5.ms
T = TypeVar("T")


def version(symbol: str, time_ms: int, step: int) -> Candle:
    """Version `step` of a minute: trades only add volume and widen the range. O, H, L and C all
    differ, so a mix-up of Bitfinex's wire order (C before H and L) shows."""
    base = MARKETS[symbol][1] + (time_ms // MINUTE_MS) % 1000
    return Candle(
        time_ms, base, base + 2.0 + step, base - 1.0 - step, base + 0.5 + 0.25 * step, 1.0 + 0.5 * step
    )


def wire(candle: Candle) -> Row:
    return wire_row(candle.time, candle.open, candle.high, candle.low, candle.close, candle.volume)


class ServedFake:
    """The fake Bitfinex on an event loop of its own thread; every access goes through that loop."""

    def __init__(self, server: FakeBitfinex) -> None:
        self.server = server
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-bitfinex", daemon=True)
        self._thread.start()
        self.run(server.start())

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=timeout)

    def call(self, function: Callable[[], T]) -> T:
        async def inside() -> T:
            return function()

        return self.run(inside())

    def close(self) -> None:
        try:
            self.run(self.server.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    # What the test does to the market, each step atomic with respect to the fake's own work.

    def load(self, candles: dict[str, list[Candle]]) -> None:
        """History only REST serves (and snapshots): nothing is streamed."""

        def load_all() -> None:
            for symbol, rows in candles.items():
                self.server.load_rows(MARKETS[symbol][0], "1m", [wire(c) for c in rows])

        self.call(load_all)

    def stream(self, candles: list[Candle], symbol: str) -> None:
        async def push() -> None:
            for candle in candles:
                await self.server.push_candle(MARKETS[symbol][0], wire(candle))

        self.run(push())

    def restart(self, hidden: dict[str, list[Candle]]) -> None:
        """Minutes close while the connection is down: the fake restarts (20051, close) with them
        already in its history, so no stream carries them."""

        async def restart() -> None:
            for symbol, rows in hidden.items():
                self.server.load_rows(MARKETS[symbol][0], "1m", [wire(c) for c in rows])
            await self.server.restart_websockets()

        self.run(restart())


@pytest.fixture
def fake() -> Iterator[ServedFake]:
    # Snapshots of one candle: after the restart the minutes missed are not in the snapshot, so
    # the adapter has to fetch them over REST.
    served = ServedFake(FakeBitfinex(snapshot_size=1, heartbeat_s=2.0))
    try:
        yield served
    finally:
        served.close()


@pytest.fixture
def processes(tmp_path: Path, nats_url: str, fake: ServedFake) -> Iterator[Processes]:
    yield from platform(tmp_path, nats_url, extra_env=fake.server.env())


async def _stored(url: str, symbol: str, timeframe: Timeframe) -> CandleArrays:
    engine = create_engine(url)
    try:
        return await CandleStore(engine).range_arrays(SeriesKey("bitfinex", symbol, timeframe), None, None)
    finally:
        await engine.dispose()


def stored(url: str, symbol: str, timeframe: Timeframe = Timeframe.M1) -> dict[int, Candle]:
    return {c.time: c for c in asyncio.run(_stored(url, symbol, timeframe)).to_candles()}


def minute_closes(nats_url: str, symbol: str) -> dict[int, list[CloseReason]]:
    """Why the core closed each 1-minute candle of `symbol`, from what it published."""
    reasons: dict[int, list[CloseReason]] = {}
    for close in published_closes(nats_url):
        if close.symbol == symbol and close.timeframe == Timeframe.M1.value:
            reasons.setdefault(close.candle.time, []).append(close.reason)
    return reasons


def minute_now() -> int:
    now = time.time_ns() // 1_000_000
    return now - now % MINUTE_MS


def test_bitfinex_candles_survive_a_restart_from_exchange_process_to_core_storage(
    processes: Processes, fake: ServedFake
) -> None:
    url = processes.env["TRADEWINDS_DATABASE_URL"]
    symbols = list(MARKETS)
    final: dict[str, dict[int, Candle]] = {s: {} for s in symbols}  # what each minute closed as

    def settled(symbol: str, time_ms: int) -> Callable[[], bool]:
        """The core stored the minute as it finally is."""
        return lambda: stored(url, symbol).get(time_ms) == final[symbol][time_ms]

    def everywhere(time_ms: int) -> Callable[[], bool]:
        return lambda: all(settled(s, time_ms)() for s in symbols)

    # The fake's history: closed minutes, then the first version of minute `first`, forming.
    first = minute_now() - 8 * MINUTE_MS
    history = {
        s: [version(s, t, FINAL) for t in range(first - HISTORY * MINUTE_MS, first, MINUTE_MS)]
        for s in symbols
    }
    fake.load({s: [*history[s], version(s, first, 0)] for s in symbols})
    # The core's first candle of a market (here `first`, from the snapshot) makes it backfill
    # from the start of its longest rollup period (the UTC day): only that part of the history.
    origin = first - first % PipelineConfig().span_ms
    for symbol in symbols:
        final[symbol].update((c.time, c) for c in history[symbol] if c.time >= origin)

    processes.start("core", "core", "--grace", "1")
    wait_until(processes, "the core to listen", lambda: "core: listening on" in processes.log("core"))
    processes.start("exchange", "exchange", "bitfinex", "--symbols", ",".join(symbols))

    def started() -> bool:  # the history backfilled, and `first` closed by the clock (it is past)
        return all(
            first in (minutes := stored(url, s)) and all(minutes.get(t) == c for t, c in final[s].items())
            for s in symbols
        )

    wait_until(processes, "the startup backfill", started, within=20)
    assert fake.call(lambda: fake.server.channel_count) == 2

    # Live: each minute re-sent with growing volume, then the next one; five minutes of it.
    streamed = range(first, first + 5 * MINUTE_MS, MINUTE_MS)
    for t in streamed:
        for symbol in symbols:
            steps = [version(symbol, t, step) for step in range(1 if t == first else 0, FINAL + 1)]
            fake.stream(steps, symbol)
            final[symbol][t] = steps[-1]
    last_streamed = streamed[-1]
    # The last one is in the past: the core closes it by the clock once the grace time is over.
    wait_until(processes, "the streamed minutes", everywhere(last_streamed))

    # A restart. While the connection is down the last streamed minute trades once more and the
    # minutes up to the present one close; only REST has them.
    present = minute_now()
    hidden_range = range(last_streamed + MINUTE_MS, present, MINUTE_MS)
    hidden: dict[str, list[Candle]] = {}
    for symbol in symbols:
        final[symbol][last_streamed] = version(symbol, last_streamed, FINAL + 1)
        for t in hidden_range:
            final[symbol][t] = version(symbol, t, FINAL)
        hidden[symbol] = [
            final[symbol][last_streamed],
            *(final[symbol][t] for t in hidden_range),
            version(symbol, present, 0),
        ]
    fake.restart(hidden)
    wait_until(
        processes,
        "the reconnection",
        lambda: fake.call(lambda: (fake.server.connections_opened, fake.server.channel_count)) == (2, 2),
    )
    wait_until(processes, "the minutes missed during the restart", everywhere(present - MINUTE_MS))
    assert all(settled(s, last_streamed)() for s in symbols), processes.logs()

    # Live again: the present minute and the next, closed by the candle after them; the one
    # after that is still forming when everything stops.
    for t in (present, present + MINUTE_MS):
        for symbol in symbols:
            steps = [version(symbol, t, step) for step in range(1 if t == present else 0, FINAL + 1)]
            fake.stream(steps, symbol)
            final[symbol][t] = steps[-1]
    forming = present + 2 * MINUTE_MS
    for symbol in symbols:
        fake.stream([version(symbol, forming, 0), version(symbol, forming, 1)], symbol)
    wait_until(processes, "the minutes streamed after the restart", everywhere(present + MINUTE_MS))
    clock_stood_still = minute_now() == present  # else the clock may have closed `present` first

    assert processes.stop("exchange") == 0, processes.logs()
    assert processes.stop("core") == 0, processes.logs()
    assert "20051" in processes.log("exchange"), processes.log("exchange")
    # One reconnection, and the minutes hidden by the restart were never streamed: REST requests
    # asked for them (usually one per market, from the catch-up after the reconnection).
    assert fake.call(lambda: fake.server.connections_opened) == 2
    requests = fake.call(lambda: list(fake.server.requests))
    for symbol in symbols:
        path = f"/v2/candles/trade:1m:{MARKETS[symbol][0]}/hist"
        asked = [(int(r.query["start"]), int(r.query["end"])) for r in requests if r.path == path]
        assert all(any(a <= t <= b for a, b in asked) for t in hidden_range), (symbol, asked)

    for symbol in symbols:
        minutes = stored(url, symbol)
        expected = dict(sorted(final[symbol].items()))
        # Every closed minute, each as it finally was, no hole where the restart was, and the
        # forming minute not stored as closed.
        assert list(minutes) == list(expected), (symbol, sorted(set(minutes) ^ set(expected)))
        assert minutes == expected, symbol
        assert forming not in minutes
        # Every stored minute was published as closed, the forming one was not; those streamed in
        # the present closed when the next one arrived, the hidden ones as history.
        reasons = minute_closes(processes.env["TRADEWINDS_NATS_URL"], symbol)
        assert sorted(reasons) == list(expected), sorted(set(reasons) ^ set(expected))
        assert reasons[present + MINUTE_MS] == [CloseReason.NEXT_CANDLE], reasons
        if clock_stood_still:
            assert reasons[present] == [CloseReason.NEXT_CANDLE], reasons
        assert all(reasons[t] == [CloseReason.BACKFILL] for t in hidden_range), reasons
        # 5m rollups: every bucket that is over, equal to resampling the minutes; none beyond.
        five = stored(url, symbol, Timeframe.M5)
        want = {
            c.time: c
            for c in resample_candles(
                CandleArrays.from_candles(list(expected.values())), Timeframe.M5
            ).to_candles()
            if c.time + FIVE <= forming
        }
        assert len(want) >= 2, want
        assert five == want, (symbol, sorted(set(five) ^ set(want)))


def test_an_unknown_market_ends_the_exchange_process_with_a_one_line_error(processes: Processes) -> None:
    result = subprocess.run(
        [*TRADEWINDS, "exchange", "bitfinex", "--symbols", "NOPE/USD"],
        env=processes.env,
        capture_output=True,
        timeout=60,
    )
    stderr = result.stderr.decode(errors="replace")
    assert result.returncode != 0, stderr
    assert "Traceback" not in stderr, stderr
    log_line = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING) ")
    other = [line for line in stderr.splitlines() if line.strip() and not log_line.match(line)]
    assert len(other) == 1 and other[0].startswith("error: ") and "NOPE/USD" in other[0], stderr
