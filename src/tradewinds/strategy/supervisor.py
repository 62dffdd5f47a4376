"""Live evaluation in child processes that are killed and replaced when a strategy breaks them.

The in-process hook stops ordinary overruns, but some work runs in C where no hook fires, and the
engine itself can fail (an exception out of the runtime, a crashed process). Each child reports
which strategy it is running and since when through shared memory. Past 1.5x the time limit (plus
20 ms of slack), or when the child dies or reports a failure of the engine, this process charges
the strategy that was running, replaces the child and finishes the batch in the new one.

A strategy that stopped a child is quarantined: it no longer runs in the shared batch but alone,
after the others, in a second child of its own, so it cannot delay anyone's decisions again.
After `disable_after` stops it is not run at all and comes back DISABLED with the reason.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.positions import TargetPosition
from tradewinds.strategy.errors import EvaluatorFailure, StrategySyntaxError
from tradewinds.strategy.limits import Limits
from tradewinds.strategy.live import Evaluation, LiveEvaluator, Outcome
from tradewinds.strategy.runtime import ParamValue

log = logging.getLogger(__name__)

_KILL_FACTOR = 1.5
_KILL_SLACK_MS = 20.0  # scheduling noise on a busy machine must not look like a hang
_POLL_S = 0.005
_START_TIMEOUT_S = 60.0
DISABLE_AFTER_STOPS = 3


def _worker(
    conn: Connection, shm_name: str, limits: Limits, make_evaluator: Callable[[Limits], LiveEvaluator]
) -> None:  # pragma: no cover - child
    # Ctrl-C reaches the whole process group: the parent stops this child; it must not print a
    # KeyboardInterrupt traceback in the person's terminal meanwhile.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    shm = SharedMemory(name=shm_name)
    evaluator = make_evaluator(limits)
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
        except EvaluatorFailure as exc:
            # The runtime may be damaged: report who was running and let the parent replace us.
            conn.send(("failed", exc.index, exc.detail))
            break
        except Exception as exc:
            conn.send(("error", repr(exc)))
    shm.close()


@dataclass
class _Stopped:
    """A batch that did not finish: the strategy at `index` stopped the child (or None)."""

    index: int | None
    reason: str
    done: list[Evaluation] = field(default_factory=list)


class _Child:
    """One evaluation process and the strategies it hosts (re-added when it is replaced)."""

    def __init__(
        self, context: Any, limits: Limits, make_evaluator: Callable[[Limits], LiveEvaluator]
    ) -> None:
        self.limits = limits
        self._make_evaluator = make_evaluator
        self._context = context
        self._shm = SharedMemory(create=True, size=16)
        self._progress = np.ndarray((2,), dtype=np.float64, buffer=self._shm.buf)
        self.sources: dict[int, tuple[str, dict[str, ParamValue]]] = {}
        self.positions: dict[int, str] = {}
        self.restarts = 0
        self._process: Any = None
        self._conn: Connection | None = None
        self._starting: tuple[Any, Connection] | None = None

    def spawn(self) -> None:
        """Start a process in the background; the next request waits until it is ready."""
        if self._conn is not None or self._starting is not None:
            return
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_worker, args=(child, self._shm.name, self.limits, self._make_evaluator), daemon=True
        )
        process.start()
        child.close()
        self._starting = (process, parent)

    def _ensure_started(self) -> Connection:
        if self._conn is not None:
            conn: Connection = self._conn
            return conn
        self.spawn()
        assert self._starting is not None
        process, parent = self._starting
        self._starting = None
        try:
            started = parent.poll(_START_TIMEOUT_S) and parent.recv() == ("ready",)
        except (EOFError, OSError):
            started = False
        if not started:
            process.kill()
            process.join()
            parent.close()
            raise RuntimeError("the strategy evaluation process did not start")
        self._process, self._conn = process, parent
        for sid, (source, params) in self.sources.items():
            self.call(("add", sid, source, params))
        for sid, position in self.positions.items():
            self.call(("position", sid, position))
        return parent

    def call(self, request: tuple[Any, ...]) -> tuple[Any, ...]:
        conn = self._ensure_started()
        conn.send(request)
        reply: tuple[Any, ...] = conn.recv()
        if reply[0] == "syntax":
            raise StrategySyntaxError(reply[1], reply[2])
        if reply[0] != "ok":
            raise RuntimeError(f"strategy evaluation process: {reply[1:]}")
        return reply

    def evaluate(self, columns: tuple[Any, ...], ids: list[int]) -> list[Evaluation] | _Stopped:
        """The batch's results, or which strategy stopped the child (which is then replaced)."""
        conn = self._ensure_started()
        self._progress[:] = (-1.0, 0.0)
        conn.send(("evaluate", columns, ids))
        stuck = self._wait(conn, len(ids))
        if stuck is None:
            try:
                reply = conn.recv()
            except (EOFError, OSError):
                reply = ("died",)
            if reply[0] == "results":
                results: list[Evaluation] = reply[1]
                return results
            if reply[0] == "failed":
                # The detail is for the operators' log; the strategy's owner gets plain words.
                log.error("strategy evaluation failed inside the engine: %s", reply[2])
                stopped = _Stopped(int(reply[1]), "the evaluation failed inside Tradewinds")
            elif reply[0] == "died":
                stopped = _Stopped(self._running(len(ids)), "the evaluation process crashed")
            else:
                raise RuntimeError(f"strategy evaluation process: {reply[1:]}")
        else:
            stopped = stuck
        self.replace()
        return stopped

    def _running(self, count: int) -> int | None:
        index = int(self._progress[0])
        return index if 0 <= index < count else None

    def _wait(self, conn: Connection, count: int) -> _Stopped | None:
        """None when the child answered; else what stopped it."""
        allowed_ms = self.limits.time_ms * _KILL_FACTOR + _KILL_SLACK_MS
        while not conn.poll(_POLL_S):
            index, started_ms = int(self._progress[0]), float(self._progress[1])
            if 0 <= index < count and time.monotonic() * 1000.0 - started_ms > allowed_ms:
                if conn.poll(0):
                    return None
                return _Stopped(
                    index,
                    f"time limit of {self.limits.time_text} exceeded in code that cannot be interrupted",
                )
            if not self._process.is_alive():
                if conn.poll(0):
                    return None
                return _Stopped(self._running(count), "the evaluation process crashed")
        return None

    def replace(self) -> None:
        """Kill the process and start a fresh one in the background; it gets the same
        strategies when the next request needs it."""
        self._stop()
        self.restarts += 1
        self.spawn()

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join()
        if self._conn is not None:
            self._conn.close()
        self._process, self._conn = None, None
        if self._starting is not None:
            process, parent = self._starting
            process.kill()
            process.join()
            parent.close()
            self._starting = None

    def close(self) -> None:
        self._stop()
        self._shm.close()
        self._shm.unlink()


class SupervisedEvaluator:
    """The LiveEvaluator API, run in replaceable child processes.

    `evaluate` never raises because of a strategy: whatever a strategy does, every other strategy
    in the batch gets its evaluation. `stops[sid]` lists why a strategy stopped a child.
    """

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        disable_after: int = DISABLE_AFTER_STOPS,
        make_evaluator: Callable[[Limits], LiveEvaluator] = LiveEvaluator,
    ) -> None:
        """`make_evaluator` builds each child's evaluator (a module-level callable: it is
        pickled into the child)."""
        self.limits = limits or Limits()
        self.disable_after = disable_after
        self._next_id = 1
        context = multiprocessing.get_context("spawn")
        self._shared = _Child(context, self.limits, make_evaluator)
        self._alone = _Child(
            context, self.limits, make_evaluator
        )  # quarantined strategies, started when needed
        self.stops: dict[int, list[str]] = {}
        self._shared._ensure_started()

    @property
    def restarts(self) -> int:
        """How many times a child process was replaced."""
        return self._shared.restarts + self._alone.restarts

    def add_strategy(
        self,
        source: str,
        params: Mapping[str, ParamValue] | None = None,
        strategy_id: int | None = None,
    ) -> int:
        sid = strategy_id if strategy_id is not None else self._next_id
        self._next_id = max(self._next_id, sid + 1)
        clean = dict(params or {})
        self._shared.call(("add", sid, source, clean))
        self._shared.sources[sid] = (source, clean)
        self.stops.pop(sid, None)  # a new source starts with a clean record
        return sid

    def remove_strategy(self, strategy_id: int) -> None:
        for child in (self._shared, self._alone):
            if strategy_id in child.sources:
                child.call(("remove", strategy_id))
                child.sources.pop(strategy_id, None)
                child.positions.pop(strategy_id, None)
        self.stops.pop(strategy_id, None)

    def set_position(self, strategy_id: int, position: TargetPosition) -> None:
        child = self._alone if strategy_id in self._alone.sources else self._shared
        child.call(("position", strategy_id, position.value))
        child.positions[strategy_id] = position.value

    def quarantined(self, strategy_id: int) -> bool:
        return bool(self.stops.get(strategy_id))

    def disabled(self, strategy_id: int) -> bool:
        return len(self.stops.get(strategy_id, ())) >= self.disable_after

    def evaluate(self, window: CandleArrays, strategy_ids: Sequence[int]) -> list[Evaluation]:
        """Decide at the last candle of `window` for each strategy, in order."""
        done: dict[int, Evaluation] = {}
        for part in self.evaluate_stream(window, strategy_ids):
            for evaluation in part:
                done[evaluation.strategy_id] = evaluation
        return [done[sid] for sid in strategy_ids]

    def evaluate_stream(
        self, window: CandleArrays, strategy_ids: Sequence[int]
    ) -> Iterator[list[Evaluation]]:
        """The same evaluations as they become ready: first the shared batch, then each
        quarantined strategy, evaluated alone, so a caller can act on the others' decisions
        before a quarantined strategy runs."""
        for sid in strategy_ids:
            if sid not in self._shared.sources and sid not in self._alone.sources:
                raise KeyError(f"no strategy with id {sid}")
        columns = (window.time, window.open, window.high, window.low, window.close, window.volume)
        disabled = [sid for sid in strategy_ids if self.disabled(sid)]
        if disabled:
            yield [self._disabled(sid) for sid in disabled]
        # Decided before the batch runs: a strategy that stops the shared child now has its
        # evaluation for this window already, and runs alone from the next window on.
        alone = [sid for sid in strategy_ids if self.quarantined(sid) and not self.disabled(sid)]
        shared = [sid for sid in strategy_ids if not self.quarantined(sid)]
        if shared:
            yield self._run(self._shared, columns, shared)
        for sid in alone:
            if not self.disabled(sid):
                self._isolate(sid)
                yield [replace(e, quarantined=True) for e in self._run(self._alone, columns, [sid])]

    def _run(self, child: _Child, columns: tuple[Any, ...], ids: list[int]) -> list[Evaluation]:
        done: dict[int, Evaluation] = {}
        pending = list(ids)
        unexplained = 0
        while pending:
            outcome = child.evaluate(columns, pending)
            if not isinstance(outcome, _Stopped):
                done.update((e.strategy_id, e) for e in outcome)
                break
            if outcome.index is None:
                # Stopped outside any strategy's evaluation: retry the batch once in a new child.
                unexplained += 1
                if unexplained > 1:
                    raise RuntimeError(f"strategy evaluation process: {outcome.reason}")
                continue
            culprit = pending[outcome.index]
            log.warning(
                "strategy %s stopped its evaluation process (%s); replaced it", culprit, outcome.reason
            )
            self.stops.setdefault(culprit, []).append(outcome.reason)
            kind = Outcome.TIMEOUT if outcome.reason.startswith("time limit") else Outcome.ERROR
            done[culprit] = Evaluation(
                culprit, kind, None, f"{outcome.reason}; the evaluation process was stopped and replaced"
            )
            # Strategies before the culprit finished in the killed child, but their results
            # died with it: evaluate them again with the rest (evaluations have no state).
            pending = [sid for sid in pending if sid not in done]
        return [done[sid] for sid in ids]

    def _isolate(self, sid: int) -> None:
        """Move a quarantined strategy from the shared child to the one that runs alone."""
        if sid in self._alone.sources:
            return
        source, params = self._shared.sources.pop(sid)
        position = self._shared.positions.pop(sid, None)
        self._shared.call(("remove", sid))
        self._alone.sources[sid] = (source, params)
        if position is not None:
            self._alone.positions[sid] = position
        if self._alone._conn is not None:
            self._alone.call(("add", sid, source, params))
            if position is not None:
                self._alone.call(("position", sid, position))

    def _disabled(self, sid: int) -> Evaluation:
        reasons = self.stops[sid]
        message = (
            f"disabled: this strategy stopped the evaluation process {len(reasons)} times; "
            f"last: {reasons[-1]}"
        )
        return Evaluation(sid, Outcome.DISABLED, None, message, quarantined=True)

    def close(self) -> None:
        self._shared.close()
        self._alone.close()

    def __enter__(self) -> SupervisedEvaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
