"""Messages survive the wire unchanged, and garbage is refused with a decode error."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradewinds.bus import codec
from tradewinds.domain.candles import Candle
from tradewinds.domain.messages import CandleUpdate, ClosedCandle, CloseReason, UpdateSource

prices = st.floats(min_value=1e-8, max_value=1e9, allow_nan=False)


@given(
    time=st.integers(min_value=0, max_value=2**42),
    price=prices,
    volume=st.floats(min_value=0, max_value=1e12),
    source=st.sampled_from(UpdateSource),
)
def test_candle_updates_round_trip(time: int, price: float, volume: float, source: UpdateSource) -> None:
    update = CandleUpdate("bitfinex", "BTC/USD", Candle(time, price, price, price, price, volume), source, 7)
    assert codec.decode(codec.encode(update), CandleUpdate) == update


def test_closed_candles_are_compact() -> None:
    closed = ClosedCandle("bitfinex", "BTC/USD", "1m", Candle(1, 2, 3, 1, 2, 5), CloseReason.NEXT_CANDLE)
    data = codec.encode(closed)
    assert codec.decode(data, ClosedCandle) == closed
    assert len(data) < 100  # the candle is an array, not a map of field names


def test_the_wrong_message_type_is_refused() -> None:
    update = CandleUpdate("bitfinex", "BTC/USD", Candle(1, 2, 3, 1, 2, 5))
    with pytest.raises(msgspec.DecodeError):
        codec.decode(codec.encode(update), ClosedCandle)
    with pytest.raises(msgspec.DecodeError):
        codec.decode(b"\xc1 not msgpack", CandleUpdate)
