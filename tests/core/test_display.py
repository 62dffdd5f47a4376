"""The one-line form of a closed candle that `tradewinds watch candles` prints."""

from __future__ import annotations

from tradewinds.core.display import format_closed_candle
from tradewinds.domain.candles import Candle
from tradewinds.domain.messages import ClosedCandle, CloseReason


def test_line_has_utc_time_market_timeframe_ohlcv_and_reason() -> None:
    closed = ClosedCandle(
        "bitfinex",
        "BTC/USD",
        "5m",
        Candle(1_700_006_700_000, 42000.12, 42010.5, 41990.0, 42005.1, 0.1 + 0.2),
        CloseReason.ROLLUP,
    )
    assert format_closed_candle(closed) == (
        "2023-11-15T00:05:00Z  bitfinex:BTC/USD   5m  "
        "O 42000.12  H 42010.5  L 41990  C 42005.1  V 0.3  rollup"
    )
