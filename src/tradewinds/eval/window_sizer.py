"""WindowSizer: how many candles each strategy's evaluation window needs, from a dry run.

The strategy runs over the engine's sample candles in a child process (it is user code: a hang in
C must not stall the caller; past the time allowed the child is killed and replaced). A recording
dataset notes every indicator the strategy asks for, with its parameters and source, and
window_rules.py turns those calls into a candle count. Parameters feed periods (`ta.ema(param(
"slow", 26))`), so a size belongs to a version and its parameters; the result is cached.
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import signal
import threading
import time
from collections.abc import Mapping
from importlib import resources
from multiprocessing.connection import Connection
from typing import Any

from tradewinds.domain.trading import ParamValue
from tradewinds.eval.window_rules import MAX_WINDOW, IndicatorCall, candles_needed, window_size

log = logging.getLogger("tradewinds.eval")

_START_TIMEOUT_S = 60.0


def _sample_candles() -> Any:
    from tradewinds.domain.candle_csv import read_candle_csv

    text = resources.files("tradewinds.strategy").joinpath("sample_candles.csv").read_text("utf-8")
    return read_candle_csv(io.StringIO(text), "sample_candles.csv")


def dry_run_needs(
    source: str,
    params: Mapping[str, ParamValue],
    candles: Any,
    time_ms: float = 50.0,
    points: int = 24,
    budget_s: float = 1.0,
) -> list[int]:
    """The candles each indicator series the strategy created needs.

    The strategy is evaluated as a live worker would, on growing prefixes of `candles` (`points`
    of them, in both positions), so indicators asked for only in some branch are seen too.
    """
    from tradewinds.domain.positions import TargetPosition
    from tradewinds.strategy.indicators import INDICATORS, validate_params
    from tradewinds.strategy.limits import Limits
    from tradewinds.strategy.live import LiveEvaluator
    from tradewinds.strategy.runtime import Dataset

    needs: list[int] = []

    def recording(dataset: Dataset) -> None:
        by_series: dict[int, int] = {}
        create = dataset.create_indicator

        def create_indicator(name: str, source_id: int, *raw: Any) -> tuple[Any, ...]:
            result = create(name, source_id, *raw)
            if result and result[0] is not None:
                given = list(raw)
                while given and given[-1] is None:
                    given.pop()
                spec = INDICATORS[name]
                on_source = spec.inputs == ("source",)
                call = IndicatorCall(
                    name, validate_params(spec, given), by_series.get(int(source_id), 1) if on_source else 1
                )
                need = candles_needed(call)
                needs.append(need)
                for series_id in result[0::4]:
                    by_series[int(series_id)] = need
            return result

        dataset.create_indicator = create_indicator  # type: ignore[method-assign]

    evaluator = LiveEvaluator(Limits(time_ms=time_ms))
    use = evaluator.runtime.use

    def use_recording(dataset: Dataset) -> None:
        recording(dataset)
        use(dataset)

    evaluator.runtime.use = use_recording  # type: ignore[method-assign]
    try:
        ids = [evaluator.add_strategy(source, params) for _ in TargetPosition]
    except Exception:  # it does not compile: the worker reports that; any window will do
        return []
    for sid, position in zip(ids, TargetPosition, strict=True):
        evaluator.set_position(sid, position)
    n = len(candles)
    stops = sorted({max(1, n * k // points) for k in range(1, points + 1)})
    deadline = time.monotonic() + budget_s
    # The whole sample first, then spread over it: a slow strategy stops early, seen at its widest.
    for stop in [stops[-1], *_spread(stops[:-1])]:
        try:
            evaluator.evaluate(candles.slice(0, stop), ids)
        except Exception:  # a failing strategy still told us what it asked for before failing
            log.debug("window dry run failed", exc_info=True)
        if time.monotonic() > deadline:
            break
    return sorted(set(needs))


def _spread(items: list[int]) -> list[int]:
    """`items` reordered so that every prefix samples the whole range (1/2, 1/4, 3/4, ...)."""
    order: list[int] = []
    seen: set[int] = set()
    step = len(items)
    while step >= 1:
        for index in range(step // 2, len(items), max(step, 1)):
            if index not in seen:
                seen.add(index)
                order.append(items[index])
        step //= 2
    order.extend(items[i] for i in range(len(items)) if i not in seen)
    return order


def _serve(conn: Connection) -> None:  # pragma: no cover - the child
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's, which stops this child
    candles = _sample_candles()
    conn.send(("ready",))
    while True:
        try:
            source, params = conn.recv()
        except EOFError:
            return
        conn.send(("needs", dry_run_needs(source, params, candles)))


class WindowSizer:
    """Thread-safe; `size()` blocks for the dry run (call it off the event loop)."""

    def __init__(self, timeout_s: float = 10.0, maximum: int = MAX_WINDOW) -> None:
        self.timeout_s = timeout_s
        self.maximum = maximum
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._cache: dict[tuple[int, str], int] = {}
        self._process: Any = None
        self._conn: Connection | None = None
        self.dry_runs = 0
        self.kills = 0

    def cached(self, version_id: int, params_key: str) -> int | None:
        return self._cache.get((version_id, params_key))

    def size(self, version_id: int, params_key: str, source: str, params: Mapping[str, ParamValue]) -> int:
        key = (version_id, params_key)
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                return found
            needs = self._dry_run(source, dict(params))
            size = self.maximum if needs is None else window_size(needs, maximum=self.maximum)
            self._cache[key] = size
            return size

    def _dry_run(self, source: str, params: dict[str, ParamValue]) -> list[int] | None:
        """The recorded needs, or None when the child hung or died (the caller takes the maximum)."""
        conn = self._ensure_child()
        self.dry_runs += 1
        try:
            conn.send((source, params))
            if conn.poll(self.timeout_s):
                reply = conn.recv()
                return list(reply[1])
        except (EOFError, OSError) as exc:
            log.warning("window sizer: the dry-run process failed (%s); using %d candles", exc, self.maximum)
        else:
            log.warning(
                "window sizer: a strategy's dry run took over %.0f s; using %d candles",
                self.timeout_s,
                self.maximum,
            )
        self.kills += 1
        self._kill()
        return None

    def _ensure_child(self) -> Connection:
        if self._conn is not None and self._process is not None and self._process.is_alive():
            return self._conn
        self._kill()
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(child,), daemon=True, name="tradewinds-window-sizer"
        )
        process.start()
        child.close()
        if not parent.poll(_START_TIMEOUT_S) or parent.recv() != ("ready",):
            process.kill()
            raise RuntimeError("the window sizing process did not start")
        self._process, self._conn = process, parent
        return parent

    def _kill(self) -> None:
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join()
        if self._conn is not None:
            self._conn.close()
        self._process, self._conn = None, None

    def close(self) -> None:
        with self._lock:
            self._kill()
