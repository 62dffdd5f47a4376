"""Series plumbing shared by the indicators: NaN padding, a source's defined part, safe ratios."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar, cast

import numpy as np

from tradewinds.strategy.indicators.spec import FloatArray

P = ParamSpec("P")
Result = TypeVar("Result", FloatArray, tuple[FloatArray, ...])

# TA-Lib's relative dead zone (TA_EPSILON applied to the operands' magnitude): a difference this
# small next to the numbers it came from is rounding residue, and counts as no difference.
FLAT = 1e-14


def undefined(length: int) -> FloatArray:
    values = np.empty(length)
    values.fill(np.nan)  # np.full's equal at half its cost (a live close makes thousands)
    return values


def padded(values: FloatArray, length: int) -> FloatArray:
    """`values` aligned to the end of a series of `length`, NaN before."""
    out = undefined(length)
    if len(values):
        out[length - len(values) :] = values
    return out


def first_defined(values: FloatArray) -> int:
    """Index of the first non-NaN value (len(values) if there is none)."""
    if len(values) == 0 or not math.isnan(values[0]):  # math: a numpy call costs 0.5 us
        return 0
    defined = np.flatnonzero(~np.isnan(values))
    return int(defined[0]) if len(defined) else len(values)


def from_first_defined(
    function: Callable[Concatenate[FloatArray, P], Result],
) -> Callable[Concatenate[FloatArray, P], Result]:
    """Run an indicator of one source on the source's defined part; NaN over the leading run.

    A source may be another indicator's output, which starts with its warm-up NaN.
    """

    @functools.wraps(function)
    def wrapped(source: FloatArray, /, *args: P.args, **kwargs: P.kwargs) -> Result:
        start = first_defined(source)
        if start == 0:
            return function(source, *args, **kwargs)
        result = function(source[start:], *args, **kwargs)
        return cast(Result, _padded_outputs(result, len(source)))

    return wrapped


def _padded_outputs(
    result: FloatArray | tuple[FloatArray, ...], length: int
) -> FloatArray | tuple[FloatArray, ...]:
    if isinstance(result, tuple):
        return tuple(padded(r, length) for r in result)
    return padded(result, length)


def ratio(numerator: FloatArray, denominator: FloatArray, *, zero: float = 0.0) -> FloatArray:
    """numerator / denominator, `zero` where the denominator is 0 (TA-Lib's answer to 0/0)."""
    out = np.full(len(numerator), zero)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def lagged(values: FloatArray, lag: int) -> FloatArray:
    """values[i - lag] at index i, NaN before."""
    out = undefined(len(values))
    if lag < len(values):
        out[lag:] = values[: len(values) - lag]
    return out


def typical_price(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    return (high + low + close) / 3.0
