"""Run a strategy at every candle of a history: the decision series a backtest trades on.

The strategy runs JIT-compiled for speed, where Lua's instruction hook cannot fire. So the run
happens in a forked worker process that reports its progress (the candle index) through shared
memory, and this process kills it when one candle's decision takes longer than the time limit.
"""

from __future__ import annotations

import atexit
import contextlib
import mmap
import os
import pickle
import select
import signal
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.strategy.errors import (
    StrategyError,
    StrategyLimitExceeded,
    StrategyRuntimeError,
    explain,
    plain_message,
    result_message,
)
from tradewinds.strategy.indicator_cache import IndicatorCache
from tradewinds.strategy.limits import Limits
from tradewinds.strategy.runtime import Dataset, ParamValue, StrategyRuntime, known_names

# The control block: int64 candle index being decided, int64 "computing an indicator" flag.
_HEADER = 16
_POLL_S = 0.005
# A candle may take this multiple of the time limit before the child is killed (the issue allows
# twice the limit; the rest is polling and scheduling slack).
_KILL_FACTOR = 1.5
_PROGRESS_S = 0.1  # how often a run's progress is reported to whoever asked for it

Progress = Callable[[float], None]  # told the fraction of the candles decided so far


@dataclass(frozen=True)
class LogLine:
    candle_time_ms: int
    text: str


@dataclass(frozen=True)
class HistoryRun:
    """The strategy's decision at each candle: 1 long, -1 short, 0 keep (nil or warming up)."""

    decisions: npt.NDArray[np.int8]
    warmup_candles: int
    warmup_message: str | None
    logs: list[LogLine] = field(default_factory=list)
    logs_dropped: bool = False  # the strategy logged more than `Limits.log_lines` lines
    params_read: frozenset[str] = frozenset()  # every name the strategy passed to param()


def check_strategy(source: str, name: str = "strategy") -> None:
    """Raise StrategySyntaxError if `source` does not compile in the sandbox."""
    StrategyRuntime(jit=False).compile(source)


def run_over_history(
    source: str,
    candles: CandleArrays,
    params: Mapping[str, ParamValue] | None = None,
    limits: Limits | None = None,
    name: str = "strategy",
    reuse_indicators: bool = False,
    on_progress: Progress | None = None,
) -> HistoryRun:
    """Decide at every candle of `candles`, as the live platform would at each close.

    With `reuse_indicators`, consecutive runs over the same `candles` object (unchanged since)
    share the indicator series they compute: a sweep's combinations. `on_progress` is told the
    fraction of candles decided, about ten times a second (a backtest's progress bar)."""
    limits = limits or Limits()
    check_strategy(source, name)
    n = len(candles)
    if n == 0:
        return HistoryRun(np.zeros(0, dtype=np.int8), 0, None, [])
    with _worker_lock:
        global _worker
        if _worker is None or not _worker.alive():
            _worker = _HistoryWorker()
        # One log line beyond the limit is kept, to tell that lines were dropped.
        spare = replace(limits, log_lines=limits.log_lines + 1)
        try:
            payload, decisions = _worker.run(
                source, candles, dict(params or {}), spare, reuse_indicators, on_progress
            )
        except BaseException:
            # Interrupted (Ctrl-C) with a job in flight: its payload would answer the next run.
            _worker.close()
            _worker = None
            raise
        if payload.get("killed"):
            _worker = None
        if payload.get("killed") and payload["kind"] == "timeout":
            # The JIT-compiled run cannot say where it was stuck: replay that candle with the
            # time-limit hook on, in a fresh worker, to name the strategy's line.
            _worker = _HistoryWorker()
            index = int(payload["index"])
            held = decisions[:index][decisions[:index] != 0]
            position = "long" if len(held) and held[-1] > 0 else "short"
            payload["line"] = _worker.locate(source, candles, dict(params or {}), limits, index, position)
            if not _worker.alive():
                _worker = None
    return _result(payload, decisions, candles, limits)


class _SharedBuffer:
    """A file in shared memory that the parent creates and the worker opens by path.

    (multiprocessing.shared_memory's resource tracker would unlink the segment when a worker
    that attached to it is killed, so plain files are used instead.)
    """

    def __init__(self, path: Path, size: int, create: bool) -> None:
        self.path, self.size = path, size
        flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
        fd = os.open(path, flags, 0o600)
        try:
            if create:
                os.ftruncate(fd, size)
            self.map = mmap.mmap(fd, size)
        finally:
            os.close(fd)

    @classmethod
    def create(cls, size: int) -> _SharedBuffer:
        folder = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
        name = f"tradewinds-history-{os.getpid()}-{time.monotonic_ns()}"
        return cls(folder / name, size, create=True)

    def close(self, unlink: bool = False) -> None:
        with contextlib.suppress(BufferError):
            self.map.close()
        if unlink:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


def _close_inherited(keep: tuple[int, ...]) -> None:
    """Close every descriptor the fork inherited but stdio and `keep`. A server that checks a
    strategy forks this worker too: holding copies of its sockets, the worker kept every browser
    connection open at that moment from closing, and after a few pages Chromium had no
    connection left to the desk (six a host)."""
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, os.sysconf("SC_OPEN_MAX"))


class _HistoryWorker:
    """A child process, kept warm between runs, that runs strategies over histories.

    Candles and decisions travel through shared memory; the control block (candle index being
    decided, "computing an indicator" flag) is an anonymous shared mapping made before the fork.
    Keeping the child alive matters: its heap is warm, so later runs skip the page faults a fresh
    fork pays on every array it allocates.
    """

    def __init__(self) -> None:
        self.control = mmap.mmap(-1, _HEADER)
        self.header = np.frombuffer(self.control, dtype=np.int64, count=2)
        self.data: _SharedBuffer | None = None
        # The candles `data` holds for a run that reuses indicators, and the buffer's path.
        self.loaded: tuple[CandleArrays, Path] | None = None
        job_read, self.job_write = os.pipe()
        self.result_read, result_write = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child never returns
            _close_inherited(keep=(job_read, result_write))
            _serve(job_read, result_write, self.header)
        os.close(job_read)
        os.close(result_write)

    def alive(self) -> bool:
        try:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return False
        return pid == 0

    def _buffer(self, n: int) -> _SharedBuffer:
        needed = n * (6 * 8 + 1)
        if self.data is None or self.data.size < needed:
            if self.data is not None:
                self.data.close(unlink=True)
            self.data = _SharedBuffer.create(max(needed, 1 << 20))
        return self.data

    def run(
        self,
        source: str,
        candles: CandleArrays,
        params: dict[str, ParamValue],
        limits: Limits,
        reuse: bool = False,
        on_progress: Progress | None = None,
    ) -> tuple[dict[str, Any], npt.NDArray[np.int8]]:
        """Run one job. With `reuse`, the same candles object as the last reusing run is not
        copied again and the worker keeps the indicator series it computed for it."""
        n = len(candles)
        data = self._buffer(n)
        columns, decisions = _views(data, n)
        same = reuse and self.loaded is not None and self.loaded[0] is candles and self.loaded[1] == data.path
        if not same:
            for target, column in zip(columns, _columns(candles), strict=True):
                target[:] = column
        self.loaded = (candles, data.path) if reuse else None
        self.header[:] = (-1, 0)
        _send(self.job_write, (str(data.path), data.size, n, source, params, limits, None, reuse, same))
        payload = _supervise(self.pid, self.result_read, self.header, limits, n, on_progress)
        result = decisions.copy()
        if payload.get("killed"):
            self.close()
        return payload, result

    def locate(
        self,
        source: str,
        candles: CandleArrays,
        params: dict[str, ParamValue],
        limits: Limits,
        index: int,
        position: str,
    ) -> int | None:
        """The strategy line where deciding at candle `index` runs out of time, if it does."""
        n = len(candles)
        data = self._buffer(n)
        columns, _ = _views(data, n)
        for target, column in zip(columns, _columns(candles), strict=True):
            target[:] = column
        self.header[:] = (-1, 0)
        self.loaded = None
        job = (str(data.path), data.size, n, source, params, limits, (index, position), False, False)
        _send(self.job_write, job)
        payload = _supervise(self.pid, self.result_read, self.header, limits)
        if payload.get("killed"):
            self.close()
            return None
        line = payload.get("line")
        return int(line) if line is not None else None

    def close(self) -> None:
        for fd in (self.job_write, self.result_read):
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        if self.data is not None:
            self.data.close(unlink=True)
            self.data = None


_worker: _HistoryWorker | None = None
_worker_lock = threading.Lock()


def _forget_worker() -> None:
    """In a forked child: the parent's worker and lock are the parent's (a sweep forks workers
    that each need their own)."""
    global _worker, _worker_lock
    _worker = None
    _worker_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_worker)

# Wraps the parameter table so reads are recorded: `param()` looks names up in it.
_RECORD_READS = """
return function(params)
  local seen = {}
  local proxy = setmetatable({}, { __index = function(_, name)
    seen[name] = true
    return params[name]
  end })
  return proxy, seen
end
"""


@atexit.register
def stop_history_worker() -> None:
    """Stop this process's worker and remove its shared memory. Runs at exit; a process that
    exits without running atexit (a multiprocessing worker) must call it itself."""
    global _worker
    if _worker is not None:
        _worker.close()
        _worker = None


def _columns(candles: CandleArrays) -> tuple[npt.NDArray[Any], ...]:
    return (candles.time, candles.open, candles.high, candles.low, candles.close, candles.volume)


def _views(data: _SharedBuffer, n: int) -> tuple[tuple[npt.NDArray[Any], ...], npt.NDArray[np.int8]]:
    """Candle columns (time as int64, the rest float64) and the decision array in `data`."""
    buf = data.map
    columns = tuple(
        np.ndarray((n,), dtype=np.int64 if k == 0 else np.float64, buffer=buf, offset=k * n * 8)
        for k in range(6)
    )
    decisions = np.ndarray((n,), dtype=np.int8, buffer=buf, offset=6 * n * 8)
    return columns, decisions


def _send(fd: int, message: object) -> None:
    data = pickle.dumps(message)
    view = memoryview(struct.pack("<Q", len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _receive(fd: int) -> Any:
    """One length-prefixed pickle from `fd`, or None at end of file."""
    raw = b""
    while len(raw) < 8:
        chunk = os.read(fd, 8 - len(raw))
        if not chunk:
            return None
        raw += chunk
    (size,) = struct.unpack("<Q", raw)
    body = bytearray()
    while len(body) < size:
        chunk = os.read(fd, min(size - len(body), 1 << 20))
        if not chunk:
            return None
        body += chunk
    return pickle.loads(bytes(body))


def _serve(job_fd: int, result_fd: int, header: npt.NDArray[np.int64]) -> None:  # pragma: no cover
    """The worker's loop: one job in, one payload out, until the parent closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    attached: dict[str, _SharedBuffer] = {}
    cache = IndicatorCache()
    status = 0
    try:
        while (job := _receive(job_fd)) is not None:
            path, size, n, source, params, limits, locate, reuse, same = job
            if not same:
                cache.clear()
            if path not in attached:
                for old in attached.values():
                    old.close()
                attached = {path: _SharedBuffer(Path(path), size, create=False)}
            columns, decisions = _views(attached[path], n)
            candles = CandleArrays(*columns)
            if locate is not None:
                _send(result_fd, _locate_job(source, candles, params, limits, locate, header))
            else:
                kept = cache if reuse else None
                _send(result_fd, _run_job(source, candles, params, limits, decisions, header, kept))
    except BaseException:
        status = 1
    finally:
        os._exit(status)


def _run_job(
    source: str,
    candles: CandleArrays,
    params: Mapping[str, ParamValue],
    limits: Limits,
    decisions: npt.NDArray[np.int8],
    header: npt.NDArray[np.int64],
    cache: IndicatorCache | None = None,
) -> dict[str, Any]:  # pragma: no cover - runs in the worker
    def computing(busy: bool) -> None:
        header[1] = 1 if busy else 0

    try:
        runtime = StrategyRuntime(limits, jit=True)
        runtime.use(Dataset(candles, on_compute=computing, limits=limits, cache=cache))
        chunk = runtime.compile(source)
        table, seen = runtime.lua.execute(_RECORD_READS)(runtime.params_table(params))
        runtime.reset_memory_limit()
        result = runtime.api.run_history(
            chunk,
            len(candles),
            decisions.ctypes.data,
            header.ctypes.data,
            table,
            lambda: runtime.reset_memory_limit(collect=False),
        )
        runtime.lift_memory_limit()
        return {
            "ok": bool(result["ok"]),
            "kind": result["kind"],
            "message": result["message"],
            "result_type": result["result_type"],
            "result_value": result["result_value"],
            "index": result["index"],
            "warmup_candles": int(result["warmup_candles"]),
            "warmup": result["warmup"],
            "logs": [(int(entry[1]), str(entry[2])) for entry in result["logs"].values()],
            "params_read": [str(name) for name in seen],
        }
    except MemoryError:
        return {"ok": False, "kind": "memory", "message": None, "index": None}
    except StrategyError as exc:
        return {"ok": False, "kind": "error", "message": exc.message, "index": None}
    except Exception as exc:
        return {"ok": False, "kind": "internal", "message": repr(exc), "index": None}


def _locate_job(
    source: str,
    candles: CandleArrays,
    params: Mapping[str, ParamValue],
    limits: Limits,
    where: tuple[int, str],
    header: npt.NDArray[np.int64],
) -> dict[str, Any]:  # pragma: no cover - runs in the worker
    index, position = where

    def computing(busy: bool) -> None:
        header[1] = 1 if busy else 0

    try:
        runtime = StrategyRuntime(limits, jit=False)
        runtime.use(Dataset(candles, on_compute=computing, limits=limits))
        chunk = runtime.compile(source)
        table = runtime.params_table(params)
        runtime.reset_memory_limit()
        header[0] = index
        line = runtime.api.live.locate_timeout(chunk, index, table, position, limits.time_ms)
        runtime.lift_memory_limit()
        return {"ok": True, "line": line}
    except Exception as exc:
        return {"ok": False, "kind": "internal", "message": repr(exc)}


def _supervise(
    pid: int,
    result_fd: int,
    header: npt.NDArray[np.int64],
    limits: Limits,
    candles: int = 0,
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """Wait for the worker's payload, killing it if one candle overruns the time limit; tell
    `on_progress` the fraction of candles decided, at most every `_PROGRESS_S`."""
    last_index = -1
    reported = 0.0
    last_change = time.monotonic()
    allowed = limits.time_ms * _KILL_FACTOR / 1000.0
    # Indicator computations pause the candle's clock but count against the run's indicator time.
    indicators_allowed = limits.indicator_time_ms * _KILL_FACTOR / 1000.0
    computing_since: float | None = None
    computing_total = 0.0
    while True:
        ready, _, _ = select.select([result_fd], [], [], _POLL_S)
        if ready:
            payload = _receive(result_fd)
            if payload is not None:
                result: dict[str, Any] = payload
                return result
            return _died(pid, header)
        now = time.monotonic()
        index, computing = int(header[0]), int(header[1])
        if on_progress is not None and candles and index >= 0 and now - reported >= _PROGRESS_S:
            on_progress(index / candles)
            reported = now
        if computing and computing_since is None:
            computing_since = now
        elif not computing and computing_since is not None:
            computing_total += now - computing_since
            computing_since = None
        if computing_since is not None and computing_total + now - computing_since > indicators_allowed:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return {"ok": False, "kind": "indicator_time", "message": None, "index": index, "killed": True}
        if index != last_index or computing or index < 0:
            last_index, last_change = index, now
        elif now - last_change > allowed:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return {"ok": False, "kind": "timeout", "message": None, "index": index, "killed": True}


def _died(pid: int, header: npt.NDArray[np.int64]) -> dict[str, Any]:
    _, status = os.waitpid(pid, 0)
    how = f"({signal.Signals(os.WTERMSIG(status)).name})" if os.WIFSIGNALED(status) else "(it exited)"
    index = int(header[0])
    return {
        "ok": False,
        "kind": "died",
        "message": f"the strategy process died {how}",
        "index": index if index >= 0 else None,
        "killed": True,
    }


def _result(
    payload: dict[str, Any], decisions: npt.NDArray[np.int8], candles: CandleArrays, limits: Limits
) -> HistoryRun:
    logs = [
        LogLine(int(candles.time[min(index, len(candles) - 1)]), text)
        for index, text in payload.get("logs", [])
    ]
    dropped = len(logs) > limits.log_lines
    if payload["ok"]:
        read = frozenset(payload.get("params_read", ()))
        return HistoryRun(
            decisions, payload["warmup_candles"], payload["warmup"], logs[: limits.log_lines], dropped, read
        )
    kind = payload["kind"]
    index = payload.get("index")
    if kind == "internal":
        raise RuntimeError(f"strategy run failed inside Tradewinds: {payload['message']}")
    if index is None:
        if kind == "memory":
            raise StrategyLimitExceeded(f"memory limit of {limits.memory_text} exceeded", "memory")
        raise StrategyError(str(payload["message"]))
    index = int(index)
    when = _iso(int(candles.time[index]))
    if kind == "timeout":
        line = payload.get("line")
        where = f"line {line}: " if line is not None else ""
        raise StrategyLimitExceeded(
            f"{where}time limit of {limits.time_text} exceeded at candle {index} ({when})", "time", line
        )
    if kind == "indicator_time":
        raise StrategyLimitExceeded(
            f"indicator time limit of {limits.indicator_time_text} exceeded: creating indicators took "
            f"longer in total (at candle {index}, {when})",
            "time",
        )
    if kind == "memory":
        raise StrategyLimitExceeded(
            f"memory limit of {limits.memory_text} exceeded at candle {index} ({when})", "memory"
        )
    if kind == "result":
        message, line = result_message(str(payload["result_type"]), payload.get("result_value")), None
    else:
        message, line = plain_message(str(payload["message"]))
        message = explain(message, known_names())
    raise StrategyRuntimeError(
        f"{message} (at candle {index}, {when})", index, int(candles.time[index]), line
    )


def _iso(time_ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time_ms / 1000))
