"""How closed candles are shown to people (`tradewinds watch candles`)."""

from __future__ import annotations

from tradewinds.domain.messages import ClosedCandle
from tradewinds.domain.times import format_time_ms


def format_closed_candle(closed: ClosedCandle) -> str:
    """One line: open time (ISO UTC), market, timeframe, OHLCV and why it closed."""
    c = closed.candle
    return (
        f"{format_time_ms(c.time)}  {closed.exchange}:{closed.symbol}  {closed.timeframe:>3}  "
        f"O {_number(c.open)}  H {_number(c.high)}  L {_number(c.low)}  C {_number(c.close)}  "
        f"V {_number(c.volume)}  {closed.reason.value}"
    )


def _number(value: float) -> str:
    return f"{value:.10g}"  # enough digits for any price, without float noise
