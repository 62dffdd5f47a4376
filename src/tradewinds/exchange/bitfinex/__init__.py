"""Bitfinex: the adapter (ccxt for REST) and our own candle WebSocket client."""

from tradewinds.exchange.bitfinex.adapter import BITFINEX_LIMITS, BitfinexAdapter
from tradewinds.exchange.bitfinex.stream import BitfinexCandleStream, StreamSettings

__all__ = ["BITFINEX_LIMITS", "BitfinexAdapter", "BitfinexCandleStream", "StreamSettings"]
