"""Evaluate many strategies on the latest candle window, as a live evaluation worker does.

All strategies of one market share the window's indicator cache: `ta.sma(10)` is computed once
per window however many strategies ask for it. The JIT is off here so the time-limit hook fires
in every loop; C functions the hook cannot interrupt are bounded by `SupervisedEvaluator`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.positions import TargetPosition
from tradewinds.strategy import indicators
from tradewinds.strategy.errors import plain_message
from tradewinds.strategy.limits import Limits
from tradewinds.strategy.runtime import Dataset, ParamValue, StrategyRuntime


class Outcome(enum.Enum):
    DECIDED = "decided"  # returned "long" or "short"
    KEPT = "kept"  # returned nil: keep the current position
    WARMING_UP = "warming_up"  # an indicator has too little history yet; keep the position
    ERROR = "error"  # the strategy failed; keep the position
    TIMEOUT = "timeout"
    MEMORY = "memory"


@dataclass(frozen=True)
class Evaluation:
    strategy_id: int
    outcome: Outcome
    target: TargetPosition | None  # set only when DECIDED
    message: str | None = None  # the warm-up note or the error, in plain words
    logs: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.outcome in (Outcome.ERROR, Outcome.TIMEOUT, Outcome.MEMORY)


_KINDS = {
    "warmup": Outcome.WARMING_UP,
    "error": Outcome.ERROR,
    "timeout": Outcome.TIMEOUT,
    "memory": Outcome.MEMORY,
}


class LiveEvaluator:
    """Holds compiled strategies and evaluates them on candle windows (one thread only)."""

    def __init__(self, limits: Limits | None = None) -> None:
        indicators.preload()  # before any deadline counts
        self.limits = limits or Limits()
        self.runtime = StrategyRuntime(self.limits, jit=False)
        lua = self.runtime.lua
        self._chunks = lua.table()
        self._params = lua.table()
        self._positions = lua.table()
        self._next_id = 1
        self.progress: npt.NDArray[np.float64] = np.zeros(2, dtype=np.float64)

    def add_strategy(
        self,
        source: str,
        params: Mapping[str, ParamValue] | None = None,
        strategy_id: int | None = None,
    ) -> int:
        """Compile `source` (raises StrategySyntaxError) and return its id."""
        chunk = self.runtime.compile(source)
        sid = strategy_id if strategy_id is not None else self._next_id
        self._next_id = max(self._next_id, sid + 1)
        self._chunks[sid] = chunk
        self._params[sid] = self.runtime.params_table(params)
        self.runtime.reset_memory_limit()
        return sid

    def remove_strategy(self, strategy_id: int) -> None:
        self._chunks[strategy_id] = None
        self._params[strategy_id] = None
        self._positions[strategy_id] = None

    def set_position(self, strategy_id: int, position: TargetPosition) -> None:
        """What `position()` returns to the strategy: the position its assignment holds now."""
        self._positions[strategy_id] = position.value

    def evaluate(self, window: CandleArrays, strategy_ids: Sequence[int]) -> list[Evaluation]:
        """Decide at the last candle of `window` for each strategy, in order."""
        if len(window) == 0:
            raise ValueError("cannot evaluate strategies on an empty candle window")
        for sid in strategy_ids:
            if self._chunks[sid] is None:
                raise KeyError(f"no strategy with id {sid}")
        self.runtime.use(Dataset(window))
        self.runtime.api.live.start(len(window))
        out = np.zeros(len(strategy_ids), dtype=np.int8)
        problems, logs = self.runtime.api.live.evaluate(
            self._chunks,
            self._params,
            self._positions,
            self.runtime.lua.table_from(list(strategy_ids)),
            len(strategy_ids),
            out.ctypes.data,
            self.progress.ctypes.data,
            self.limits.time_ms,
        )
        return self._collect(strategy_ids, out, problems, logs)

    def _collect(
        self, strategy_ids: Sequence[int], out: npt.NDArray[np.int8], problems: object, logs: object
    ) -> list[Evaluation]:
        failed = {int(k): (str(v[1]), str(v[2])) for k, v in problems.items()}  # type: ignore[attr-defined]
        logged = {int(k): [str(line) for line in v.values()] for k, v in logs.items()}  # type: ignore[attr-defined]
        results: list[Evaluation] = []
        for position, (sid, decision) in enumerate(zip(strategy_ids, out.tolist(), strict=True)):
            k = position + 1
            lines = logged.get(k, [])
            if k in failed:
                kind, text = failed[k]
                message = text if kind == "warmup" else plain_message(text)[0]
                results.append(Evaluation(sid, _KINDS[kind], None, message, lines))
            elif decision == 0:
                results.append(Evaluation(sid, Outcome.KEPT, None, None, lines))
            else:
                target = TargetPosition.LONG if decision > 0 else TargetPosition.SHORT
                results.append(Evaluation(sid, Outcome.DECIDED, target, None, lines))
        return results
