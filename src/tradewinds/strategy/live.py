"""Evaluate many strategies on the latest candle window, as a live evaluation worker does.

All strategies of one market share the window's indicator cache: `ta.sma(10)` is computed once
per window however many strategies ask for it. The JIT is off here so the time-limit hook fires
in every loop; C functions the hook cannot interrupt are bounded by `SupervisedEvaluator`.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.positions import TargetPosition
from tradewinds.strategy import indicators
from tradewinds.strategy.errors import EvaluatorFailure, explain, plain_message, result_message
from tradewinds.strategy.limits import Limits
from tradewinds.strategy.runtime import COLLECT_AFTER_BYTES, Dataset, ParamValue, StrategyRuntime, known_names


class Outcome(enum.Enum):
    DECIDED = "decided"  # returned "long" or "short"
    KEPT = "kept"  # returned nil: keep the current position
    WARMING_UP = "warming_up"  # an indicator has too little history yet; keep the position
    ERROR = "error"  # the strategy failed; keep the position
    TIMEOUT = "timeout"
    MEMORY = "memory"
    # Not run: it stopped the evaluation process too often (see SupervisedEvaluator). The
    # decision layer should disable the assignment; `message` gives the reason.
    DISABLED = "disabled"


@dataclass(frozen=True)
class Evaluation:
    strategy_id: int
    outcome: Outcome
    target: TargetPosition | None  # set only when DECIDED
    message: str | None = None  # the warm-up note or the error, in plain words
    logs: list[str] = field(default_factory=list)
    # It stopped an evaluation process before, so it is evaluated alone, after the others.
    quarantined: bool = False

    @property
    def failed(self) -> bool:
        return self.outcome in (Outcome.ERROR, Outcome.TIMEOUT, Outcome.MEMORY, Outcome.DISABLED)


class LiveEvaluator:
    """Holds compiled strategies and evaluates them on candle windows (one thread only).

    Each evaluation has its own memory budget: the limit is set to what is live plus
    `limits.memory_mb` just before the strategy runs and lifted as soon as it returns, and an
    evaluation that left garbage is followed by a full collection. So a strategy's verdict on a
    window does not depend on which strategies ran before it.
    """

    def __init__(self, limits: Limits | None = None) -> None:
        indicators.preload()  # before any deadline counts
        self.limits = limits or Limits()
        self.runtime = StrategyRuntime(self.limits, jit=False)
        self._chunks: dict[int, Any] = {}
        self._params: dict[int, Any] = {}
        self._positions: dict[int, str] = {}
        self._next_id = 1
        self._lines: list[str] = []
        self._known_names = known_names()
        self.progress: npt.NDArray[np.float64] = np.zeros(2, dtype=np.float64)

    def add_strategy(
        self,
        source: str,
        params: Mapping[str, ParamValue] | None = None,
        strategy_id: int | None = None,
    ) -> int:
        """Compile `source` (raises StrategySyntaxError) and return its id."""
        chunk = self.runtime.compile(source)
        table = self.runtime.params_table(params)
        sid = strategy_id if strategy_id is not None else self._next_id
        self._next_id = max(self._next_id, sid + 1)
        self._chunks[sid] = chunk
        self._params[sid] = table
        return sid

    def remove_strategy(self, strategy_id: int) -> None:
        self._chunks.pop(strategy_id, None)
        self._params.pop(strategy_id, None)
        self._positions.pop(strategy_id, None)

    def set_position(self, strategy_id: int, position: TargetPosition) -> None:
        """What `position()` returns to the strategy: the position its assignment holds now."""
        self._positions[strategy_id] = position.value

    def evaluate(self, window: CandleArrays, strategy_ids: Sequence[int]) -> list[Evaluation]:
        """Decide at the last candle of `window` for each strategy, in order.

        Raises EvaluatorFailure if the engine itself fails (not the strategy's own error)."""
        if len(window) == 0:
            raise ValueError("cannot evaluate strategies on an empty candle window")
        for sid in strategy_ids:
            if sid not in self._chunks:
                raise KeyError(f"no strategy with id {sid}")
        self.runtime.use(Dataset(window))
        live = self.runtime.api.live
        live.start(len(window), self._lines.append)
        run = live.evaluate_one
        results = [self._evaluate_one(run, index, sid) for index, sid in enumerate(strategy_ids)]
        self.progress[0] = len(strategy_ids)
        return results

    def _evaluate_one(self, run: Any, index: int, sid: int) -> Evaluation:
        lua, limits, progress = self.runtime.lua, self.limits, self.progress
        self._lines.clear()
        # The start time first: the supervisor reads the index, then the time.
        progress[1] = time.monotonic() * 1000.0
        progress[0] = index
        before = lua.get_memory_used(True)
        lua.set_max_memory(before + limits.memory_bytes, True)
        try:
            reply = run(
                self._chunks[sid], self._params[sid], self._positions.get(sid, "short"), limits.time_ms
            )
        except Exception as exc:
            raise EvaluatorFailure(sid, index, f"{type(exc).__name__}: {exc}") from exc
        finally:
            lua.set_max_memory(0)
            if lua.get_memory_used(True) - before > COLLECT_AFTER_BYTES:
                self.runtime.api.collect()
        return self._evaluation(sid, reply, list(self._lines))

    def _evaluation(self, sid: int, reply: Any, lines: list[str]) -> Evaluation:
        if isinstance(reply, str):
            reply = (reply,)
        if not isinstance(reply, tuple):
            if reply == 0:
                return Evaluation(sid, Outcome.KEPT, None, None, lines)
            target = TargetPosition.LONG if reply > 0 else TargetPosition.SHORT
            return Evaluation(sid, Outcome.DECIDED, target, None, lines)
        kind = reply[0]
        if kind == "warmup":
            return Evaluation(sid, Outcome.WARMING_UP, None, str(reply[1]), lines)
        if kind == "timeout":
            line = reply[1] if len(reply) > 1 else None
            where = f"line {int(line)}: " if line is not None else ""
            text = f"{where}time limit of {self.limits.time_text} exceeded"
            return Evaluation(sid, Outcome.TIMEOUT, None, text, lines)
        if kind == "result":
            value = reply[2] if len(reply) > 2 else None
            return Evaluation(sid, Outcome.ERROR, None, result_message(str(reply[1]), value), lines)
        if kind == "error":
            message = explain(plain_message(str(reply[1]))[0], self._known_names)
            return Evaluation(sid, Outcome.ERROR, None, message, lines)
        text = f"memory limit of {self.limits.memory_text} exceeded"
        return Evaluation(sid, Outcome.MEMORY, None, text, lines)
