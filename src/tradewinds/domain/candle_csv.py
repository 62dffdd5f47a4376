"""The candle CSV format shared by the backtester and `tradewinds data import/export`.

Header `timestamp_ms,open,high,low,close,volume`, one candle per row, ascending by open time.
`timestamp_ms` is UTC epoch milliseconds; an ISO-8601 time (`2021-01-07T14:30:00Z`) is accepted too.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import numpy as np

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candles import Candle

HEADER = ("timestamp_ms", "open", "high", "low", "close", "volume")
_TIME_HEADERS = ("timestamp_ms", "timestamp", "time", "date", "datetime")


class CandleCsvError(ValueError):
    """A CSV file that is not a valid candle series; the message names the file and line."""


def read_candle_csv(source: Path | str | TextIO, name: str | None = None) -> CandleArrays:
    """Parse a candle CSV into arrays, or raise CandleCsvError naming the first bad line."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        label = name or str(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise CandleCsvError(f"{label}: no such file") from None
        except UnicodeDecodeError as exc:
            raise CandleCsvError(f"{label}: not a UTF-8 text file ({exc.reason})") from None
    else:
        label = name or str(getattr(source, "name", "<stream>"))
        text = source.read()
    return parse_candle_csv(text, label)


def parse_candle_csv(text: str, label: str = "<csv>") -> CandleArrays:
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header is None:
        raise CandleCsvError(f"{label}: the file is empty; expected the header {','.join(HEADER)}")
    columns = [h.strip().lower() for h in header]
    if len(columns) < 6 or columns[0] not in _TIME_HEADERS or tuple(columns[1:6]) != HEADER[1:]:
        raise CandleCsvError(
            f"{label}:1: unexpected header {','.join(header)!r}; expected {','.join(HEADER)}"
        )
    times: list[int] = []
    values: list[tuple[float, float, float, float, float]] = []
    previous = -1
    for line_no, row in enumerate(rows, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        where = f"{label}:{line_no}"
        if len(row) < 6:
            raise CandleCsvError(f"{where}: expected 6 columns, found {len(row)}")
        time_ms = _parse_time(row[0], where)
        o, h, lo, c, v = (
            _parse_number(cell, col, where) for cell, col in zip(row[1:6], HEADER[1:], strict=True)
        )
        _check_candle(time_ms, o, h, lo, c, v, where)
        if time_ms <= previous:
            problem = "repeats" if time_ms == previous else "is earlier than"
            raise CandleCsvError(f"{where}: timestamp {time_ms} {problem} the previous row's")
        previous = time_ms
        times.append(time_ms)
        values.append((o, h, lo, c, v))
    if not times:
        raise CandleCsvError(f"{label}: no candles after the header")
    table = np.array(values, dtype=np.float64)
    return CandleArrays(
        time=np.array(times, dtype=np.int64),
        open=np.ascontiguousarray(table[:, 0]),
        high=np.ascontiguousarray(table[:, 1]),
        low=np.ascontiguousarray(table[:, 2]),
        close=np.ascontiguousarray(table[:, 3]),
        volume=np.ascontiguousarray(table[:, 4]),
    )


def write_candle_csv(candles: Iterable[Candle], out: TextIO) -> int:
    """Write candles in the format `read_candle_csv` reads; return how many were written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    count = 0
    for c in candles:
        writer.writerow((c.time, repr(c.open), repr(c.high), repr(c.low), repr(c.close), repr(c.volume)))
        count += 1
    return count


def _parse_time(cell: str, where: str) -> int:
    text = cell.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        raise CandleCsvError(
            f"{where}: timestamp {cell!r} is neither epoch milliseconds nor an ISO-8601 time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _parse_number(cell: str, column: str, where: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise CandleCsvError(f"{where}: {column} {cell!r} is not a number") from None
    if not math.isfinite(value):
        raise CandleCsvError(f"{where}: {column} {cell!r} is not a finite number")
    return value


def _check_candle(t: int, o: float, h: float, lo: float, c: float, v: float, where: str) -> None:
    if min(o, h, lo, c) <= 0:
        raise CandleCsvError(f"{where}: prices must be positive")
    if v < 0:
        raise CandleCsvError(f"{where}: volume {v} is negative")
    if h < max(o, c, lo) or lo > min(o, c):
        raise CandleCsvError(f"{where}: high {h} / low {lo} do not contain open {o} and close {c}")
    if t < 0:
        raise CandleCsvError(f"{where}: timestamp {t} is before 1970")
