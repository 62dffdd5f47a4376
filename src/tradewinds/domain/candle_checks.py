"""What makes a candle series valid, checked on whole columns at once.

A series is valid when every value is finite, prices are positive, volume is not negative, each
high/low contains its open and close, open times are non-negative and strictly ascending, and the
times are epoch milliseconds (not seconds, not micro- or nanoseconds). The readers (CSV, Parquet)
use `first_bad_row` to find the first row to report, then say what is wrong with that row in the
words of the row-by-row check (`candle_csv.check_row`), so a user reads the same message whichever
way the file came in.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from tradewinds.domain.candle_arrays import CandleArrays

# Open times of real markets lie well inside these bounds when they are milliseconds: 1e11 ms is
# March 1973, 1e14 ms is the year 5138. Seconds since 1970 from 1973 to 5138 fall below 1e11, and
# microseconds (or nanoseconds) of any date since 1973 fall above 1e14.
_SECONDS_FROM, _MILLISECONDS_FROM, _MILLISECONDS_UNTIL = 10**8, 10**11, 10**14


class CandleFileError(ValueError):
    """A file that is not a valid candle series; the message names the file (and line) and the problem."""


def first_bad_row(
    time: npt.NDArray[np.int64],
    open_: npt.NDArray[np.float64],
    high: npt.NDArray[np.float64],
    low: npt.NDArray[np.float64],
    close: npt.NDArray[np.float64],
    volume: npt.NDArray[np.float64],
) -> int | None:
    """Index of the first row that breaks a rule (see the module doc), or None when all are valid."""
    prices = (open_, high, low, close)
    bad = ~np.isfinite(volume) | (volume < 0) | (time < 0)
    for column in prices:
        bad |= ~np.isfinite(column) | (column <= 0)
    bad |= (high < np.maximum(np.maximum(open_, close), low)) | (low > np.minimum(open_, close))
    bad[1:] |= time[1:] <= time[:-1]
    found = np.flatnonzero(bad)
    return int(found[0]) if len(found) else None


def time_unit_problem(time: npt.NDArray[np.int64]) -> str | None:
    """Why the open times cannot be epoch milliseconds (they look like seconds, or micro- or
    nanoseconds), or None when they can. `time` is ascending."""
    if len(time) == 0:
        return None
    first, last = int(time[0]), int(time[-1])
    if first >= _SECONDS_FROM and last < _MILLISECONDS_FROM:
        as_seconds = datetime.fromtimestamp(first, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            f"timestamps look like seconds since 1970, not milliseconds: the first, {first}, would be "
            f"{as_seconds} in seconds but January 1970 in milliseconds; multiply them by 1000"
        )
    if first >= _MILLISECONDS_UNTIL:
        return (
            f"timestamps look like microseconds or nanoseconds since 1970, not milliseconds: the "
            f"first, {first}, would be after the year 5000 in milliseconds"
        )
    return None


def arrays_from_columns(
    time: npt.NDArray[np.int64],
    open_: npt.NDArray[np.float64],
    high: npt.NDArray[np.float64],
    low: npt.NDArray[np.float64],
    close: npt.NDArray[np.float64],
    volume: npt.NDArray[np.float64],
) -> CandleArrays:
    """CandleArrays owning contiguous copies of the columns in the engine's dtypes."""

    def floats(column: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.ascontiguousarray(column, dtype=np.float64)

    return CandleArrays(
        time=np.ascontiguousarray(time, dtype=np.int64),
        open=floats(open_),
        high=floats(high),
        low=floats(low),
        close=floats(close),
        volume=floats(volume),
    )
