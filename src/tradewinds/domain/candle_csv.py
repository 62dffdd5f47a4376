"""The candle CSV format shared by the backtester and `tradewinds data import/export`.

Header `timestamp_ms,open,high,low,close,volume`, one candle per row, ascending by open time.
`timestamp_ms` is UTC epoch milliseconds; an ISO-8601 time (`2021-01-07T14:30:00Z`) is accepted too.

Files are parsed by pyarrow's CSV reader into columns and validated on whole columns
(`candle_checks`): a year of minutes in about 0.1 s. The first bad row is then described by the
row-by-row check (`check_row`), which is also the whole parser for files the columnar reader
refuses (a short row, a cell that is not a number, blank lines before a bad row), so every
mistake is reported the same way, naming its line.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candle_checks import (
    CandleFileError,
    arrays_from_columns,
    first_bad_row,
    time_unit_problem,
)
from tradewinds.domain.candles import Candle

if TYPE_CHECKING:
    import numpy.typing as npt

HEADER = ("timestamp_ms", "open", "high", "low", "close", "volume")
_TIME_HEADERS = ("timestamp_ms", "timestamp", "time", "date", "datetime")
_BOM = b"\xef\xbb\xbf"
# Below this size the row parser is quicker than importing pyarrow (about 0.1 s): `tradewinds
# check`'s sample candles, test files.
COLUMNAR_FROM_BYTES = 256 * 1024

CandleCsvError = CandleFileError  # the name callers have always caught

Row = tuple[int, float, float, float, float, float]


def read_candle_csv(source: Path | str | TextIO, name: str | None = None) -> CandleArrays:
    """Parse a candle CSV into arrays, or raise CandleCsvError naming the first bad line."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        label = name or str(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise CandleCsvError(f"{label}: no such file") from None
        except OSError as exc:
            raise CandleCsvError(f"{label}: {exc.strerror}") from None
    else:
        label = name or str(getattr(source, "name", "<stream>"))
        data = source.read().encode("utf-8")
    return parse_candle_bytes(data, label)


def parse_candle_csv(text: str, label: str = "<csv>") -> CandleArrays:
    return parse_candle_bytes(text.encode("utf-8"), label)


def parse_candle_bytes(data: bytes, label: str = "<csv>", columnar: bool | None = None) -> CandleArrays:
    """Candles from a CSV file's bytes, through pyarrow's columns when `columnar` (by default,
    for files of COLUMNAR_FROM_BYTES or more) else row by row; both report mistakes alike."""
    if columnar is None:
        columnar = len(data) >= COLUMNAR_FROM_BYTES
    data = data.removeprefix(_BOM)
    try:
        header = next(csv.reader([_first_line(data).decode("utf-8")]), None)
    except UnicodeDecodeError as exc:
        raise CandleCsvError(f"{label}: not a UTF-8 text file ({exc.reason})") from None
    check_header(header, label)
    candles = _parse_columns(data, label) if columnar else None
    if candles is None:  # the columnar reader refused the file: the row-by-row parser says why
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CandleCsvError(f"{label}: not a UTF-8 text file ({exc.reason})") from None
        candles = _parse_rows(text, label)
    problem = time_unit_problem(candles.time)
    if problem:
        raise CandleCsvError(f"{label}: {problem}")
    return candles


def check_header(header: list[str] | None, label: str) -> None:
    if not header:
        raise CandleCsvError(f"{label}: the file is empty; expected the header {','.join(HEADER)}")
    columns = [h.strip().lower() for h in header]
    if len(columns) < 6 or columns[0] not in _TIME_HEADERS or tuple(columns[1:6]) != HEADER[1:]:
        raise CandleCsvError(
            f"{label}:1: unexpected header {','.join(header)!r}; expected {','.join(HEADER)}"
        )


def check_row(row: list[str], where: str, previous: int) -> Row:
    """One data row as (time, open, high, low, close, volume), or CandleCsvError saying what is
    wrong with it. `previous` is the open time of the row before (-1 for the first)."""
    if len(row) < 6:
        raise CandleCsvError(f"{where}: expected 6 columns, found {len(row)}")
    time_ms = _parse_time(row[0], where)
    o, h, lo, c, v = (_parse_number(cell, col, where) for cell, col in zip(row[1:6], HEADER[1:], strict=True))
    _check_candle(time_ms, o, h, lo, c, v, where)
    if time_ms <= previous:
        problem = "repeats" if time_ms == previous else "is earlier than"
        raise CandleCsvError(f"{where}: timestamp {time_ms} {problem} the previous row's")
    return time_ms, o, h, lo, c, v


def _parse_columns(data: bytes, label: str) -> CandleArrays | None:
    """The file through pyarrow; None when pyarrow refuses it or a bad row's line is uncertain."""
    import pyarrow as pa  # here: pyarrow takes about 0.1 s to import

    table = _read_table(data, pa.int64())
    iso = table is None
    if iso:  # not all epoch ms: read the times as text, each an epoch ms or an ISO time
        table = _read_table(data, pa.string())
        if table is None:
            return None
    if table.num_rows == 0:
        raise CandleCsvError(f"{label}: no candles after the header")
    lines = _LineIndex(data, table.num_rows)
    if iso:
        if not lines.exact:
            return None
        time = _iso_times(table.column(0).to_pylist(), label)
    else:
        time = table.column(0).to_numpy()
    columns: list[npt.NDArray[np.float64]] = [table.column(i).to_numpy() for i in range(1, 6)]
    bad = first_bad_row(time, *columns)
    if bad is not None:
        if not lines.exact:
            return None
        where = f"{label}:{bad + 2}"
        row = next(csv.reader([lines.text(bad)]), [])
        check_row(row, where, int(time[bad - 1]) if bad else -1)
        return None  # not reached unless the two checks disagree; the row parser then decides
    return arrays_from_columns(time, *columns)


def _read_table(data: bytes, time_type: Any) -> Any:
    """The first six columns as a pyarrow Table (times as `time_type`), or None if refused."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if pa.types.is_integer(time_type) and (b"0x" in data or b"0X" in data):
        return None  # pyarrow reads 0x10 as 16; the format has no hexadecimal times
    header_width = len(next(csv.reader([_first_line(data).decode("utf-8")])))
    names = [f"c{i}" for i in range(header_width)]
    types = {name: pa.float64() for name in names[1:6]}
    types["c0"] = time_type
    try:
        return pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            convert_options=pacsv.ConvertOptions(
                column_types=types, include_columns=names[:6], null_values=[], strings_can_be_null=False
            ),
        )
    except pa.ArrowException:
        return None


def _first_line(data: bytes) -> bytes:
    end = data.find(b"\n")
    return data if end < 0 else data[:end]


class _LineIndex:
    """Which line of the file data row `i` is on: line i + 2 when no line was skipped."""

    def __init__(self, data: bytes, rows: int) -> None:
        self._data = data
        self._rows = rows

    @property
    def exact(self) -> bool:
        """No blank lines and no quoted line breaks: asked only when there is a row to name."""
        lines = self._data.count(b"\n") + (0 if self._data.endswith(b"\n") else 1)
        return lines == self._rows + 1

    def text(self, row: int) -> str:
        return self._data.split(b"\n", row + 2)[row + 1].decode("utf-8").rstrip("\r")


def _iso_times(cells: list[Any], label: str) -> npt.NDArray[np.int64]:
    times = [_parse_time(str(cell), f"{label}:{i + 2}") for i, cell in enumerate(cells)]
    return np.array(times, dtype=np.int64)


def _parse_rows(text: str, label: str) -> CandleArrays:
    rows = csv.reader(io.StringIO(text))
    next(rows, None)  # the header, checked already
    parsed: list[Row] = []
    previous = -1
    for line_no, row in enumerate(rows, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        parsed.append(check_row(row, f"{label}:{line_no}", previous))
        previous = parsed[-1][0]
    if not parsed:
        raise CandleCsvError(f"{label}: no candles after the header")
    table = np.array([row[1:] for row in parsed], dtype=np.float64)
    return arrays_from_columns(
        np.array([row[0] for row in parsed], dtype=np.int64), *(table[:, i] for i in range(5))
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
