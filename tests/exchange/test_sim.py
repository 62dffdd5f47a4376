"""The simulated exchange: determinism, stream/history agreement, forming candles, replay, trading."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict
from collections.abc import AsyncGenerator, AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candle_csv import read_candle_csv
from tradewinds.domain.candles import Candle
from tradewinds.domain.messages import CandleUpdate, UpdateSource
from tradewinds.domain.resample import resample_candles
from tradewinds.domain.timeframes import MINUTE_MS, Timeframe
from tradewinds.exchange.adapter import ExchangeAdapter, ExchangeError, InvalidOrder, OrderSide
from tradewinds.exchange.sim import SimulatedExchange, SyntheticMarket, forming_states

DATA = Path(__file__).resolve().parents[2] / "data"
COINBASE = DATA / "coinbase_BTCUSD_1m_2018-04-04_06.csv"
# A minute boundary (2023-11-14T22:13:00Z); the synthetic markets trade long before it.
T0 = 28_333_333 * MINUTE_MS
DAY_MS = 1440 * MINUTE_MS
MIDNIGHT = T0 - T0 % DAY_MS + DAY_MS  # the next UTC midnight, where a new generated block starts


class FakeTime:
    """A real-time clock that only moves when the simulator sleeps: simulated time runs at once."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds
        await asyncio.sleep(0)


def make_sim(seed: int = 1, start_ms: int = T0, speed: float = 60.0, **options: Any) -> SimulatedExchange:
    fake = FakeTime()
    return SimulatedExchange(
        seed=seed, start_ms=start_ms, speed=speed, clock=fake.clock, sleep=fake.sleep, **options
    )


async def collect(
    sim: SimulatedExchange, symbols: list[str], until_ms: int, within: float = 3.0
) -> list[CandleUpdate]:
    """The updates sent up to simulated time `until_ms` (a minute's end: its final states included)."""
    stream = sim.stream_candles(symbols)
    assert isinstance(stream, AsyncGenerator)
    updates: list[CandleUpdate] = []
    try:
        async with asyncio.timeout(within):
            async for update in stream:
                if update.received_ms > until_ms:
                    break
                updates.append(update)
    finally:
        await stream.aclose()
    return updates


def live_by_minute(updates: list[CandleUpdate]) -> dict[tuple[str, int], list[Candle]]:
    states: dict[tuple[str, int], list[Candle]] = defaultdict(list)
    for update in updates:
        if update.source is UpdateSource.LIVE:
            states[(update.symbol, update.candle.time)].append(update.candle)
    return states


# ----------------------------------------------------------------------------- determinism


async def test_same_seed_same_history_other_seed_other_history() -> None:
    one, two, other = make_sim(seed=3), make_sim(seed=3), make_sim(seed=4)
    assert await one.list_markets() == await two.list_markets()
    for symbol in one.symbols:
        a = await one.fetch_candles(symbol, Timeframe.M1, T0 - 180 * MINUTE_MS)
        b = await two.fetch_candles(symbol, Timeframe.M1, T0 - 180 * MINUTE_MS)
        assert a == b
        assert len(a) > 150
    ours = await one.fetch_candles("ALPHA/USD", Timeframe.M1, T0 - 180 * MINUTE_MS)
    theirs = await other.fetch_candles("ALPHA/USD", Timeframe.M1, T0 - 180 * MINUTE_MS)
    assert [c.close for c in ours] != [c.close for c in theirs[: len(ours)]]


async def test_a_restarted_simulator_agrees_about_every_minute() -> None:
    early = make_sim(start_ms=T0)
    later = make_sim(start_ms=T0 + 5 * DAY_MS)  # a different start, a fresh cache
    since = T0 - 2 * DAY_MS
    assert await early.fetch_candles("BRAVO/USD", Timeframe.M1, since, T0) == await later.fetch_candles(
        "BRAVO/USD", Timeframe.M1, since, T0
    )
    market = SyntheticMarket(seed=1)
    history = await early.fetch_candles("BRAVO/USD", Timeframe.M1, T0 - 30 * MINUTE_MS)
    assert history == [market.candle("BRAVO/USD", c.time) for c in history]


async def test_the_stream_is_the_same_for_the_same_seed() -> None:
    symbols = ["ALPHA/USD", "CHARLIE/USD"]
    first = await collect(make_sim(seed=9), symbols, T0 + 3 * MINUTE_MS)
    second = await collect(make_sim(seed=9), symbols, T0 + 3 * MINUTE_MS)
    other = await collect(make_sim(seed=10), symbols, T0 + 3 * MINUTE_MS)
    assert [u.candle for u in first] == [u.candle for u in second]
    assert [u.candle for u in first] != [u.candle for u in other]


def test_prices_run_on_across_minutes_and_days() -> None:
    market = SyntheticMarket(pairs=3, seed=1)
    for symbol in market.markets:
        candles = market.closed(symbol, MIDNIGHT - 120 * MINUTE_MS, MIDNIGHT + 120 * MINUTE_MS).to_candles()
        by_time = {c.time: c for c in candles}
        for c in candles:
            after = by_time.get(c.time + MINUTE_MS)
            if after is not None:
                assert after.open == c.close  # including the minute across midnight
        assert MIDNIGHT - MINUTE_MS in by_time or MIDNIGHT in by_time


def test_some_minutes_have_no_trades() -> None:
    market = SyntheticMarket(pairs=8, seed=1)
    for symbol in market.markets:
        day = market.closed(symbol, MIDNIGHT, MIDNIGHT + DAY_MS - MINUTE_MS)
        assert 1300 < len(day) < 1440
        missing = sorted(set(range(MIDNIGHT, MIDNIGHT + DAY_MS, MINUTE_MS)) - set(day.time.tolist()))
        assert all(market.candle(symbol, t) is None for t in missing)


def test_candles_are_valid_and_markets_have_rules() -> None:
    market = SyntheticMarket(pairs=30, seed=5)
    assert list(market.markets)[:3] == ["ALPHA/USD", "BRAVO/USD", "CHARLIE/USD"]
    assert "SIM26/USD" in market.markets
    for symbol, info in market.markets.items():
        assert info.min_amount is not None and info.amount_precision is not None
        assert info.min_amount % info.amount_precision == 0
        day = market.closed(symbol, T0, T0 + 300 * MINUTE_MS)
        assert np.all(day.low > 0)
        assert np.all(day.high >= np.maximum(day.open, day.close))
        assert np.all(day.low <= np.minimum(day.open, day.close))
        assert np.all(day.volume > 0)
        step = float(info.price_precision or 1)
        assert np.allclose(np.round(day.close / step), day.close / step)


# ----------------------------------------------------------------------------- stream vs history


async def test_stream_starts_with_a_snapshot_of_closed_minutes() -> None:
    sim = make_sim(start_ms=T0 + 25_000, snapshot_minutes=4)
    updates = await collect(sim, ["ALPHA/USD", "BRAVO/USD"], T0 + MINUTE_MS)
    snapshot = [u for u in updates if u.source is UpdateSource.SNAPSHOT]
    assert updates[: len(snapshot)] == snapshot
    for symbol in ("ALPHA/USD", "BRAVO/USD"):
        expected = (await sim.fetch_candles(symbol, Timeframe.M1, T0 - 60 * MINUTE_MS, T0 - MINUTE_MS))[-4:]
        assert [u.candle for u in snapshot if u.symbol == symbol] == expected
    # Joined 25 s into the minute: its forming state is sent at once, then the minute goes on.
    first_live = updates[len(snapshot)]
    assert first_live.source is UpdateSource.LIVE and first_live.candle.time == T0


async def test_each_streamed_minute_ends_at_its_history_candle() -> None:
    sim = make_sim(seed=2)
    symbols = sim.symbols
    updates = await collect(sim, symbols, T0 + 40 * MINUTE_MS)
    states = live_by_minute(updates)
    for symbol in symbols:
        history = await sim.fetch_candles(symbol, Timeframe.M1, T0, T0 + 39 * MINUTE_MS)
        streamed = {t: versions[-1] for (s, t), versions in states.items() if s == symbol}
        assert {c.time: c for c in history} == streamed  # the same minutes, no-trade ones absent from both
    assert sum(1 for s in symbols for t in range(T0, T0 + 40 * MINUTE_MS, MINUTE_MS) if (s, t) not in states)


async def test_forming_candles_keep_the_ohlc_rules_and_converge() -> None:
    sim = make_sim(seed=4, updates_per_minute=8)
    updates = await collect(sim, sim.symbols, T0 + 20 * MINUTE_MS)
    for (symbol, minute), versions in live_by_minute(updates).items():
        final = sim.source.candle(symbol, minute)
        assert final is not None and versions[-1] == final
        assert len(versions) >= 2
        for before, after in itertools.pairwise(versions):
            assert after.open == before.open
            assert after.high >= before.high and after.low <= before.low
            assert after.volume > before.volume
        for c in versions:
            assert c.low <= min(c.open, c.close) <= max(c.open, c.close) <= c.high
            assert final.low <= c.low and c.high <= final.high


@settings(max_examples=200, deadline=None)
@given(
    opening=st.floats(1, 1000),
    moves=st.tuples(st.floats(-0.05, 0.05), st.floats(0, 0.05), st.floats(0, 0.05)),
    volume=st.sampled_from([0.0, 1e-9, 0.5, 12.25]),
    steps=st.integers(1, 12),
    seed=st.integers(0, 2**32),
)
def test_forming_states_for_any_candle(
    opening: float, moves: tuple[float, float, float], volume: float, steps: int, seed: int
) -> None:
    change, up, down = moves
    close = opening * (1 + change)
    final = Candle(
        0, opening, max(opening, close) * (1 + up), min(opening, close) * (1 - down), close, volume
    )
    states = forming_states(final, steps, np.random.default_rng(seed))
    assert states == forming_states(final, steps, np.random.default_rng(seed))
    assert states[-1] == (steps, final)
    assert [s for s, _ in states] == sorted({s for s, _ in states})
    candles = [c for _, c in states]
    for before, after in itertools.pairwise(candles):
        assert after.volume > before.volume
        assert after.high >= before.high and after.low <= before.low
    for c in candles:
        assert c.open == opening
        assert c.low <= min(c.open, c.close) and c.high >= max(c.open, c.close)


# ----------------------------------------------------------------------------- time


async def test_speed_sets_how_fast_simulated_time_runs() -> None:
    fake = FakeTime()
    sim = SimulatedExchange(seed=1, start_ms=T0, speed=60, clock=fake.clock, sleep=fake.sleep)
    start = fake.now
    stream = sim.stream_candles(["ALPHA/USD"])
    assert isinstance(stream, AsyncGenerator)
    minutes = set()
    async with asyncio.timeout(2):
        async for update in stream:
            # Ten simulated minutes pass in ten (fake) seconds at speed 60.
            assert update.received_ms == T0 + round((fake.now - start) * 60_000)
            if update.source is UpdateSource.LIVE:
                # Sent when its step is due: after the minute opened, by its end at the latest.
                assert update.candle.time < update.received_ms <= update.candle.time + MINUTE_MS
                assert (update.received_ms - update.candle.time) % 10_000 == 0
                minutes.add(update.candle.time)
            if fake.now - start >= 10:
                break
    await stream.aclose()
    assert fake.now - start == pytest.approx(10.0)
    assert len(minutes) >= 9


async def test_fetch_returns_only_minutes_that_are_over() -> None:
    fake = FakeTime()
    sim = SimulatedExchange(seed=1, start_ms=T0, speed=1, clock=fake.clock, sleep=fake.sleep)
    fake.now += 59.9
    newest = (await sim.fetch_candles("ALPHA/USD", Timeframe.M1, T0 - 10 * MINUTE_MS))[-1].time
    assert newest < T0
    fake.now += 0.1  # T0 + 60 s: the minute T0 is over
    times = [c.time for c in await sim.fetch_candles("ALPHA/USD", Timeframe.M1, T0 - 10 * MINUTE_MS)]
    assert times[-1] == T0 or sim.source.candle("ALPHA/USD", T0) is None
    assert times == sorted(times) and all(t < T0 + MINUTE_MS for t in times)


async def test_real_clock_at_high_speed() -> None:
    sim = SimulatedExchange(seed=1, start_ms=T0, speed=6000)  # a simulated minute every 10 ms
    began = time.monotonic()
    updates = await collect(sim, ["ALPHA/USD"], T0 + 5 * MINUTE_MS, within=2.0)
    assert time.monotonic() - began < 1.0
    assert len({u.candle.time for u in updates if u.source is UpdateSource.LIVE}) >= 4


async def test_close_ends_streams_and_later_calls() -> None:
    fake = FakeTime()

    async def slow_sleep(seconds: float) -> None:
        await asyncio.sleep(10)  # would hang without close

    sim = SimulatedExchange(seed=1, start_ms=T0, clock=fake.clock, sleep=slow_sleep)
    stream = sim.stream_candles(["ALPHA/USD"])
    received: list[CandleUpdate] = []

    async def consume(source: AsyncIterator[CandleUpdate]) -> None:
        async for update in source:
            received.append(update)

    task = asyncio.create_task(consume(stream))
    await asyncio.sleep(0.05)
    await sim.close()
    async with asyncio.timeout(1):
        await task
    assert received  # the snapshot came before close
    with pytest.raises(ExchangeError, match="closed"):
        await sim.fetch_candles("ALPHA/USD", Timeframe.M1, T0)
    with pytest.raises(ExchangeError, match="closed"):
        sim.stream_candles(["ALPHA/USD"])


async def test_a_cancelled_stream_ends_at_whatever_step_the_cancel_lands() -> None:
    """A stopping adapter cancels the stream's task once; the stream must end, at any step (it once
    swallowed a cancel that landed while it tidied up after a pause, and streamed on forever)."""
    for steps in range(40):
        sim = make_sim()
        stream = sim.stream_candles(["ALPHA/USD"])

        async def consume(source: AsyncIterator[CandleUpdate] = stream) -> None:
            async for _ in source:
                pass

        task = asyncio.create_task(consume())
        for _ in range(steps):
            await asyncio.sleep(0)
        requested = task.cancel()
        async with asyncio.timeout(1):
            await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled() or not requested, f"the cancel at step {steps} was swallowed"
        await sim.close()


async def test_unknown_symbols_are_refused_with_the_choices() -> None:
    sim = make_sim()
    assert isinstance(sim, ExchangeAdapter)
    assert sim.name == "sim"
    with pytest.raises(ExchangeError, match=r"'NOPE/USD'.*ALPHA/USD, BRAVO/USD"):
        sim.stream_candles(["ALPHA/USD", "NOPE/USD"])
    with pytest.raises(ExchangeError, match="NOPE/USD"):
        await sim.fetch_candles("NOPE/USD", Timeframe.M1, T0)


# ----------------------------------------------------------------------------- rollups


@pytest.mark.parametrize("timeframe", [Timeframe.M3, Timeframe.M5, Timeframe.M15, Timeframe.H1, Timeframe.D1])
async def test_rollups_equal_resampling_the_minutes(timeframe: Timeframe) -> None:
    sim = make_sim(start_ms=MIDNIGHT + DAY_MS + 7 * 3_600_000 + 5 * MINUTE_MS)
    since = MIDNIGHT - 8 * DAY_MS
    now = sim.now_ms()
    minutes = await sim.fetch_candles("DELTA/USD", Timeframe.M1, since, limit=100_000)
    closed_until = timeframe.bucket_start(now)  # minutes of the forming bucket are left out
    expected = resample_candles(
        CandleArrays.from_candles([c for c in minutes if c.time < closed_until]), timeframe
    ).to_candles()
    rolled = await sim.fetch_candles("DELTA/USD", timeframe, since, limit=100_000)
    assert rolled == expected
    assert rolled[-1].time == closed_until - timeframe.ms
    assert (await sim.fetch_candles("DELTA/USD", timeframe, since, limit=3)) == expected[:3]
    until = expected[4].time
    assert (await sim.fetch_candles("DELTA/USD", timeframe, since, until)) == expected[:5]


async def test_history_starts_at_the_listing_and_honours_limit() -> None:
    sim = make_sim()
    first = await sim.fetch_candles("ECHO/USD", Timeframe.M1, 0, limit=10)
    assert len(first) == 10
    assert first[0].time >= sim.source.first_ms
    assert [c.time for c in first] == sorted(c.time for c in first)


# ----------------------------------------------------------------------------- replay


def coinbase() -> CandleArrays:
    return read_candle_csv(COINBASE)


def gap_index(rows: CandleArrays) -> int:
    """Index of the row right after the file's long gap."""
    return int(np.argmax(np.diff(rows.time))) + 1


async def test_replay_streams_the_file_rows_across_its_gap() -> None:
    rows = coinbase()
    after_gap = gap_index(rows)
    start = after_gap - 10
    fake = FakeTime()
    sim = SimulatedExchange.replay(
        COINBASE, start_ms=int(rows.time[start]), clock=fake.clock, sleep=fake.sleep, snapshot_minutes=3
    )
    until = int(rows.time[after_gap + 5]) + MINUTE_MS
    updates = await collect(sim, ["BTC/USD"], until)
    expected = rows.slice(start, after_gap + 6).to_candles()
    finals = {t: versions[-1] for (_, t), versions in live_by_minute(updates).items()}
    assert [finals[t] for t in sorted(finals)] == expected
    snapshot = [u.candle for u in updates if u.source is UpdateSource.SNAPSHOT]
    assert snapshot == rows.slice(start - 3, start).to_candles()
    # The rows come at their own times: the long gap took its 432 minutes of simulated time.
    live = [u for u in updates if u.source is UpdateSource.LIVE]
    assert all(u.candle.time < u.received_ms <= u.candle.time + MINUTE_MS for u in live)
    assert fake.slept >= (until - int(rows.time[start])) / 1000 / 60


async def test_replay_history_is_the_rows_before_the_position() -> None:
    rows = coinbase()
    fake = FakeTime()
    position = 500
    sim = SimulatedExchange.replay(
        COINBASE, start_ms=int(rows.time[position]), clock=fake.clock, sleep=fake.sleep
    )
    history = await sim.fetch_candles("BTC/USD", Timeframe.M1, 0, limit=10_000)
    assert history == rows.slice(0, position).to_candles()
    hours = await sim.fetch_candles("BTC/USD", Timeframe.H1, 0)
    last_hour = Timeframe.H1.bucket_start(int(rows.time[position])) - Timeframe.H1.ms
    expected = resample_candles(rows.slice(0, position), Timeframe.H1).to_candles()
    assert hours == [c for c in expected if c.time <= last_hour]
    fake.now += 60  # one simulated hour at speed 60
    assert len(await sim.fetch_candles("BTC/USD", Timeframe.M1, 0, limit=10_000)) == position + 60
    with pytest.raises(ExchangeError, match=r"'ETH/USD'.*BTC/USD"):
        await sim.fetch_candles("ETH/USD", Timeframe.M1, 0)


async def test_replay_ends_after_the_last_row() -> None:
    rows = coinbase().slice(0, 6)
    fake = FakeTime()
    sim = SimulatedExchange.replay(rows, symbol="BTC/EUR", clock=fake.clock, sleep=fake.sleep)
    async with asyncio.timeout(2):
        updates = [u async for u in sim.stream_candles(["BTC/EUR"])]
    finals = {t: versions[-1] for (_, t), versions in live_by_minute(updates).items()}
    assert list(finals.values()) == rows.to_candles()
    assert all(u.source is UpdateSource.LIVE for u in updates)
    assert (await sim.fetch_balances())["EUR"].free == Decimal(10_000)


def test_replay_refuses_a_file_that_is_not_one_minute() -> None:
    with pytest.raises(ValueError, match="1-minute"):
        SimulatedExchange.replay(DATA / "bitfinex_tBTCUSD_1h_2013-10.csv")


# ----------------------------------------------------------------------------- trading


async def test_sim_fills_market_orders_at_its_latest_price() -> None:
    fake = FakeTime()
    sim = SimulatedExchange(
        seed=1, start_ms=T0, speed=60, clock=fake.clock, sleep=fake.sleep, balances={"USD": Decimal("100000")}
    )
    fake.now += 0.5  # 30 simulated seconds into minute T0
    symbol = "CHARLIE/USD"
    price = sim.latest_price(symbol)
    latest = sim.latest_candle(symbol)
    assert latest is not None and price == Decimal(str(latest.close))
    info = {m.symbol: m for m in await sim.list_markets()}[symbol]
    amount = info.min_amount
    assert amount is not None
    report = await sim.place_market_order(symbol, OrderSide.BUY, amount, client_order_id=1)
    assert report.average_price == price
    assert (report.fee, report.fee_currency) == (amount * Decimal("0.001"), "CHARLIE")  # fee in base
    assert report.timestamp_ms == T0 + 30_000
    balances = await sim.fetch_balances()
    assert balances["CHARLIE"].total == amount - report.fee
    assert balances["USD"].total == Decimal("100000") - price * amount
    assert await sim.fetch_order(symbol, client_order_id=1) == report
    assert await sim.fetch_order(symbol, order_id=report.order_id) == report
    assert await sim.place_market_order(symbol, OrderSide.BUY, amount, client_order_id=1) == report
    with pytest.raises(InvalidOrder, match="NOPE/USD"):
        await sim.place_market_order("NOPE/USD", OrderSide.BUY, amount, client_order_id=2)


async def test_the_latest_price_follows_the_forming_candle() -> None:
    fake = FakeTime()
    sim = SimulatedExchange(seed=1, start_ms=T0, speed=60, clock=fake.clock, sleep=fake.sleep)
    symbol = "ALPHA/USD"
    seen = set()
    for _ in range(12):
        fake.now += 1 / 6  # one forming step (10 simulated seconds)
        latest = sim.latest_candle(symbol)
        assert latest is not None
        seen.add(latest.close)
        minute = sim.now_ms() - sim.now_ms() % MINUTE_MS
        assert latest.time <= minute
    assert len(seen) > 2


async def test_catching_up_runs_at_speed_then_in_real_time() -> None:
    fake = FakeTime()
    present = T0 + 10 * MINUTE_MS
    sim = SimulatedExchange(
        seed=1,
        start_ms=T0,
        speed=61,  # gains a simulated minute per real second on the present
        clock=fake.clock,
        sleep=fake.sleep,
        realtime_after_catch_up=True,
        wall_clock=lambda: present,
    )
    fake.now += 5
    assert sim.now_ms() == T0 + 5 * 61_000
    fake.now += 5  # caught up after 10 s: the present has moved on by 10 s too
    assert sim.now_ms() == present + 10_000
    fake.now += 30
    assert sim.now_ms() == present + 40_000
    start = fake.now
    updates = await collect(sim, ["ALPHA/USD"], present + 3 * MINUTE_MS)
    assert updates[-1].received_ms == present + 3 * MINUTE_MS
    assert fake.now - start == pytest.approx((3 * MINUTE_MS - 40_000) / 1000 + 10)  # real time, one more step


async def test_market_data_vouches_for_each_minute_after_its_final_state() -> None:
    from tradewinds.domain.messages import StreamAlive
    from tradewinds.exchange.sim.exchange import ALIVE_AFTER_MS

    sim = make_sim(seed=2)
    symbols = sim.symbols[:2]
    stream = sim.stream_market_data(symbols)
    seen: list[CandleUpdate | StreamAlive] = []
    async with asyncio.timeout(3):
        async for item in stream:
            seen.append(item)
            if isinstance(item, StreamAlive) and item.until_ms >= T0 + 3 * MINUTE_MS:
                break
    await stream.aclose()  # type: ignore[attr-defined]
    reports = [(i, item) for i, item in enumerate(seen) if isinstance(item, StreamAlive)]
    assert [r.until_ms for _, r in reports] == [T0 + k * MINUTE_MS + ALIVE_AFTER_MS for k in (1, 2, 3)]
    for index, report in reports:
        assert report.symbols == tuple(symbols) and report.exchange == "sim"
        minute = report.until_ms - ALIVE_AFTER_MS - MINUTE_MS
        before = [u for u in seen[:index] if isinstance(u, CandleUpdate) and u.candle.time == minute]
        after = [u for u in seen[index:] if isinstance(u, CandleUpdate) and u.candle.time == minute]
        assert after == []  # nothing about the minute comes after it was vouched for
        for symbol in symbols:  # and its final state came before
            final = await sim.fetch_candles(symbol, Timeframe.M1, minute, minute)
            mine = [u.candle for u in before if u.symbol == symbol]
            assert (mine[-1:] if final else []) == final
