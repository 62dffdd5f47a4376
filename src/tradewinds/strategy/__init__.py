"""The strategy engine: sandboxed Lua strategies, indicators, and their evaluation.

Used by the backtester (`run_over_history`), the live evaluation workers (`LiveEvaluator`, run
inside a `SupervisedEvaluator`) and the web editor's check (`check_strategy`).

The names below are imported on first use (PEP 562), so importing a light submodule such as
`tradewinds.strategy.limits` (the command line's option defaults) does not load LuaJIT and numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tradewinds.strategy.errors import (
        StrategyError,
        StrategyLimitExceeded,
        StrategyRuntimeError,
        StrategySyntaxError,
    )
    from tradewinds.strategy.history import HistoryRun, LogLine, check_strategy, run_over_history
    from tradewinds.strategy.limits import Limits
    from tradewinds.strategy.live import Evaluation, LiveEvaluator, Outcome
    from tradewinds.strategy.supervisor import SupervisedEvaluator

_HOMES = {
    "Evaluation": "live",
    "HistoryRun": "history",
    "Limits": "limits",
    "LiveEvaluator": "live",
    "LogLine": "history",
    "Outcome": "live",
    "StrategyError": "errors",
    "StrategyLimitExceeded": "errors",
    "StrategyRuntimeError": "errors",
    "StrategySyntaxError": "errors",
    "SupervisedEvaluator": "supervisor",
    "check_strategy": "history",
    "run_over_history": "history",
}

__all__ = [
    "Evaluation",
    "HistoryRun",
    "Limits",
    "LiveEvaluator",
    "LogLine",
    "Outcome",
    "StrategyError",
    "StrategyLimitExceeded",
    "StrategyRuntimeError",
    "StrategySyntaxError",
    "SupervisedEvaluator",
    "check_strategy",
    "run_over_history",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later lookups skip this function
    return value
