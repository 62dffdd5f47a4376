"""Checking a strategy for the editor: compile it in the sandbox, then dry-run it on sample
candles, and report each problem at its line. The same checks as `tradewinds check`."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from importlib import resources

from tradewinds.web.schemas import CheckOut, Problem, TemplateOut

# (id, name, description, the package folder and file holding its source). The paper's example
# is the demo user's strategy of the same text: one file for both.
_TEMPLATES = (
    ("paper_example", "The paper's example", "A simple moving average against an exponential one.",
     "tradewinds.platform", "demo_strategies/sma_ema.lua"),
    ("rsi_reversion", "RSI mean reversion", "Buy when RSI(14) is oversold, sell when overbought.",
     "tradewinds.web", "templates/rsi_reversion.lua"),
    ("macd_trend", "MACD trend", "Hold while the MACD line is above its signal line.",
     "tradewinds.web", "templates/macd_trend.lua"),
    ("bollinger_breakout", "Bollinger breakout", "Buy a close above the upper band, sell below the middle.",
     "tradewinds.web", "templates/bollinger_breakout.lua"),
)  # fmt: skip

# The history runner keeps one warm worker process; checks take turns on it.
_lock = threading.Lock()


def templates() -> list[TemplateOut]:
    return [
        TemplateOut(
            id=tid,
            name=name,
            description=text,
            source=resources.files(package).joinpath(path).read_text("utf-8"),
        )
        for tid, name, text, package, path in _TEMPLATES
    ]


@dataclass
class _Found:
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    params: list[str] = field(default_factory=list)


def _problem(line: int | None, message: str, context: str = "") -> Problem:
    """The line apart from the words: the editor shows "Line 6: ..." itself."""
    if line is not None:
        message = message.removeprefix(f"line {line}: ")
    return Problem(line=line, message=f"{context}{message}")


def _check(source: str) -> _Found:
    from tradewinds.domain.candle_csv import parse_candle_csv
    from tradewinds.strategy import StrategyError, check_strategy, run_over_history
    from tradewinds.strategy.lint import undefined_globals

    found = _Found()
    if not source.strip():
        found.errors.append(Problem(line=None, message="the strategy is empty"))
        return found
    try:
        check_strategy(source)
    except StrategyError as exc:
        found.errors.append(_problem(exc.line, exc.message))
        return found
    found.warnings.extend(_problem(p.line, p.message) for p in undefined_globals(source))
    text = resources.files("tradewinds.strategy").joinpath("sample_candles.csv").read_text("utf-8")
    candles = parse_candle_csv(text, "sample_candles.csv")
    try:
        with _lock:
            run_over_history(source, candles, None, None, "strategy")
    except StrategyError as exc:
        found.errors.append(_problem(exc.line, exc.message, "in a dry run on sample candles: "))
    return found


async def check_source(source: str) -> CheckOut:
    found = await asyncio.to_thread(_check, source)
    return CheckOut(ok=not found.errors, errors=found.errors, warnings=found.warnings, params=found.params)
