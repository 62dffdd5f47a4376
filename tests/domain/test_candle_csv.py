"""The candle CSV format and resampling."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from tradewinds.domain.candle_csv import CandleCsvError, parse_candle_csv, read_candle_csv, write_candle_csv
from tradewinds.domain.resample import resample_candles
from tradewinds.domain.timeframes import Timeframe

DATA = Path(__file__).parents[2] / "data"
HEADER = "timestamp_ms,open,high,low,close,volume\n"


def test_real_files_load() -> None:
    candles = read_candle_csv(DATA / "bitfinex_tBTCUSD_1h_2017-07_2019-07.csv")
    assert len(candles) == 17_583
    assert candles.time[0] == 1_498_906_800_000


def test_roundtrip_through_write() -> None:
    candles = read_candle_csv(DATA / "bitfinex_tETHEUR_5m_2021-01-10.csv")
    out = io.StringIO()
    assert write_candle_csv(candles.to_candles(), out) == len(candles)
    again = parse_candle_csv(out.getvalue())
    assert np.array_equal(again.close, candles.close) and np.array_equal(again.time, candles.time)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "the file is empty"),
        ("time,o,h,l,c,v\n", "unexpected header"),
        (HEADER, "no candles after the header"),
        (HEADER + "1,1,2,0.5,1.5\n", ":2: expected 6 columns, found 5"),
        (HEADER + "1,1,2,0.5,1.5,1\nyesterday,1,2,0.5,1.5,1\n", ":3: timestamp 'yesterday'"),
        (HEADER + "1,1,2,0.5,nan,1\n", ":2: close 'nan' is not a finite number"),
        (HEADER + "1,1,1.2,0.5,1.5,1\n", ":2: high 1.2 / low 0.5 do not contain"),
        (HEADER + "1,1,2,0.5,1.5,-1\n", ":2: volume -1.0 is negative"),
        (HEADER + "5,1,2,0.5,1.5,1\n5,1,2,0.5,1.5,1\n", ":3: timestamp 5 repeats"),
        (HEADER + "5,1,2,0.5,1.5,1\n4,1,2,0.5,1.5,1\n", ":3: timestamp 4 is earlier"),
    ],
)
def test_bad_files_name_the_line(body: str, message: str) -> None:
    with pytest.raises(CandleCsvError) as info:
        parse_candle_csv(body, "f.csv")
    assert message in str(info.value)


def test_iso_times_are_utc() -> None:
    candles = parse_candle_csv("timestamp,open,high,low,close,volume\n2021-01-07T14:30:00Z,1,2,0.5,1.5,1\n")
    assert candles.time[0] == 1_610_029_800_000


def test_resample_matches_a_grouping_loop() -> None:
    minutes = read_candle_csv(DATA / "coinbase_BTCUSD_1m_2018-04-04_06.csv")
    hours = resample_candles(minutes, Timeframe.H1)
    buckets: dict[int, list[int]] = {}
    for i, t in enumerate(minutes.time.tolist()):
        buckets.setdefault(t - t % 3_600_000, []).append(i)
    assert hours.time.tolist() == sorted(buckets)
    for k, start in enumerate(sorted(buckets)):
        rows = buckets[start]
        assert hours.open[k] == minutes.open[rows[0]] and hours.close[k] == minutes.close[rows[-1]]
        assert hours.high[k] == max(minutes.high[rows]) and hours.low[k] == min(minutes.low[rows])
        assert hours.volume[k] == pytest.approx(sum(minutes.volume[rows]), rel=1e-12)


def test_timeframe_parse() -> None:
    assert Timeframe.parse("1D") is Timeframe.D1
    assert Timeframe.parse("15m").ms == 900_000
    with pytest.raises(ValueError, match="unknown timeframe '7x'"):
        Timeframe.parse("7x")
