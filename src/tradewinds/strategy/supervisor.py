"""Live evaluation in a child process that is killed and replaced when a strategy hangs.

The in-process hook stops ordinary overruns, but some work runs in C where no hook fires (a large
`table.sort`, pattern matching within the pattern budget). The child reports which strategy it is
running and since when through shared memory; past 1.5x the time limit this process kills it,
marks that strategy as the cause, starts a fresh child and finishes the batch there.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.positions import TargetPosition
from tradewinds.strategy.errors import StrategySyntaxError
from tradewinds.strategy.limits import Limits
from tradewinds.strategy.live import Evaluation, LiveEvaluator, Outcome
from tradewinds.strategy.runtime import ParamValue

log = logging.getLogger(__name__)

_KILL_FACTOR = 1.5
_POLL_S = 0.005
_START_TIMEOUT_S = 60.0


def _worker(conn: Connection, shm_name: str, limits: Limits) -> None:  # pragma: no cover - child
    shm = SharedMemory(name=shm_name)
    evaluator = LiveEvaluator(limits)
    evaluator.progress = np.ndarray((2,), dtype=np.float64, buffer=shm.buf)
    conn.send(("ready",))
    while True:
        try:
            request = conn.recv()
        except EOFError:
            break
        command = request[0]
        try:
            if command == "add":
                _, sid, source, params = request
                evaluator.add_strategy(source, params, sid)
                conn.send(("ok",))
            elif command == "remove":
                evaluator.remove_strategy(request[1])
                conn.send(("ok",))
            elif command == "position":
                evaluator.set_position(request[1], TargetPosition(request[2]))
                conn.send(("ok",))
            elif command == "evaluate":
                _, columns, ids = request
                window = CandleArrays(*columns)
                conn.send(("results", evaluator.evaluate(window, ids)))
            else:
                conn.send(("error", f"unknown command {command!r}"))
        except StrategySyntaxError as exc:
            conn.send(("syntax", exc.message, exc.line))
        except Exception as exc:
            conn.send(("error", repr(exc)))
    shm.close()


class SupervisedEvaluator:
    """The LiveEvaluator API, run in a replaceable child process."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._sources: dict[int, tuple[str, dict[str, ParamValue]]] = {}
        self._positions: dict[int, str] = {}
        self._next_id = 1
        self._context = multiprocessing.get_context("spawn")
        self._shm = SharedMemory(create=True, size=16)
        self._progress = np.ndarray((2,), dtype=np.float64, buffer=self._shm.buf)
        self.restarts = 0
        self._start()

    def _start(self) -> None:
        parent, child = self._context.Pipe()
        self._conn = parent
        self._process = self._context.Process(
            target=_worker, args=(child, self._shm.name, self.limits), daemon=True
        )
        self._process.start()
        child.close()
        if not parent.poll(_START_TIMEOUT_S) or parent.recv() != ("ready",):
            self._process.kill()
            raise RuntimeError("the strategy evaluation process did not start")
        for sid, (source, params) in self._sources.items():
            self._call(("add", sid, source, params))
        for sid, position in self._positions.items():
            self._call(("position", sid, position))

    def _call(self, request: tuple[Any, ...]) -> tuple[Any, ...]:
        self._conn.send(request)
        reply: tuple[Any, ...] = self._conn.recv()
        if reply[0] == "syntax":
            raise StrategySyntaxError(reply[1], reply[2])
        if reply[0] == "error":
            raise RuntimeError(f"strategy evaluation process: {reply[1]}")
        return reply

    def add_strategy(
        self,
        source: str,
        params: Mapping[str, ParamValue] | None = None,
        strategy_id: int | None = None,
    ) -> int:
        sid = strategy_id if strategy_id is not None else self._next_id
        self._next_id = max(self._next_id, sid + 1)
        clean = dict(params or {})
        self._call(("add", sid, source, clean))
        self._sources[sid] = (source, clean)
        return sid

    def remove_strategy(self, strategy_id: int) -> None:
        self._call(("remove", strategy_id))
        self._sources.pop(strategy_id, None)
        self._positions.pop(strategy_id, None)

    def set_position(self, strategy_id: int, position: TargetPosition) -> None:
        self._call(("position", strategy_id, position.value))
        self._positions[strategy_id] = position.value

    def evaluate(self, window: CandleArrays, strategy_ids: Sequence[int]) -> list[Evaluation]:
        columns = (window.time, window.open, window.high, window.low, window.close, window.volume)
        done: dict[int, Evaluation] = {}
        pending = list(strategy_ids)
        while pending:
            self._progress[:] = (-1.0, 0.0)
            self._conn.send(("evaluate", columns, pending))
            stuck = self._wait_for_results(len(pending))
            if stuck is None:
                reply = self._conn.recv()
                if reply[0] != "results":
                    raise RuntimeError(f"strategy evaluation process: {reply[1]}")
                for evaluation in reply[1]:
                    done[evaluation.strategy_id] = evaluation
                break
            culprit = pending[stuck]
            log.warning("strategy %s exceeded the time limit in C code; restarting", culprit)
            done[culprit] = Evaluation(
                culprit,
                Outcome.TIMEOUT,
                None,
                f"time limit of {self.limits.time_text} exceeded "
                "(the evaluation process was stopped and replaced)",
            )
            self._restart()
            pending = [sid for sid in pending if sid not in done]
        return [done[sid] for sid in strategy_ids]

    def _wait_for_results(self, count: int) -> int | None:
        """None when the child answered; else the batch index of the strategy that hung."""
        allowed_ms = self.limits.time_ms * _KILL_FACTOR
        while not self._conn.poll(_POLL_S):
            index, started_ms = int(self._progress[0]), float(self._progress[1])
            if 0 <= index < count and time.monotonic() * 1000.0 - started_ms > allowed_ms:
                if self._conn.poll(0):
                    return None
                return index
            if not self._process.is_alive():
                raise RuntimeError("the strategy evaluation process died")
        return None

    def _restart(self) -> None:
        self._process.kill()
        self._process.join()
        self._conn.close()
        self.restarts += 1
        self._start()

    def close(self) -> None:
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._conn.close()
        self._shm.close()
        self._shm.unlink()

    def __enter__(self) -> SupervisedEvaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
