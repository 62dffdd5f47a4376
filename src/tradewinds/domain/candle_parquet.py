"""Candles as Parquet files, the columnar format research tools keep them in.

Columns `timestamp_ms` (int64 epoch milliseconds, or an Arrow timestamp of any unit), `open`,
`high`, `low`, `close`, `volume` (numbers); other columns are ignored. The same rules as the CSV
format apply (`candle_checks`), and the first bad row is reported by its number.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candle_checks import (
    CandleFileError,
    arrays_from_columns,
    first_bad_row,
    time_unit_problem,
)
from tradewinds.domain.candle_csv import HEADER, check_row

if TYPE_CHECKING:
    import numpy.typing as npt

_TIME_NAMES = ("timestamp_ms", "timestamp", "time", "date", "datetime")


def read_candle_parquet(path: Path | str, name: str | None = None) -> CandleArrays:
    """A Parquet file's candles, or CandleFileError naming the file, the row and the problem."""
    import pyarrow as pa  # here: pyarrow takes about 0.1 s to import
    import pyarrow.parquet as pq

    label = name or str(path)
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise CandleFileError(f"{label}: no such file") from None
    except OSError as exc:
        raise CandleFileError(f"{label}: {exc.strerror or exc}") from None
    except pa.ArrowException as exc:
        raise CandleFileError(f"{label}: not a Parquet file ({exc})") from None
    columns = {column.lower(): column for column in table.column_names}
    time_name = next((columns[n] for n in _TIME_NAMES if n in columns), None)
    missing = [n for n in HEADER[1:] if n not in columns]
    if time_name is None or missing:
        raise CandleFileError(
            f"{label}: columns {', '.join(table.column_names) or '(none)'}; expected {', '.join(HEADER)}"
        )
    if table.num_rows == 0:
        raise CandleFileError(f"{label}: no candles in the file")
    time = _time_column(table.column(time_name), label)
    values = [_number_column(table.column(columns[n]), n, label) for n in HEADER[1:]]
    bad = first_bad_row(time, *values)
    if bad is not None:
        cells = [str(int(time[bad])), *(repr(float(v[bad])) for v in values)]
        check_row(cells, f"{label}: row {bad + 1}", int(time[bad - 1]) if bad else -1)
        raise CandleFileError(f"{label}: row {bad + 1} is not a valid candle")  # checks disagree
    problem = time_unit_problem(time)
    if problem:
        raise CandleFileError(f"{label}: {problem}")
    return arrays_from_columns(time, *values)


def write_candle_parquet(candles: CandleArrays, path: Path | str) -> int:
    """Write candles as `read_candle_parquet` reads them; return how many were written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "timestamp_ms": pa.array(candles.time, type=pa.int64()),
            "open": candles.open,
            "high": candles.high,
            "low": candles.low,
            "close": candles.close,
            "volume": candles.volume,
        }
    )
    pq.write_table(table, path)
    return len(candles)


def _time_column(column: Any, label: str) -> npt.NDArray[np.int64]:
    import pyarrow as pa
    import pyarrow.compute as pc

    _refuse_nulls(column, "timestamp_ms", label)
    if pa.types.is_timestamp(column.type):
        column = pc.cast(column, pa.timestamp("ms", tz=column.type.tz)).cast(pa.int64())
    elif not pa.types.is_integer(column.type):
        raise CandleFileError(
            f"{label}: column timestamp_ms holds {column.type}; expected integer epoch milliseconds "
            "or timestamps"
        )
    return np.asarray(column.to_numpy(), dtype=np.int64)


def _number_column(column: Any, name: str, label: str) -> npt.NDArray[np.float64]:
    import pyarrow as pa

    _refuse_nulls(column, name, label)
    if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
        raise CandleFileError(f"{label}: column {name} holds {column.type}; expected numbers")
    return np.asarray(column.to_numpy(), dtype=np.float64)


def _refuse_nulls(column: Any, name: str, label: str) -> None:
    if column.null_count:
        first = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise CandleFileError(f"{label}: row {first + 1}: {name} is empty")
