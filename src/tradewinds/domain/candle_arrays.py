"""A candle series as columns of numpy arrays: the shape the strategy engine and backtester read."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tradewinds.domain.candles import Candle

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class CandleArrays:
    """Columns of one candle series, ascending by open time (ms), all the same length."""

    time: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __post_init__(self) -> None:
        n = len(self.time)
        for name in ("open", "high", "low", "close", "volume"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"column {name} has {len(getattr(self, name))} rows, time has {n}")

    def __len__(self) -> int:
        return len(self.time)

    @classmethod
    def from_candles(cls, candles: Sequence[Candle] | Iterable[Candle]) -> CandleArrays:
        rows = list(candles)
        return cls(
            time=np.fromiter((c.time for c in rows), dtype=np.int64, count=len(rows)),
            open=np.fromiter((c.open for c in rows), dtype=np.float64, count=len(rows)),
            high=np.fromiter((c.high for c in rows), dtype=np.float64, count=len(rows)),
            low=np.fromiter((c.low for c in rows), dtype=np.float64, count=len(rows)),
            close=np.fromiter((c.close for c in rows), dtype=np.float64, count=len(rows)),
            volume=np.fromiter((c.volume for c in rows), dtype=np.float64, count=len(rows)),
        )

    @classmethod
    def concat(cls, parts: Sequence[CandleArrays]) -> CandleArrays:
        """The parts one after the other (they must already be in time order)."""
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return cls.from_candles([])
        return cls(
            time=np.concatenate([p.time for p in parts]),
            open=np.concatenate([p.open for p in parts]),
            high=np.concatenate([p.high for p in parts]),
            low=np.concatenate([p.low for p in parts]),
            close=np.concatenate([p.close for p in parts]),
            volume=np.concatenate([p.volume for p in parts]),
        )

    def to_candles(self) -> list[Candle]:
        return [
            Candle(int(t), float(o), float(h), float(lo), float(c), float(v))
            for t, o, h, lo, c, v in zip(
                self.time, self.open, self.high, self.low, self.close, self.volume, strict=True
            )
        ]

    def slice(self, start: int, stop: int) -> CandleArrays:
        return CandleArrays(
            time=self.time[start:stop],
            open=self.open[start:stop],
            high=self.high[start:stop],
            low=self.low[start:stop],
            close=self.close[start:stop],
            volume=self.volume[start:stop],
        )
