"""The SQLite read path without SQLAlchemy: ADBC columns, the light schema check, and the
fallback to the full path for everything it does not handle."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from tradewinds.domain.candles import Candle, SeriesKey
from tradewinds.domain.timeframes import MINUTE_MS, Timeframe
from tradewinds.storage import database, schema, sqlite_arrow, sqlite_reads
from tradewinds.storage.candles import CandleStore, load_candle_arrays_to_roll_up
from tradewinds.storage.database import connect
from tradewinds.storage.errors import NoCandlesError, SchemaNotCurrentError

START = 1_704_067_200_000
FIVE = SeriesKey("test", "BTC/USD", Timeframe.M5)


def candles(count: int, step_ms: int) -> list[Candle]:
    rng = np.random.default_rng(3)
    closes = 100 + np.cumsum(rng.normal(0, 1, count))
    return [
        Candle(START + i * step_ms, float(c) - 0.25, float(c) + 1.0, float(c) - 1.0, float(c), 0.5 + i % 3)
        for i, c in enumerate(closes)
    ]


@pytest.fixture
def sqlite_file(sqlite_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "tw.db"
    shutil.copyfile(sqlite_template, path)

    async def fill() -> None:
        async with connect(f"sqlite:///{path}") as engine:
            await CandleStore(engine).upsert(FIVE, candles(300, 5 * MINUTE_MS))

    asyncio.run(fill())
    return path


def test_the_light_head_revision_is_alembics() -> None:
    assert sqlite_reads.head_revision() == schema.head_revision()
    assert sqlite_reads.DATABASE_FILE == database.DATABASE_FILE


def test_adbc_columns_equal_the_store_rows_at_the_range_edges(sqlite_file: Path) -> None:
    first, last = START + 10 * 5 * MINUTE_MS, START + 20 * 5 * MINUTE_MS

    async def stored() -> list[Candle]:
        async with connect(f"sqlite:///{sqlite_file}") as engine:
            return await CandleStore(engine).range(
                FIVE, START + 10 * 5 * MINUTE_MS, START + 20 * 5 * MINUTE_MS
            )

    expected = asyncio.run(stored())
    arrays = sqlite_arrow.read_candle_arrays(str(sqlite_file), FIVE, first, last)
    assert arrays.to_candles() == expected and len(expected) == 11
    missing = SeriesKey("test", "ETH/USD", Timeframe.M5)
    assert len(sqlite_arrow.read_candle_arrays(str(sqlite_file), missing, None, None)) == 0


def test_a_timeframe_not_stored_is_read_from_the_finest_divisor(sqlite_file: Path) -> None:
    fifteen = SeriesKey("test", "BTC/USD", Timeframe.M15)
    found = sqlite_reads.load_candle_arrays_to_roll_up(f"sqlite:///{sqlite_file}", fifteen, None, None)
    assert found is not None
    arrays, timeframe = found
    assert timeframe is Timeframe.M5 and len(arrays) == 300
    full, full_timeframe = asyncio.run(
        load_candle_arrays_to_roll_up(fifteen, None, None, f"sqlite:///{sqlite_file}")
    )
    assert full_timeframe is Timeframe.M5 and full.to_candles() == arrays.to_candles()


def test_what_the_light_path_does_not_handle_goes_to_the_full_path(sqlite_file: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{sqlite_file}"
    light = sqlite_reads.load_candle_arrays_to_roll_up
    hourly_eth = SeriesKey("test", "ETH/USD", Timeframe.H1)
    assert light(url, hourly_eth, None, None) is None
    with pytest.raises(NoCandlesError, match="nor 1m or 3m or 5m or 15m or 30m candles to roll up"):
        asyncio.run(load_candle_arrays_to_roll_up(hourly_eth, None, None, url))
    assert light(f"sqlite:///{tmp_path}/none.db", FIVE, None, None) is None
    assert light("postgresql://u@h/db", FIVE, None, None) is None
    with sqlite3.connect(sqlite_file) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    assert light(url, FIVE, None, None) is None
    with pytest.raises(SchemaNotCurrentError, match="run `tradewinds db upgrade`"):
        asyncio.run(load_candle_arrays_to_roll_up(FIVE, None, None, url))


def test_the_configured_database_file(monkeypatch: pytest.MonkeyPatch, sqlite_file: Path) -> None:
    monkeypatch.setenv("TRADEWINDS_HOME", str(sqlite_file.parent))
    monkeypatch.delenv("TRADEWINDS_DATABASE_URL", raising=False)
    assert sqlite_reads.sqlite_file(None) is None  # no tradewinds.db there
    sqlite_file.rename(sqlite_file.parent / "tradewinds.db")
    assert sqlite_reads.sqlite_file(None) == sqlite_file.parent / "tradewinds.db"
    monkeypatch.setenv("TRADEWINDS_DATABASE_URL", f"sqlite+aiosqlite:///{sqlite_file.parent}/tradewinds.db")
    assert sqlite_reads.sqlite_file(None) == sqlite_file.parent / "tradewinds.db"


def test_reads_see_what_a_running_writer_committed(sqlite_file: Path) -> None:
    """The core keeps its WAL-mode connection open while a user backtests beside it."""
    writer = sqlite3.connect(sqlite_file)
    try:
        writer.execute("PRAGMA journal_mode=WAL")
        series_id = writer.execute("SELECT id FROM candle_series").fetchone()[0]
        later = START + 300 * 5 * MINUTE_MS
        writer.execute("INSERT INTO candles VALUES (?, ?, 1.0, 2.0, 0.5, 1.5, 1.0)", (series_id, later))
        writer.commit()
        writer.execute("INSERT INTO candles VALUES (?, ?, 1.0, 2.0, 0.5, 1.5, 1.0)", (series_id, later + 1))
        # the second row is not committed: a reader must not see it
        arrays = sqlite_arrow.read_candle_arrays(str(sqlite_file), FIVE, None, None)
        assert len(arrays) == 301 and int(arrays.time[-1]) == later
    finally:
        writer.close()
