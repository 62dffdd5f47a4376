"""Candle files by format: `.parquet` (or `.pq`) is Parquet, anything else the candle CSV."""

from __future__ import annotations

from pathlib import Path

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candle_csv import read_candle_csv
from tradewinds.domain.candle_parquet import read_candle_parquet

PARQUET_SUFFIXES = (".parquet", ".pq")


def is_parquet(path: Path | str) -> bool:
    return Path(path).suffix.lower() in PARQUET_SUFFIXES


def read_candle_file(path: Path | str) -> CandleArrays:
    """The file's candles (CSV or Parquet by its name), or CandleFileError naming what is wrong."""
    return read_candle_parquet(path) if is_parquet(path) else read_candle_csv(path)
