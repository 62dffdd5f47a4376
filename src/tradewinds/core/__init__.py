"""The core: turns exchange candle updates into stored, published closed candles of every timeframe.

`pipeline.CandlePipeline` is the pure logic (dedupe, closes, gaps, rollups); `service.CoreService`
wires it to the bus and the candle store.
"""
