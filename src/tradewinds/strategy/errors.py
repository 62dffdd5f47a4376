"""Errors a strategy's owner sees: plain words naming the line, never a Python traceback."""

from __future__ import annotations

import re

_LOCATION = re.compile(r'^(?:strategy|\[string "[^"]*"\]):(\d+): ')


class StrategyError(Exception):
    """A strategy that cannot run: bad syntax, a runtime error, a broken limit, a bad result."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class StrategySyntaxError(StrategyError):
    """The strategy does not compile."""


class StrategyLimitExceeded(StrategyError):
    """The strategy broke a sandbox limit (time or memory); `limit` is "time" or "memory"."""

    def __init__(self, message: str, limit: str, line: int | None = None) -> None:
        super().__init__(message, line)
        self.limit = limit


class StrategyRuntimeError(StrategyError):
    """A strategy failed while deciding at one candle of a history run."""

    def __init__(self, message: str, candle_index: int, candle_time_ms: int, line: int | None = None) -> None:
        super().__init__(message, line)
        self.candle_index = candle_index
        self.candle_time_ms = candle_time_ms


def plain_message(lua_message: str) -> tuple[str, int | None]:
    """Turn `strategy:5: attempt to ...` into (`line 5: attempt to ...`, 5)."""
    match = _LOCATION.match(lua_message)
    if match is None:
        return lua_message, None
    line = int(match.group(1))
    return f"line {line}: {lua_message[match.end() :]}", line
