"""The candle CSV format and resampling."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from tradewinds.domain.candle_csv import (
    CandleCsvError,
    parse_candle_bytes,
    parse_candle_csv,
    read_candle_csv,
    write_candle_csv,
)
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
        (HEADER + "5,1,2,0.5,1.5,1\n-4,1,2,0.5,1.5,1\n", ":3: timestamp '-4' is neither"),
        (HEADER + "0x10,1,2,0.5,1.5,1\n", ":2: timestamp '0x10' is neither"),
        (HEADER + "5,1,2,0.5,1.5,1\n\n6,1,2,0.5,oops,1\n", ":4: close 'oops' is not a number"),
        (HEADER + "5,1,2,0.5,1.5,1\n\n6,1,2,0.5,1.5,-2\n", ":4: volume -2.0 is negative"),
        (HEADER + "5,1,2,0.5,1.5,1\n6,1,2,NA,1.5,1\n", ":3: low 'NA' is not a number"),
        (HEADER + "2021-01-07T14:30:00Z,1,2,0.5,1.5,1\nsoon,1,2,0.5,1.5,1\n", ":3: timestamp 'soon'"),
        (HEADER + "1700000000,1,2,0.5,1.5,1\n1700000060,1,2,0.5,1.5,1\n", "look like seconds"),
    ],
)
@pytest.mark.parametrize("columnar", [True, False], ids=["columns", "rows"])
def test_bad_files_name_the_line(body: str, message: str, columnar: bool) -> None:
    """The columnar reader (pyarrow) and the row parser report every mistake alike."""
    with pytest.raises(CandleCsvError) as info:
        parse_candle_bytes(body.encode(), "f.csv", columnar=columnar)
    assert message in str(info.value)


def seeded_file(rows: int, seed: int = 7) -> str:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, rows)))
    open_ = np.r_[close[0], close[:-1]]
    high, low = np.maximum(open_, close) * 1.001, np.minimum(open_, close) * 0.999
    times = 1_704_067_200_000 + np.arange(rows) * 60_000
    lines = [
        f"{t},{o!r},{h!r},{lo!r},{c!r},{v!r}"
        for t, o, h, lo, c, v in zip(
            times.tolist(),
            open_.tolist(),
            high.tolist(),
            low.tolist(),
            close.tolist(),
            rng.uniform(0, 5, rows).tolist(),
            strict=True,
        )
    ]
    return HEADER + "\n".join(lines) + "\n"


def test_columns_and_rows_read_the_same_candles() -> None:
    data = seeded_file(5_000).encode()
    by_columns = parse_candle_bytes(data, "f.csv", columnar=True)
    by_rows = parse_candle_bytes(data, "f.csv", columnar=False)
    for name in ("time", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(by_columns, name), getattr(by_rows, name))
        assert getattr(by_columns, name).flags.c_contiguous


def test_a_large_file_takes_the_columnar_reader_and_names_a_late_bad_line() -> None:
    text = seeded_file(20_000)  # past COLUMNAR_FROM_BYTES
    lines = text.splitlines()
    fields = lines[15_001].split(",")
    fields[2] = str(float(fields[4]) / 2)  # high below the close, on line 15002
    lines[15_001] = ",".join(fields)
    with pytest.raises(CandleCsvError, match=r"f\.csv:15002: high .* do not contain"):
        parse_candle_bytes(("\n".join(lines) + "\n").encode(), "f.csv")


def test_iso_times_through_columns() -> None:
    body = (
        "time,open,high,low,close,volume\n"
        "2021-01-07T14:30:00Z,1,2,0.5,1.5,1\n2021-01-07 14:31,1,2,0.5,1.5,1\n"
    )
    candles = parse_candle_bytes(body.encode(), columnar=True)
    assert candles.time.tolist() == [1_610_029_800_000, 1_610_029_860_000]


def test_windows_line_ends_and_a_byte_order_mark() -> None:
    body = "\ufeff" + HEADER.replace("\n", "\r\n") + "60000,1,2,0.5,1.5,1\r\n120000,1,2,0.5,1.5,1\r\n"
    for columnar in (True, False):
        assert parse_candle_bytes(body.encode(), columnar=columnar).time.tolist() == [60_000, 120_000]


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
