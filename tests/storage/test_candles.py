"""CandleStore on SQLite and PostgreSQL: idempotent upserts, reads at their boundaries, bulk."""

from __future__ import annotations

import asyncio

import asyncpg  # type: ignore[import-untyped]
import numpy as np
import pytest

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candles import Candle, SeriesKey
from tradewinds.domain.timeframes import MINUTE_MS, Timeframe
from tradewinds.storage.candles import CandleStore, load_candle_arrays
from tradewinds.storage.database import connect
from tradewinds.storage.errors import NoCandlesError, SchemaNotCurrentError

BTC = SeriesKey("bitfinex", "BTC/USD", Timeframe.M1)
ETH = SeriesKey("bitfinex", "ETH/USD", Timeframe.M1)
BTC_HOURLY = SeriesKey("bitfinex", "BTC/USD", Timeframe.H1)
START = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def minutes(count: int, start: int = START, price: float = 42_000.0, seed: int = 1) -> list[Candle]:
    rng = np.random.default_rng(seed)
    closes = price + np.cumsum(rng.normal(0, 5, count))
    return [
        Candle(start + i * MINUTE_MS, float(c) - 1.5, float(c) + 3.25, float(c) - 4.0, float(c), 0.5 + i % 7)
        for i, c in enumerate(closes)
    ]


async def test_upsert_stores_and_reads_back_exactly(candle_store: CandleStore) -> None:
    candles = minutes(100)
    assert await candle_store.upsert(BTC, candles) == 100
    assert await candle_store.range(BTC) == candles
    assert await candle_store.count(BTC) == 100


async def test_rewriting_the_same_candles_changes_nothing(candle_store: CandleStore) -> None:
    candles = minutes(50)
    await candle_store.upsert(BTC, candles)
    assert await candle_store.upsert(BTC, candles) == 0
    assert await candle_store.upsert(BTC, candles[10:20]) == 0
    assert await candle_store.count(BTC) == 50
    assert await candle_store.range(BTC) == candles


async def test_a_changed_candle_overwrites_the_stored_one(candle_store: CandleStore) -> None:
    candles = minutes(20)
    await candle_store.upsert(BTC, candles)
    revised = Candle(candles[7].time, 1.0, 2.0, 0.5, 1.5, 99.0)
    extra = Candle(candles[-1].time + MINUTE_MS, 3.0, 4.0, 2.0, 3.5, 1.0)
    # One changed, one identical, one new: two rows written.
    assert await candle_store.upsert(BTC, [candles[6], revised, extra]) == 2
    stored = await candle_store.range(BTC)
    assert stored == [*candles[:7], revised, *candles[8:], extra]


async def test_repeated_open_time_in_one_call_keeps_the_later_candle(candle_store: CandleStore) -> None:
    first, second = Candle(START, 1.0, 2.0, 0.5, 1.5, 1.0), Candle(START, 1.1, 2.1, 0.6, 1.6, 2.0)
    earlier = Candle(START - MINUTE_MS, 1.0, 1.0, 1.0, 1.0, 0.0)
    assert await candle_store.upsert(BTC, [first, second, earlier]) == 2
    assert await candle_store.range(BTC) == [earlier, second]


async def test_upsert_of_nothing_creates_no_series(candle_store: CandleStore) -> None:
    assert await candle_store.upsert(BTC, []) == 0
    assert await candle_store.series() == []


async def test_series_are_kept_apart(candle_store: CandleStore) -> None:
    btc, eth, hourly = minutes(30, seed=1), minutes(30, price=2_000.0, seed=2), minutes(5, seed=3)
    await candle_store.upsert(BTC, btc)
    await candle_store.upsert(ETH, eth)
    await candle_store.upsert(BTC_HOURLY, hourly)
    assert await candle_store.range(BTC) == btc
    assert await candle_store.range(ETH) == eth
    assert await candle_store.last(BTC_HOURLY, 100) == hourly
    assert await candle_store.series() == [BTC, BTC_HOURLY, ETH]


async def test_last_returns_the_newest_n_oldest_first(candle_store: CandleStore) -> None:
    candles = minutes(300)
    await candle_store.upsert(BTC, candles)
    assert await candle_store.last(BTC, 1) == candles[-1:]
    assert await candle_store.last(BTC, 25) == candles[-25:]
    assert await candle_store.last(BTC, 300) == candles
    assert await candle_store.last(BTC, 1_000) == candles
    assert await candle_store.last(BTC, 0) == []
    assert await candle_store.last(ETH, 10) == []


async def test_range_is_inclusive_at_both_ends(candle_store: CandleStore) -> None:
    candles = minutes(60)
    await candle_store.upsert(BTC, candles)
    t = [c.time for c in candles]
    assert await candle_store.range(BTC, t[10], t[20]) == candles[10:21]
    assert await candle_store.range(BTC, t[10], t[10]) == [candles[10]]
    assert await candle_store.range(BTC, t[10] + 1, t[20] - 1) == candles[11:20]
    assert await candle_store.range(BTC, since_ms=t[55]) == candles[55:]
    assert await candle_store.range(BTC, until_ms=t[4]) == candles[:5]
    assert await candle_store.range(BTC, t[-1] + 1, None) == []
    assert await candle_store.range(BTC, None, t[0] - 1) == []
    assert await candle_store.range(ETH, None, None) == []


async def test_range_arrays_matches_range(candle_store: CandleStore) -> None:
    candles = minutes(500)
    await candle_store.upsert(BTC, candles)
    t = [c.time for c in candles]
    arrays = await candle_store.range_arrays(BTC, t[100], t[399])
    assert arrays.time.dtype == np.int64 and arrays.close.dtype == np.float64
    assert arrays.to_candles() == candles[100:400]
    whole = await candle_store.range_arrays(BTC)
    assert whole.to_candles() == candles
    assert len(await candle_store.range_arrays(BTC, t[-1] + 1, None)) == 0
    assert len(await candle_store.range_arrays(ETH)) == 0


async def test_latest_time_and_count(candle_store: CandleStore) -> None:
    assert await candle_store.latest_time(BTC) is None
    assert await candle_store.count(BTC) == 0
    candles = minutes(42)
    await candle_store.upsert(BTC, list(reversed(candles)))
    assert await candle_store.latest_time(BTC) == candles[-1].time
    assert await candle_store.count(BTC) == 42
    # Within a range: the newest candle inside it, not the series' newest.
    assert await candle_store.latest_time(BTC, until_ms=candles[9].time) == candles[9].time
    assert await candle_store.latest_time(BTC, candles[3].time, candles[20].time) == candles[20].time
    assert await candle_store.latest_time(BTC, since_ms=candles[-1].time + 1) is None


async def test_upsert_arrays_stores_columns(candle_store: CandleStore) -> None:
    candles = minutes(64)
    assert await candle_store.upsert_arrays(BTC, CandleArrays.from_candles(candles)) == 64
    assert await candle_store.range(BTC) == candles
    assert await candle_store.upsert_arrays(BTC, CandleArrays.from_candles(candles)) == 0


async def test_bulk_roundtrip_of_50k_candles(candle_store: CandleStore) -> None:
    candles = minutes(50_000)
    assert await candle_store.upsert(BTC, candles) == 50_000
    arrays = await candle_store.range_arrays(BTC)
    expected = CandleArrays.from_candles(candles)
    for column in ("time", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(arrays, column), getattr(expected, column))
    # Half old (unchanged), half new: only the new half is written.
    newer = minutes(25_000, start=candles[-1].time + MINUTE_MS, seed=9)
    overlapping = [*candles[25_000:], *newer]
    assert await candle_store.upsert(BTC, overlapping) == 25_000
    assert await candle_store.count(BTC) == 75_000
    assert await candle_store.last(BTC, 1_000) == overlapping[-1_000:]


async def test_load_candle_arrays_reads_a_range(database_url: str, candle_store: CandleStore) -> None:
    candles = minutes(120)
    await candle_store.upsert(BTC, candles)
    arrays = await load_candle_arrays(BTC, candles[30].time, candles[89].time, database_url)
    assert arrays.to_candles() == candles[30:90]


async def test_load_candle_arrays_names_the_series_and_range_when_empty(
    database_url: str, candle_store: CandleStore
) -> None:
    await candle_store.upsert(BTC, minutes(10))
    with pytest.raises(NoCandlesError) as caught:
        await load_candle_arrays(BTC, START + 86_400_000, START + 2 * 86_400_000, database_url)
    message = str(caught.value)
    assert "bitfinex" in message and "BTC/USD" in message and "1m" in message
    assert "2024-01-02T00:00:00Z" in message and "2024-01-03T00:00:00Z" in message
    with pytest.raises(NoCandlesError, match="ETH/USD"):
        await load_candle_arrays(ETH, None, None, database_url)


async def test_load_candle_arrays_asks_for_an_upgrade_on_a_blank_database(blank_database_url: str) -> None:
    with pytest.raises(SchemaNotCurrentError, match="tradewinds db upgrade"):
        await load_candle_arrays(BTC, None, None, blank_database_url)


async def test_concurrent_writers_of_the_same_new_candles(database_url: str) -> None:
    async with connect(database_url) as first, connect(database_url) as second:
        seed = minutes(1, start=START - MINUTE_MS)
        await CandleStore(first).upsert(BTC, seed)  # the series exists; the span below is new
        candles = minutes(5_000)
        written = await asyncio.gather(
            CandleStore(first).upsert(BTC, candles), CandleStore(second).upsert(BTC, candles)
        )
        assert sorted(written) == [0, 5_000]
        assert await CandleStore(second).range(BTC) == seed + candles


async def test_upsert_many_writes_several_series_at_once(candle_store: CandleStore) -> None:
    btc, eth = minutes(5), minutes(3, price=2_000.0, seed=2)
    await candle_store.upsert_many({BTC: btc, ETH: eth, BTC_HOURLY: []})
    changed = minutes(5)[-1]
    changed = Candle(changed.time, changed.open, changed.high + 1, changed.low, changed.close, 9.0)
    await candle_store.upsert_many({BTC: [changed], ETH: eth})  # a correction and a repeat
    assert await candle_store.range(BTC, None, None) == [*btc[:-1], changed]
    assert await candle_store.range(ETH, None, None) == eth
    assert await candle_store.series() == [BTC, ETH]


async def test_upsert_many_is_all_or_nothing(candle_store: CandleStore) -> None:
    unstorable = Candle(2**70, 1.0, 1.0, 1.0, 1.0, 1.0)  # no database integer holds that time
    with pytest.raises((OverflowError, asyncpg.DataError)):  # SQLite's driver, PostgreSQL's
        await candle_store.upsert_many({BTC: minutes(2), ETH: [unstorable]})
    assert await candle_store.count(BTC) == 0
    assert await candle_store.series() == []
    # The series ids looked up in the rolled-back transaction were not kept: they do not exist.
    await candle_store.upsert_many({ETH: minutes(2), BTC: minutes(1)})
    assert await candle_store.count(ETH) == 2 and await candle_store.count(BTC) == 1
