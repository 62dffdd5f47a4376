"""StrategyBook: the compiled strategies of one worker, and a request evaluated against them.

Strategies are compiled once per (version, parameters, position) and kept (least recently used
first out): a version's source never changes, and `position()` is fixed per compiled entry, so
every assignment sharing a version, its parameters and its position is one evaluation.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.positions import TargetPosition
from tradewinds.domain.trading import (
    EvaluationItem,
    EvaluationOutcome,
    EvaluationReply,
    EvaluationRequest,
    EvaluationResult,
    ParamValue,
)
from tradewinds.eval.window_codec import WindowError, decode_window
from tradewinds.strategy.errors import StrategySyntaxError
from tradewinds.strategy.live import Evaluation

log = logging.getLogger("tradewinds.eval")

_Key = tuple[int, str, str]  # version id, parameters as canonical JSON, position


class Evaluator(Protocol):
    """What the book needs of `SupervisedEvaluator` (tests may pass a `LiveEvaluator`)."""

    def add_strategy(
        self, source: str, params: Mapping[str, ParamValue] | None = None, strategy_id: int | None = None
    ) -> int: ...

    def remove_strategy(self, strategy_id: int) -> None: ...

    def set_position(self, strategy_id: int, position: TargetPosition) -> None: ...

    def evaluate(self, window: CandleArrays, strategy_ids: Sequence[int]) -> list[Evaluation]: ...


def params_key(params: Mapping[str, ParamValue]) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


class StrategyBook:
    """Not thread-safe: one thread evaluates (the worker's evaluation thread)."""

    def __init__(
        self, make_evaluator: Callable[[], Evaluator], capacity: int = 50_000, worker: str = ""
    ) -> None:
        self._make_evaluator = make_evaluator
        self._evaluator = make_evaluator()
        self.capacity = capacity
        self.worker = worker
        self._ids: OrderedDict[_Key, int] = OrderedDict()
        self._refused: OrderedDict[_Key, str] = OrderedDict()  # keys whose source or params fail
        self._next_id = 1
        self.evaluations = 0
        self.restarts = 0

    def __len__(self) -> int:
        return len(self._ids)

    def evaluate(self, request: EvaluationRequest) -> EvaluationReply:
        started = time.perf_counter()
        try:
            window = decode_window(request.window)
        except WindowError as exc:
            results = [_error(item, f"the request's window is unusable: {exc}") for item in request.items]
        else:
            results = self._evaluate_items(window, request.items)
        self.evaluations += len(results)
        elapsed = (time.perf_counter() - started) * 1000.0
        return EvaluationReply(request.request_id, self.worker, results, elapsed)

    def _evaluate_items(
        self, window: CandleArrays, items: Sequence[EvaluationItem]
    ) -> list[EvaluationResult]:
        keyed: list[tuple[EvaluationItem, int | str]] = [(item, self._strategy_for(item)) for item in items]
        ids = list(dict.fromkeys(sid for _, sid in keyed if isinstance(sid, int)))
        by_id = self._run(window, ids) if ids else {}
        results: list[EvaluationResult] = []
        for item, sid in keyed:
            if isinstance(sid, str):
                results.append(_error(item, sid))
            elif isinstance(by_id.get(sid), str):
                results.append(_error(item, str(by_id[sid])))
            else:
                evaluation = by_id[sid]
                assert isinstance(evaluation, Evaluation)
                results.append(_result(item, evaluation))
        return results

    def _run(self, window: CandleArrays, ids: list[int]) -> dict[int, Evaluation | str]:
        try:
            evaluations = self._evaluator.evaluate(window, ids)
        except RuntimeError as exc:
            # The evaluation process died in a way its supervisor does not cure: start afresh
            # once; a batch that kills it again is answered with the error for every strategy.
            log.error("eval: the strategy evaluation process failed (%s); starting a new one", exc)
            self._restart()
            return {sid: f"the strategy evaluation process failed: {exc}" for sid in ids}
        return {e.strategy_id: e for e in evaluations}

    def _restart(self) -> None:
        self.restarts += 1
        close = getattr(self._evaluator, "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # it is broken already; the new one matters
                log.debug("eval: closing the failed evaluator", exc_info=True)
        self._ids.clear()
        self._evaluator = self._make_evaluator()

    def _strategy_for(self, item: EvaluationItem) -> int | str:
        """The strategy id to evaluate `item` with, or the error that makes it unusable."""
        try:
            position = TargetPosition(item.position)
        except ValueError:
            return f"unknown position {item.position!r} (expected 'long' or 'short')"
        key = (item.version_id, params_key(item.params), position.value)
        sid = self._ids.get(key)
        if sid is not None:
            self._ids.move_to_end(key)
            return sid
        refused = self._refused.get(key)
        if refused is not None:
            return refused
        sid = self._next_id
        try:
            self._evaluator.add_strategy(item.source, item.params, sid)
            self._evaluator.set_position(sid, position)
        except StrategySyntaxError as exc:
            return self._refuse(key, exc.message)
        except (ValueError, TypeError) as exc:  # parameters the sandbox refuses
            return self._refuse(key, str(exc))
        except RuntimeError as exc:  # the evaluation process failed: not the strategy's fault
            self._restart()
            return f"the strategy evaluation process failed: {exc}"
        self._next_id += 1
        self._ids[key] = sid
        while len(self._ids) > self.capacity:
            _, old = self._ids.popitem(last=False)
            self._evaluator.remove_strategy(old)
        return sid

    def _refuse(self, key: _Key, message: str) -> str:
        self._refused[key] = message
        while len(self._refused) > self.capacity:
            self._refused.popitem(last=False)
        return message

    def close(self) -> None:
        close = getattr(self._evaluator, "close", None)
        if callable(close):
            close()


def _error(item: EvaluationItem, message: str) -> EvaluationResult:
    return EvaluationResult(item.assignment_id, EvaluationOutcome.ERROR, None, message)


def _result(item: EvaluationItem, evaluation: Evaluation) -> EvaluationResult:
    outcome = EvaluationOutcome(evaluation.outcome.value)
    target = evaluation.target.value if evaluation.target is not None else None
    return EvaluationResult(item.assignment_id, outcome, target, evaluation.message, list(evaluation.logs))
