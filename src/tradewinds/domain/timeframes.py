"""Candle timeframes, aligned to UTC epoch boundaries."""

from __future__ import annotations

import enum

MINUTE_MS = 60_000


class Timeframe(enum.Enum):
    """A candle period. The value is its conventional label (`1m`, `1h`, `1d`)."""

    M1 = "1m"
    M3 = "3m"
    M5 = "5m"
    M15 = "15m"
    M30 = "30m"
    H1 = "1h"
    H2 = "2h"
    H4 = "4h"
    H6 = "6h"
    H12 = "12h"
    D1 = "1d"

    @property
    def label(self) -> str:
        return self.value

    @property
    def ms(self) -> int:
        """Length of one candle in milliseconds."""
        return _LENGTH_MS[self]

    def bucket_start(self, time_ms: int) -> int:
        """Open time of the candle of this timeframe that contains `time_ms`.

        Every timeframe here divides a day, so epoch alignment is UTC alignment.
        """
        return time_ms - time_ms % self.ms

    def finer_divisors(self) -> tuple[Timeframe, ...]:
        """The shorter timeframes whose candles roll up into this one, finest first."""
        shorter = (tf for tf in Timeframe if tf.ms < self.ms and self.ms % tf.ms == 0)
        return tuple(sorted(shorter, key=lambda tf: tf.ms))

    @classmethod
    def parse(cls, text: str) -> Timeframe:
        """Parse a label such as `1h`, case-insensitively for `D`; raise ValueError naming the choices."""
        label = text.strip()
        if label.endswith(("D", "d")) and label[:-1].isdigit():
            label = label[:-1] + "d"
        for tf in cls:
            if tf.value == label:
                return tf
        choices = ", ".join(tf.value for tf in cls)
        raise ValueError(f"unknown timeframe {text!r}; choose one of {choices}")


_LENGTH_MS: dict[Timeframe, int] = {
    Timeframe.M1: MINUTE_MS,
    Timeframe.M3: 3 * MINUTE_MS,
    Timeframe.M5: 5 * MINUTE_MS,
    Timeframe.M15: 15 * MINUTE_MS,
    Timeframe.M30: 30 * MINUTE_MS,
    Timeframe.H1: 60 * MINUTE_MS,
    Timeframe.H2: 120 * MINUTE_MS,
    Timeframe.H4: 240 * MINUTE_MS,
    Timeframe.H6: 360 * MINUTE_MS,
    Timeframe.H12: 720 * MINUTE_MS,
    Timeframe.D1: 1440 * MINUTE_MS,
}

# The rollups the core maintains from the 1-minute stream.
ROLLUP_TIMEFRAMES: tuple[Timeframe, ...] = (
    Timeframe.M5,
    Timeframe.M15,
    Timeframe.M30,
    Timeframe.H1,
    Timeframe.H4,
    Timeframe.D1,
)
