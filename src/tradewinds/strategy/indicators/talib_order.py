"""Averages computed by TA-Lib's own loops, so their values are TA-Lib's bit for bit.

Two correct formulas for the same average round differently, so values that are equal in exact
arithmetic (the first EMA and the SMA of the same candles, a flat market's averages) compare as
unequal and a strategy trades where TA-Lib-based research says it would not. The recurrences are
inherently sequential, so they run as JIT-compiled LuaJIT loops (`talib_order.lua`) over the
numpy buffers: about a nanosecond per value, in TA-Lib's order of operations.
"""

from __future__ import annotations

import threading
from importlib import resources
from typing import Any

import numpy as np

from tradewinds.strategy.indicators.series import undefined
from tradewinds.strategy.indicators.spec import FloatArray

_kernels: dict[str, Any] = {}  # name -> the Lua function
_lock = threading.Lock()


def _kernel(name: str) -> Any:
    """The Lua function `name`, its module loaded on first use into a runtime of its own (trusted
    code only). Looked up once: a live close creates thousands of series, each a few us."""
    kernel = _kernels.get(name)
    if kernel is not None:
        return kernel
    with _lock:
        if not _kernels:
            import lupa.luajit21 as luajit  # here: only runs that compute indicators need LuaJIT

            lua = luajit.LuaRuntime(register_eval=False, register_builtins=False)
            text = resources.files(__package__).joinpath("talib_order.lua").read_text("utf-8")
            module = lua.execute(text)
            _kernels.update({str(key): module[key] for key in module})
        return _kernels[name]


def _run(name: str, values: FloatArray, *args: float) -> FloatArray:
    source = np.ascontiguousarray(values, dtype=np.float64)
    out = undefined(len(source))
    if len(source):
        _kernel(name)(source.ctypes.data, len(source), *args, out.ctypes.data)
    return out


def running_mean(values: FloatArray, period: int) -> FloatArray:
    """TA-Lib's SMA: a running total, the newest value added before the oldest is taken off."""
    return _run("sma", values, period)


def seeded_ema(values: FloatArray, period: int, start: int = 0) -> FloatArray:
    """EMA of values[start:] seeded at start + period - 1 with the mean of its first `period`
    values summed in order (so it equals the SMA there, bit for bit), alpha = 2 / (period + 1)."""
    return _run("ema", values, start, period, 2.0 / (period + 1))


def wilder(values: FloatArray, period: int) -> FloatArray:
    """Wilder's average of values[1:] (values[0] is ignored: a change has no first value); the
    first average, at index `period`, is the mean of values[1 : period + 1] (TA-Lib's ATR formula;
    equal to TA-Lib's values to rounding, not yet bit for bit)."""
    return _run("wilder", values, period)
