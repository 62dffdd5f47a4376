"""PostgreSQL's binary COPY, reached through SQLAlchemy's asyncpg connection, for bulk candle reads.

A binary COPY row of six NOT NULL 8-byte columns has a fixed size, so a whole result decodes
in one `numpy.frombuffer`, with no Python object per candle.
"""

from __future__ import annotations

import struct

import numpy as np
from sqlalchemy.ext.asyncio import AsyncConnection

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.storage.database import driver_connection
from tradewinds.storage.errors import StorageError

_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_FIELDS = 6  # time, open, high, low, close, volume
# Each row: field count (int16), then per field its length (int32) and 8 bytes of value; big-endian.
_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("time_len", ">i4"),
        ("time", ">i8"),
        ("open_len", ">i4"),
        ("open", ">f8"),
        ("high_len", ">i4"),
        ("high", ">f8"),
        ("low_len", ">i4"),
        ("low", ">f8"),
        ("close_len", ">i4"),
        ("close", ">f8"),
        ("volume_len", ">i4"),
        ("volume", ">f8"),
    ]
)
_SELECT = "SELECT time, open, high, low, close, volume FROM candles WHERE series_id = {series_id:d}"


async def fetch_candle_arrays(
    conn: AsyncConnection, series_id: int, since_ms: int | None, until_ms: int | None
) -> CandleArrays:
    """Candles of one series in `[since_ms, until_ms]` (None: unbounded), ascending, as arrays."""
    # Every value is an int this module controls, so formatting them in is safe; COPY takes no
    # bind parameters.
    query = _SELECT.format(series_id=series_id)
    if since_ms is not None:
        query += f" AND time >= {int(since_ms):d}"
    if until_ms is not None:
        query += f" AND time <= {int(until_ms):d}"
    query += " ORDER BY time"
    chunks: list[bytes] = []

    async def collect(chunk: bytes) -> None:
        chunks.append(bytes(chunk))

    driver = await driver_connection(conn)
    await driver.copy_from_query(query, output=collect, format="binary")
    return decode_candle_copy(b"".join(chunks))


def decode_candle_copy(data: bytes) -> CandleArrays:
    """Arrays from the binary COPY output of `SELECT time, open, high, low, close, volume`."""
    if not data.startswith(_SIGNATURE) or len(data) < len(_SIGNATURE) + 8 + 2:
        raise StorageError("PostgreSQL sent a COPY stream Tradewinds cannot read (bad header)")
    (extension,) = struct.unpack_from(">i", data, len(_SIGNATURE) + 4)
    start = len(_SIGNATURE) + 8 + extension
    body = len(data) - start - 2  # the trailer is a field count of -1
    if body < 0 or body % _ROW.itemsize or data[-2:] != b"\xff\xff":
        raise StorageError("PostgreSQL sent a COPY stream of unexpected row size")
    rows = np.frombuffer(data, dtype=_ROW, count=body // _ROW.itemsize, offset=start)
    lengths = [rows[f"{name}_len"] for name in ("time", "open", "high", "low", "close", "volume")]
    if np.any(rows["fields"] != _FIELDS) or any(np.any(length != 8) for length in lengths):
        raise StorageError("PostgreSQL sent candle rows with unexpected columns")
    return CandleArrays(
        time=rows["time"].astype(np.int64),
        open=rows["open"].astype(np.float64),
        high=rows["high"].astype(np.float64),
        low=rows["low"].astype(np.float64),
        close=rows["close"].astype(np.float64),
        volume=rows["volume"].astype(np.float64),
    )
