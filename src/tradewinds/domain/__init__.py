"""Plain typed values shared by every component: candles, timeframes, markets, positions, messages."""
