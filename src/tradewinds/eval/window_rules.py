"""How many candles a strategy's window needs so its indicators equal a full-history computation.

Pure rules over the indicator calls a dry run recorded (window_sizer.py). An indicator with a
finite lookback (sma, wma, bollinger, stoch, ...) needs exactly its lookback. A recursive one
(ema, rsi, atr, macd, dema, tema) remembers all of history, but the weight of candles older than
k falls as (1 - a)^k: after `decay_candles(a)` of them a different starting point moves the value
by less than TOLERANCE relative (well inside the 1e-9 promised: MACD's line is a difference of two
EMAs, so its relative error is larger than each EMA's). An indicator of an indicator adds up.

OBV is the exception: a running sum whose level depends on where it starts, for ever. Its crossings
and changes do not (docs/strategies.md says so), and it gets only its lookback.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from tradewinds.strategy.indicators import INDICATORS

TOLERANCE = 1e-13
# Series reads at an offset (`ema(5)`, crossovers) need candles beyond the indicator's own need.
OFFSET_MARGIN = 100
MAX_WINDOW = 20_000  # the most candles a request carries (about 1.2 MB)
DEFAULT_WINDOW = 1_000  # a strategy whose dry run told nothing (it failed before any indicator)


@dataclass(frozen=True)
class IndicatorCall:
    """`ta.NAME(params)` on a source that needs `source_candles` candles itself (1: prices)."""

    name: str
    params: tuple[float, ...]
    source_candles: int = 1


def decay_candles(alpha: float) -> int:
    """Candles after which a recursive average forgets its starting point to TOLERANCE."""
    if not 0.0 < alpha < 1.0:
        return 0
    return math.ceil(math.log(TOLERANCE) / math.log1p(-alpha))


def _ema_alpha(period: float) -> float:
    return 2.0 / (period + 1.0)


def _wilder_alpha(period: float) -> float:
    return 1.0 / period


def memory_candles(name: str, params: tuple[float, ...]) -> int:
    """Candles beyond the lookback a recursive indicator needs to forget its seed."""
    if name == "ema":
        return decay_candles(_ema_alpha(params[0]))
    if name == "dema":
        return 2 * decay_candles(_ema_alpha(params[0]))
    if name == "tema":
        return 3 * decay_candles(_ema_alpha(params[0]))
    if name == "macd":
        fast, slow, signal = params
        return decay_candles(_ema_alpha(max(fast, slow))) + decay_candles(_ema_alpha(signal))
    if name in ("rsi", "atr"):
        return decay_candles(_wilder_alpha(params[0]))
    return 0


def candles_needed(call: IndicatorCall) -> int:
    """Candles from the start of the window until this call's output equals full history's."""
    spec = INDICATORS[call.name]
    own = spec.candles_needed(call.params) + memory_candles(call.name, call.params)
    return call.source_candles - 1 + own


def window_size(needs: Iterable[int], margin: int = OFFSET_MARGIN, maximum: int = MAX_WINDOW) -> int:
    """The window for a strategy whose series need `needs` candles (none recorded: the default)."""
    largest = max(needs, default=0)
    if largest == 0:
        return min(DEFAULT_WINDOW, maximum)
    return min(largest + margin, maximum)
