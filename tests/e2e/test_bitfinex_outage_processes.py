"""One Bitfinex connection goes silent (open, nothing sent, no heartbeats, no pongs) a few seconds
before a minute ends while the others go on, end to end as processes: `tradewinds core` and two
`tradewinds exchange bitfinex` replicas (one connection each) against the fake Bitfinex on the
wall clock. The core must not close that connection's minute from the last update it had: it
waits until the adapter notices the silence, reconnects and delivers the minute as history. What
is on the bus (1m and 5m closes) is compared with the true candles (issue 8, item 3).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.processes import Processes, platform, published_closes, wait_until
from tests.e2e.test_bitfinex_processes import ServedFake, minute_now
from tests.exchange.fake_bitfinex import wire_row
from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candles import Candle
from tradewinds.domain.messages import ClosedCandle, CloseReason
from tradewinds.domain.resample import resample_candles
from tradewinds.domain.timeframes import MINUTE_MS, Timeframe

pytestmark = pytest.mark.slow
M = MINUTE_MS
FIVE = Timeframe.M5.ms
LOUD = {"ETH/USD": "tETHUSD", "AVAX/USD": "tAVAX:USD"}  # on the connection that goes on
SILENT = {"BTC/USD": "tBTCUSD", "ETH/BTC": "tETHBTC"}  # on the connection that goes silent
MARKETS = {**LOUD, **SILENT}


def version(symbol: str, time_ms: int, step: int) -> Candle:
    """Version `step` of a minute: each trade adds volume and widens the range."""
    base = 100.0 * (1 + list(MARKETS).index(symbol)) + (time_ms // M) % 50
    return Candle(time_ms, base, base + 2 + step, base - 1 - step, base + 0.5 + 0.25 * step, 1 + 0.5 * step)


@pytest.fixture
def processes(tmp_path: Path, nats_url: str, fake: ServedFake) -> Iterator[Processes]:
    yield from platform(tmp_path, nats_url, extra_env=fake.server.env())


def push(fake: ServedFake, symbol: str, candle: Candle) -> None:
    row = wire_row(candle.time, candle.open, candle.high, candle.low, candle.close, candle.volume)
    fake.run(fake.server.push_candle(MARKETS[symbol], row))


def test_a_connection_silent_before_a_minute_ends_publishes_no_wrong_close(
    processes: Processes, fake: ServedFake
) -> None:
    start = minute_now()
    bucket_of_start = start - start % FIVE
    history = {s: [version(s, t, 3) for t in range(bucket_of_start - FIVE, start, M)] for s in MARKETS}

    def load() -> None:
        for symbol, rows in history.items():
            candles = [*rows, version(symbol, start, 0)]
            fake.server.load_rows(
                MARKETS[symbol],
                "1m",
                [wire_row(c.time, c.open, c.high, c.low, c.close, c.volume) for c in candles],
            )

    fake.call(load)
    processes.start("core", "core", "--grace", "1")
    wait_until(processes, "the core to listen", lambda: "core: listening on" in processes.log("core"))
    processes.start("exchange-loud", "exchange", "bitfinex", "--symbols", ",".join(LOUD))
    processes.start("exchange-silent", "exchange", "bitfinex", "--symbols", ",".join(SILENT))
    wait_until(processes, "the subscriptions", lambda: fake.call(lambda: fake.server.channel_count) == 4, 30)

    # The minute that goes silent near its end: this one if there is time left, else the next.
    now = time.time() * 1000
    silent_minute = minute_now() if minute_now() + M - now > 12_000 else minute_now() + M
    for t in range(start, silent_minute + M, M):
        for symbol in MARKETS:
            for step in range(1 if t == start else 0, 3 if t == silent_minute else 4):
                push(fake, symbol, version(symbol, t, step))
    time.sleep(max(0.0, (silent_minute + M - 4_000) / 1000 - time.time()))
    assert fake.call(lambda: fake.server.silence_connections(SILENT["BTC/USD"])) == 1
    # The minute's last trade, then the rest of its 5m bucket and the next minute: the silent
    # connection carries none of it (the fake only keeps it for REST and snapshots).
    bucket = silent_minute - silent_minute % FIVE
    for symbol in MARKETS:
        push(fake, symbol, version(symbol, silent_minute, 3))
        for t in range(silent_minute + M, bucket + FIVE + M, M):
            push(fake, symbol, version(symbol, t, 3))
    silenced_at = time.monotonic()

    def bucket_published() -> bool:
        fives = [c for c in published_closes(processes.env["TRADEWINDS_NATS_URL"]) if c.timeframe == "5m"]
        return {c.symbol for c in fives if c.candle.time == bucket} == set(MARKETS)

    wait_until(processes, "the 5m bucket of every market", bucket_published, within=120)
    assert time.monotonic() - silenced_at > 30, "the silent connection recovered too soon to matter"
    assert processes.stop("exchange-loud") == 0, processes.logs()
    assert processes.stop("exchange-silent") == 0, processes.logs()
    assert processes.stop("core") == 0, processes.logs()
    assert "silent for" in processes.log("exchange-silent"), processes.log("exchange-silent")

    closes = published_closes(processes.env["TRADEWINDS_NATS_URL"])
    for symbol in MARKETS:
        truth = {c.time: c for c in history[symbol]}
        truth.update((t, version(symbol, t, 3)) for t in range(start, bucket + FIVE + M, M))
        mine = [c for c in closes if c.symbol == symbol]
        assert_published_truly(mine, truth, Timeframe.M1, symbol)
        assert_published_truly(mine, truth, Timeframe.M5, symbol)
        reason = next(c.reason for c in mine if c.timeframe == "1m" and c.candle.time == silent_minute)
        if symbol in SILENT:
            assert reason is CloseReason.BACKFILL, (symbol, reason)  # waited for the adapter's history
        assert bucket in {c.candle.time for c in mine if c.timeframe == "5m"}


def assert_published_truly(
    closes: list[ClosedCandle], truth: dict[int, Candle], timeframe: Timeframe, symbol: str
) -> None:
    """Every close of `timeframe` on the bus is published once and equals the true candle."""
    want = {t: c for t, c in truth.items()}
    if timeframe is not Timeframe.M1:
        rows = [truth[t] for t in sorted(truth)]
        want = {c.time: c for c in resample_candles(CandleArrays.from_candles(rows), timeframe).to_candles()}
    got = [c for c in closes if c.timeframe == timeframe.value]
    times = [c.candle.time for c in got]
    assert len(times) == len(set(times)), (symbol, timeframe.value, "published twice")
    wrong = [(c.candle, want.get(c.candle.time)) for c in got if want.get(c.candle.time) != c.candle]
    assert wrong == [], (symbol, timeframe.value, wrong)
