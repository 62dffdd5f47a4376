"""Candles as Parquet files: the same rules as CSV, the first bad row named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tradewinds.domain.candle_checks import CandleFileError
from tradewinds.domain.candle_csv import read_candle_csv
from tradewinds.domain.candle_files import read_candle_file
from tradewinds.domain.candle_parquet import read_candle_parquet, write_candle_parquet

DATA = Path(__file__).parents[2] / "data" / "coinbase_BTCUSD_1m_2018-04-04_06.csv"


def table(**changes: object) -> pa.Table:
    columns: dict[str, object] = {
        "timestamp_ms": pa.array([60_000, 120_000, 180_000], type=pa.int64()),
        "open": [1.0, 1.5, 1.2],
        "high": [2.0, 2.0, 2.0],
        "low": [0.5, 0.5, 0.5],
        "close": [1.5, 1.2, 1.8],
        "volume": [1.0, 0.0, 3.0],
    }
    columns.update(changes)
    return pa.table(columns)


def written(tmp_path: Path, data: pa.Table) -> Path:
    path = tmp_path / "candles.parquet"
    pq.write_table(data, path)
    return path


def test_write_then_read_roundtrips_a_real_file(tmp_path: Path) -> None:
    candles = read_candle_csv(DATA)
    path = tmp_path / "minutes.parquet"
    assert write_candle_parquet(candles, path) == len(candles)
    again = read_candle_file(path)
    for name in ("time", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(again, name), getattr(candles, name))


def test_timestamp_columns_and_other_column_names(tmp_path: Path) -> None:
    stamps = pa.array([60, 120, 180], type=pa.timestamp("s", tz="UTC"))
    data = table(timestamp_ms=stamps).rename_columns(["time", "Open", "high", "low", "close", "volume"])
    assert read_candle_parquet(written(tmp_path, data)).time.tolist() == [60_000, 120_000, 180_000]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"close": [1.5, float("nan"), 1.8]}, "row 2: close 'nan' is not a finite number"),
        ({"high": [2.0, 1.0, 2.0]}, "row 2: high 1.0 / low 0.5 do not contain open 1.5"),
        ({"timestamp_ms": pa.array([60_000, 60_000, 180_000])}, "row 2: timestamp 60000 repeats"),
        ({"volume": pa.array([1.0, None, 3.0])}, "row 2: volume is empty"),
        ({"open": ["1", "2", "3"]}, "column open holds string; expected numbers"),
        (
            {"timestamp_ms": pa.array([1_700_000_000, 1_700_000_060, 1_700_000_120])},
            "timestamps look like seconds",
        ),
    ],
)
def test_bad_rows_are_named(tmp_path: Path, changes: dict[str, object], message: str) -> None:
    with pytest.raises(CandleFileError) as info:
        read_candle_parquet(written(tmp_path, table(**changes)))
    assert message in str(info.value)
    assert str(tmp_path / "candles.parquet") in str(info.value)


def test_missing_columns_empty_files_and_non_parquet(tmp_path: Path) -> None:
    with pytest.raises(CandleFileError, match="expected timestamp_ms, open, high, low, close, volume"):
        read_candle_parquet(written(tmp_path, table().drop_columns(["volume"])))
    with pytest.raises(CandleFileError, match="no candles in the file"):
        read_candle_parquet(written(tmp_path, table().slice(0, 0)))
    fake = tmp_path / "fake.parquet"
    fake.write_text("timestamp_ms,open\n")
    with pytest.raises(CandleFileError, match="not a Parquet file"):
        read_candle_file(fake)
    with pytest.raises(CandleFileError, match="no such file"):
        read_candle_file(tmp_path / "none.parquet")
