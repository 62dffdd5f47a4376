"""Errors a strategy's owner sees: plain words naming the line, never a Python traceback."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

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


class EvaluatorFailure(Exception):
    """The evaluator itself failed while strategy `strategy_id` (batch position `index`) ran: not
    the strategy's own error. The runtime may be damaged; a supervisor replaces its process."""

    def __init__(self, strategy_id: int, index: int, detail: str) -> None:
        super().__init__(f"evaluating strategy {strategy_id} failed inside Tradewinds: {detail}")
        self.strategy_id = strategy_id
        self.index = index
        self.detail = detail


def result_message(kind: str, value: object) -> str:
    """What the strategy returned instead of a decision, shown to its owner."""
    if kind == "string":
        shown = '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
    elif kind == "number" and isinstance(value, (int, float)):
        shown = f"the number {value:.14g}"
    elif kind == "boolean":
        shown = "true" if value else "false"
    else:
        shown = f"a {kind}"
    return f'the strategy returned {shown}; return "long", "short" or nil'


_CALL_OF_NIL = re.compile(r"attempt to call global '([A-Za-z_][A-Za-z0-9_]*)' \(a nil value\)$")


def explain(message: str, known: Sequence[str]) -> str:
    """Add what was probably meant to a call of an undefined global (`ema(10)` for `ta.ema`)."""
    match = _CALL_OF_NIL.search(message)
    if match is None:
        return message
    name = match.group(1)
    guess = did_you_mean(name, known)
    hint = f"; did you mean {guess}?" if guess else ""
    return f"{message[: match.start()]}there is no function {name}{hint}"


def did_you_mean(name: str, known: Sequence[str]) -> str | None:
    """The known name closest to `name`, also matching `ema` to `ta.ema`."""
    short = {k.rsplit(".", 1)[-1]: k for k in known}
    if name in short and short[name] != name:
        return short[name]
    matches = difflib.get_close_matches(name, list(known) + list(short), n=1, cutoff=0.75)
    return short.get(matches[0], matches[0]) if matches else None


def plain_message(lua_message: str) -> tuple[str, int | None]:
    """Turn `strategy:5: attempt to ...` into (`line 5: attempt to ...`, 5)."""
    match = _LOCATION.match(lua_message)
    if match is None:
        return lua_message, None
    line = int(match.group(1))
    return f"line {line}: {lua_message[match.end() :]}", line
