"""`CandleStore`: bulk, idempotent candle storage and fast reads, on SQLite or PostgreSQL.

Writes go in one transaction per call. On PostgreSQL candles are COPYed (binary) into a
temporary table and merged with one `INSERT ... SELECT ... ON CONFLICT DO UPDATE`, or COPYed
straight into the table when nothing is stored in their time span yet; on SQLite one
`executemany` upsert. Either way a candle identical to the stored one is left alone, so writing
the same candles twice changes nothing and `upsert` reports only new or changed candles.

Reads go through the driver (asyncpg, aiosqlite) with plain SQL; `range_arrays` on PostgreSQL
decodes a binary COPY with numpy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import numpy as np
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candles import Candle, SeriesKey
from tradewinds.domain.timeframes import Timeframe
from tradewinds.domain.times import format_time_ms
from tradewinds.storage import postgres_copy, sqlite_arrow
from tradewinds.storage.database import connect, display_url, driver_connection, resolve_database_url
from tradewinds.storage.errors import NoCandlesError
from tradewinds.storage.models import CandleRow, CandleSeriesRow
from tradewinds.storage.schema import check_current

_VALUES = ("open", "high", "low", "close", "volume")
_COLUMNS = ("time", *_VALUES)
# Overwrite a stored candle only when a value differs: an identical rewrite touches nothing.
_CHANGED = (
    f"({', '.join(f'candles.{c}' for c in _VALUES)}) <> ({', '.join(f'excluded.{c}' for c in _VALUES)})"
)
_SET = ", ".join(f"{c} = excluded.{c}" for c in _VALUES)

# A candle as the drivers take it: (time, open, high, low, close, volume).
Row = tuple[int, float, float, float, float, float]

# The series id is an integer this module looked up, so inlining it is safe and spares a
# parameter per row.
_SQLITE_UPSERT = (
    f"INSERT INTO candles (series_id, {', '.join(_COLUMNS)}) VALUES ({{series_id:d}}, ?, ?, ?, ?, ?, ?) "
    f"ON CONFLICT (series_id, time) DO UPDATE SET {_SET} WHERE {_CHANGED}"
)
_SQLITE_BATCH = 100_000  # rows per executemany: bounds the parameter list's memory
# Many series at once (the core's live writes: a few candles each), the series id per row.
_SQLITE_UPSERT_KEYED = (
    f"INSERT INTO candles (series_id, {', '.join(_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?) "
    f"ON CONFLICT (series_id, time) DO UPDATE SET {_SET} WHERE {_CHANGED}"
)
_POSTGRES_UPSERT_KEYED = (
    f"INSERT INTO candles (series_id, {', '.join(_COLUMNS)}) VALUES ($1, $2, $3, $4, $5, $6, $7) "
    f"ON CONFLICT (series_id, time) DO UPDATE SET {_SET} WHERE {_CHANGED}"
)

_POSTGRES_STAGING = "tradewinds_incoming_candles"
_KEYED_COLUMNS = ("series_id", *_COLUMNS)
_POSTGRES_OVERLAP = "SELECT EXISTS (SELECT FROM candles WHERE series_id = $1 AND time BETWEEN $2 AND $3)"
# Per connection, emptied at every commit; created once and reused while the connection lives.
_POSTGRES_CREATE_STAGING = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_POSTGRES_STAGING} (time BIGINT NOT NULL, "
    f"{', '.join(f'{c} DOUBLE PRECISION NOT NULL' for c in _VALUES)}) ON COMMIT DELETE ROWS"
)
_POSTGRES_MERGE = (
    f"INSERT INTO candles (series_id, {', '.join(_COLUMNS)}) "
    f"SELECT $1::integer, {', '.join(_COLUMNS)} FROM {_POSTGRES_STAGING} "
    f"ON CONFLICT (series_id, time) DO UPDATE SET {_SET} WHERE {_CHANGED}"
)
_SELECT_SERIES = (
    f"SELECT {', '.join(_COLUMNS)} FROM candles WHERE series_id = "
    f"(SELECT id FROM candle_series WHERE exchange = ? AND symbol = ? AND timeframe = ?)"
)


class CandleStore:
    """Candle series in the `candle_series` and `candles` tables of one database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._series_ids: dict[SeriesKey, int] = {}  # ids never change once committed

    async def upsert_many(self, batches: Mapping[SeriesKey, Sequence[Candle]]) -> None:
        """Store the candles of several series in one transaction: all of them or, on an error,
        none. For many small writes (the core's closes); `upsert` is faster for bulk history."""
        if not any(batches.values()):
            return
        created: dict[SeriesKey, int] = {}
        async with self.engine.begin() as conn:
            rows: list[tuple[int, *Row]] = []
            for key, candles in batches.items():
                if not candles:
                    continue
                series_id = self._series_ids.get(key) or created.get(key)
                if series_id is None:
                    series_id = await self._series_id(conn, key, create=True)
                    assert series_id is not None
                    created[key] = series_id
                unique = _unique_by_time(
                    [(c.time, c.open, c.high, c.low, c.close, c.volume) for c in candles]
                )
                rows.extend((series_id, *row) for row in unique)
            if self._postgres:
                await (await driver_connection(conn)).executemany(_POSTGRES_UPSERT_KEYED, rows)
            else:
                await conn.exec_driver_sql(_SQLITE_UPSERT_KEYED, rows)
        # Only now: an id created in a transaction that rolled back does not exist.
        self._series_ids.update(created)

    async def upsert(self, key: SeriesKey, candles: Sequence[Candle]) -> int:
        """Store candles, overwriting stored ones with the same open time; return how many were new
        or changed. If `candles` repeats an open time, the later one wins."""
        return await self._upsert_rows(key, [_row(c) for c in candles])

    async def upsert_arrays(self, key: SeriesKey, arrays: CandleArrays) -> int:
        """`upsert` for columns, e.g. straight from `read_candle_csv`."""
        columns = (arrays.time, arrays.open, arrays.high, arrays.low, arrays.close, arrays.volume)
        return await self._upsert_rows(key, list(zip(*(column.tolist() for column in columns), strict=True)))

    async def _upsert_rows(self, key: SeriesKey, rows: list[Row]) -> int:
        if not rows:
            return 0
        rows = _unique_by_time(rows)
        async with self.engine.begin() as conn:
            series_id = await self._series_id(conn, key, create=True)
            assert series_id is not None
            if self._postgres:
                return await _postgres_upsert(conn, series_id, rows)
            return await _sqlite_upsert(conn, series_id, rows)

    async def last(self, key: SeriesKey, n: int) -> list[Candle]:
        """The newest `n` candles (fewer if fewer are stored), oldest first."""
        if n <= 0:
            return []
        # Newest first down the primary key, then reversed: reads only the n rows wanted.
        query = f"{_SELECT_SERIES} ORDER BY time DESC LIMIT ?"
        rows = await self._fetch(query, [*_series_params(key), n])
        return [Candle(*row) for row in reversed(rows)]

    async def range(
        self, key: SeriesKey, since_ms: int | None = None, until_ms: int | None = None
    ) -> list[Candle]:
        """Candles with `since_ms <= time <= until_ms` (None: unbounded), oldest first."""
        rows = await self._fetch(*_range_query(key, since_ms, until_ms))
        return [Candle(*row) for row in rows]

    async def range_arrays(
        self, key: SeriesKey, since_ms: int | None = None, until_ms: int | None = None
    ) -> CandleArrays:
        """`range` as numpy columns, without building a Python object per candle."""
        if not self._postgres:
            path = self.engine.url.database
            assert path is not None  # database.py refuses in-memory SQLite
            return await sqlite_arrow.fetch_candle_arrays(path, key, since_ms, until_ms)
        async with self.engine.connect() as conn:
            series_id = await self._series_id(conn, key, create=False)
            if series_id is None:
                return _empty_arrays()
            return await postgres_copy.fetch_candle_arrays(conn, series_id, since_ms, until_ms)

    async def _fetch(self, query: str, params: Sequence[object]) -> list[Any]:
        """Rows straight from the driver: SQLAlchemy's row wrapping doubled read times (measured).

        `query` uses `?` placeholders; PostgreSQL gets them numbered ($1, $2, ...).
        """
        async with self.engine.connect() as conn:
            driver = await driver_connection(conn)
            if self._postgres:
                return list(await driver.fetch(_numbered(query), *params))
            cursor = await driver.execute(query, params)
            try:
                return list(await cursor.fetchall())
            finally:
                await cursor.close()

    async def latest_time(
        self, key: SeriesKey, since_ms: int | None = None, until_ms: int | None = None
    ) -> int | None:
        """Open time of the newest stored candle (with since_ms <= time <= until_ms when given),
        None if there is none."""
        query = select(func.max(CandleRow.time)).where(CandleRow.series_id == _series_id_subquery(key))
        if since_ms is not None:
            query = query.where(CandleRow.time >= since_ms)
        if until_ms is not None:
            query = query.where(CandleRow.time <= until_ms)
        async with self.engine.connect() as conn:
            latest = (await conn.execute(query)).scalar_one()
        return None if latest is None else int(latest)

    async def count(self, key: SeriesKey) -> int:
        query = select(func.count()).where(CandleRow.series_id == _series_id_subquery(key))
        async with self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def series(self) -> list[SeriesKey]:
        """Every series that has candles, sorted by exchange, symbol and timeframe length."""
        has_candles = select(CandleRow.series_id).where(CandleRow.series_id == CandleSeriesRow.id).exists()
        query = select(CandleSeriesRow.exchange, CandleSeriesRow.symbol, CandleSeriesRow.timeframe).where(
            has_candles
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        keys = [SeriesKey(exchange, symbol, Timeframe(tf)) for exchange, symbol, tf in rows]
        return sorted(keys, key=lambda k: (k.exchange, k.symbol, k.timeframe.ms))

    async def _series_id(self, conn: AsyncConnection, key: SeriesKey, *, create: bool) -> int | None:
        found = (await conn.execute(select(CandleSeriesRow.id).where(*_series_match(key)))).scalar()
        if found is not None or not create:
            return found
        # ON CONFLICT DO NOTHING: a concurrent writer may create the same series first.
        insert = postgres_insert if self._postgres else sqlite_insert
        values = {"exchange": key.exchange, "symbol": key.symbol, "timeframe": key.timeframe.value}
        await conn.execute(insert(CandleSeriesRow).values(**values).on_conflict_do_nothing())
        return (await conn.execute(select(CandleSeriesRow.id).where(*_series_match(key)))).scalar_one()


async def load_candle_arrays(
    key: SeriesKey, since_ms: int | None, until_ms: int | None, database_url: str | None = None
) -> CandleArrays:
    """A series' candles in `[since_ms, until_ms]` from the configured database (or `database_url`).

    Raises NoCandlesError naming the series and range when nothing is stored there, and
    SchemaNotCurrentError when the database needs `tradewinds db upgrade`.
    """
    url = resolve_database_url(database_url)
    async with connect(url) as engine:
        await check_current(engine, f"database {display_url(url)}")
        arrays = await CandleStore(engine).range_arrays(key, since_ms, until_ms)
    if len(arrays) == 0:
        raise NoCandlesError(
            f"no {key.timeframe.value} candles stored for {key.exchange} {key.symbol} "
            f"{describe_range(since_ms, until_ms)}; "
            f"import some with `tradewinds data import` (database {display_url(url)})"
        )
    return arrays


async def load_candle_arrays_to_roll_up(
    key: SeriesKey, since_ms: int | None, until_ms: int | None, database_url: str | None = None
) -> tuple[CandleArrays, Timeframe]:
    """The series' candles, or, when none of its timeframe are stored in the range, those of the
    finest stored timeframe that rolls up into it (5m for 15m); returns them and their timeframe.

    Raises NoCandlesError naming the series, the range and the timeframes tried.
    """
    url = resolve_database_url(database_url)
    tried = (key.timeframe, *key.timeframe.finer_divisors())
    async with connect(url) as engine:
        await check_current(engine, f"database {display_url(url)}")
        store = CandleStore(engine)
        for timeframe in tried:
            arrays = await store.range_arrays(
                SeriesKey(key.exchange, key.symbol, timeframe), since_ms, until_ms
            )
            if len(arrays):
                return arrays, timeframe
    finer = f", nor {' or '.join(tf.value for tf in tried[1:])} candles to roll up" if len(tried) > 1 else ""
    raise NoCandlesError(
        f"no {key.timeframe.value} candles stored for {key.exchange} {key.symbol} "
        f"{describe_range(since_ms, until_ms)}{finer}; "
        f"import some with `tradewinds data import` (database {display_url(url)})"
    )


def describe_range(since_ms: int | None, until_ms: int | None) -> str:
    if since_ms is None and until_ms is None:
        return "at any time"
    if until_ms is None:
        return f"from {format_time_ms(since_ms or 0)} on"
    if since_ms is None:
        return f"up to {format_time_ms(until_ms)}"
    return f"from {format_time_ms(since_ms)} to {format_time_ms(until_ms)}"


def _row(c: Candle) -> Row:
    return (c.time, c.open, c.high, c.low, c.close, c.volume)


def _unique_by_time(rows: list[Row]) -> list[Row]:
    """The rows, keeping the last of any repeated open time (one statement may not hit a row twice)."""
    previous = -1
    for row in rows:
        if row[0] <= previous:
            by_time = {r[0]: r for r in rows}
            return [by_time[t] for t in sorted(by_time)]
        previous = row[0]
    return rows


async def _sqlite_upsert(conn: AsyncConnection, series_id: int, rows: list[Row]) -> int:
    statement = _SQLITE_UPSERT.format(series_id=series_id)
    changed = 0
    for start in range(0, len(rows), _SQLITE_BATCH):
        result = await conn.exec_driver_sql(statement, rows[start : start + _SQLITE_BATCH])
        changed += max(result.rowcount, 0)
    return changed


async def _postgres_upsert(conn: AsyncConnection, series_id: int, rows: list[Row]) -> int:
    # Through SQLAlchemy first: that opens the transaction the driver-level statements run inside.
    await conn.exec_driver_sql(_POSTGRES_CREATE_STAGING)
    driver = await driver_connection(conn)
    if not await driver.fetchval(_POSTGRES_OVERLAP, series_id, rows[0][0], rows[-1][0]):
        # Nothing stored in this span (new history): COPY straight into the table, 2.5× faster than
        # merging (measured). A concurrent writer may still get there first; then merge instead.
        try:
            async with driver.transaction():  # a savepoint inside the open transaction
                records = ((series_id, *row) for row in rows)
                await driver.copy_records_to_table("candles", records=records, columns=_KEYED_COLUMNS)
            return len(rows)
        except asyncpg.UniqueViolationError:
            pass
    await driver.copy_records_to_table(_POSTGRES_STAGING, records=rows, columns=_COLUMNS)
    status = await driver.execute(_POSTGRES_MERGE, series_id)
    return int(status.rsplit(" ", 1)[-1])  # "INSERT 0 <rows inserted or updated>"


def _series_match(key: SeriesKey) -> tuple[ColumnElement[bool], ...]:
    return (
        CandleSeriesRow.exchange == key.exchange,
        CandleSeriesRow.symbol == key.symbol,
        CandleSeriesRow.timeframe == key.timeframe.value,
    )


def _series_id_subquery(key: SeriesKey) -> Any:
    return select(CandleSeriesRow.id).where(*_series_match(key)).scalar_subquery()


def _series_params(key: SeriesKey) -> list[object]:
    return [key.exchange, key.symbol, key.timeframe.value]


def _range_query(key: SeriesKey, since_ms: int | None, until_ms: int | None) -> tuple[str, list[object]]:
    query, params = _SELECT_SERIES, _series_params(key)
    if since_ms is not None:
        query += " AND time >= ?"
        params.append(since_ms)
    if until_ms is not None:
        query += " AND time <= ?"
        params.append(until_ms)
    return query + " ORDER BY time", params


def _numbered(query: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2, ...` (the queries here hold no other `?`)."""
    parts = query.split("?")
    return "".join(f"{part}${i}" for i, part in enumerate(parts[:-1], start=1)) + parts[-1]


_ROW = np.dtype([("time", np.int64), *((name, np.float64) for name in _VALUES)])


def _arrays_from_table(table: np.ndarray[Any, np.dtype[np.void]]) -> CandleArrays:
    return CandleArrays(
        time=np.ascontiguousarray(table["time"], dtype=np.int64),
        open=np.ascontiguousarray(table["open"], dtype=np.float64),
        high=np.ascontiguousarray(table["high"], dtype=np.float64),
        low=np.ascontiguousarray(table["low"], dtype=np.float64),
        close=np.ascontiguousarray(table["close"], dtype=np.float64),
        volume=np.ascontiguousarray(table["volume"], dtype=np.float64),
    )


def _empty_arrays() -> CandleArrays:
    return _arrays_from_table(np.empty(0, dtype=_ROW))
