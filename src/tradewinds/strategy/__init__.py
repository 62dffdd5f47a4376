"""The strategy engine: sandboxed Lua strategies, indicators, and their evaluation.

Used by the backtester (`run_over_history`), the live evaluation workers (`LiveEvaluator`, run
inside a `SupervisedEvaluator`) and the web editor's check (`check_strategy`).
"""

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
