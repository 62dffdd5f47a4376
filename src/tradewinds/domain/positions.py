"""What a strategy asks for: the position an assignment should hold."""

from __future__ import annotations

import enum


class TargetPosition(enum.Enum):
    """`long` holds the base asset (e.g. BTC); `short` holds the quote currency (e.g. USD).

    Tradewinds trades spot only: `short` means "out of the market in cash", never a borrowed sale.
    """

    LONG = "long"
    SHORT = "short"

    @classmethod
    def parse(cls, text: str) -> TargetPosition:
        try:
            return cls(text)
        except ValueError:
            raise ValueError(f"unknown position {text!r}; expected 'long' or 'short'") from None
