"""The candle window as it travels in an `EvaluationRequest`: six little-endian float64 columns."""

from __future__ import annotations

import numpy as np

from tradewinds.domain.candle_arrays import CandleArrays

_COLUMNS = ("time", "open", "high", "low", "close", "volume")
_FLOAT = np.dtype("<f8")


class WindowError(ValueError):
    """A request's window cannot be read; the message says what is wrong with it."""


def encode_window(window: CandleArrays) -> list[bytes]:
    return [np.ascontiguousarray(getattr(window, name), dtype=_FLOAT).tobytes() for name in _COLUMNS]


def decode_window(columns: list[bytes]) -> CandleArrays:
    if len(columns) != len(_COLUMNS):
        raise WindowError(
            f"a window has {len(_COLUMNS)} columns (time, open, high, low, close, volume), got {len(columns)}"
        )
    sizes = {len(c) for c in columns}
    if len(sizes) != 1 or next(iter(sizes)) % _FLOAT.itemsize:
        raise WindowError(
            f"window columns must be float64 arrays of one length, got byte sizes {[len(c) for c in columns]}"
        )
    arrays = [np.frombuffer(c, dtype=_FLOAT).astype(np.float64) for c in columns]
    if len(arrays[0]) == 0:
        raise WindowError("the window holds no candles")
    times = arrays[0].astype(np.int64)
    if len(times) > 1 and bool(np.any(np.diff(times) <= 0)):
        raise WindowError("window candles must be in ascending time order")
    return CandleArrays(times, *arrays[1:])
