"""Run a strategy at every candle of a history: the decision series a backtest trades on.

The strategy runs JIT-compiled for speed, where Lua's instruction hook cannot fire. So the run
happens in a forked child process that reports its progress (the candle index) through shared
memory, and this process kills it when one candle's decision takes longer than the time limit.
"""

from __future__ import annotations

import mmap
import os
import pickle
import select
import signal
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.strategy.errors import (
    StrategyError,
    StrategyLimitExceeded,
    StrategyRuntimeError,
    plain_message,
)
from tradewinds.strategy.limits import Limits
from tradewinds.strategy.runtime import Dataset, ParamValue, StrategyRuntime

# Shared memory layout: int64 candle index, int64 "computing an indicator" flag, then decisions.
_HEADER = 16
_POLL_S = 0.005
# A candle may take this multiple of the time limit before the child is killed (the issue allows
# twice the limit; the rest is polling and scheduling slack).
_KILL_FACTOR = 1.5


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


def check_strategy(source: str, name: str = "strategy") -> None:
    """Raise StrategySyntaxError if `source` does not compile in the sandbox."""
    StrategyRuntime(jit=False).compile(source)


def run_over_history(
    source: str,
    candles: CandleArrays,
    params: Mapping[str, ParamValue] | None = None,
    limits: Limits | None = None,
    name: str = "strategy",
) -> HistoryRun:
    """Decide at every candle of `candles`, as the live platform would at each close."""
    limits = limits or Limits()
    check_strategy(source, name)
    n = len(candles)
    if n == 0:
        return HistoryRun(np.zeros(0, dtype=np.int8), 0, None, [])
    shared = mmap.mmap(-1, _HEADER + n)
    # -1: the child has not reached the first candle yet (start-up does not count as a candle).
    np.frombuffer(shared, dtype=np.int64, count=1)[0] = -1
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, reported through the pipe
        os.close(read_fd)
        _child(source, candles, params, limits, shared, write_fd)
    os.close(write_fd)
    try:
        payload = _supervise(pid, read_fd, shared, limits)
        decisions = np.frombuffer(shared, dtype=np.int8, count=n, offset=_HEADER).copy()
    finally:
        os.close(read_fd)
        shared.close()
    return _result(payload, decisions, candles, limits)


def _child(
    source: str,
    candles: CandleArrays,
    params: Mapping[str, ParamValue] | None,
    limits: Limits,
    shared: mmap.mmap,
    write_fd: int,
) -> None:  # pragma: no cover - runs in the child
    status = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        header = np.frombuffer(shared, dtype=np.int64, count=2, offset=0)
        decisions = np.frombuffer(shared, dtype=np.int8, count=len(candles), offset=_HEADER)

        def computing(busy: bool) -> None:
            header[1] = 1 if busy else 0

        runtime = StrategyRuntime(limits, jit=True)
        runtime.use(Dataset(candles, on_compute=computing))
        chunk = runtime.compile(source)
        table = runtime.params_table(params)
        runtime.reset_memory_limit()
        result = runtime.api.run_history(
            chunk, len(candles), decisions.ctypes.data, header.ctypes.data, table
        )
        payload: dict[str, Any] = {
            "ok": bool(result["ok"]),
            "kind": result["kind"],
            "message": result["message"],
            "index": result["index"],
            "warmup_candles": int(result["warmup_candles"]),
            "warmup": result["warmup"],
            "logs": [(int(entry[1]), str(entry[2])) for entry in result["logs"].values()],
        }
    except MemoryError:
        payload = {"ok": False, "kind": "memory", "message": None, "index": None}
    except StrategyError as exc:
        payload = {"ok": False, "kind": "error", "message": exc.message, "index": None}
    except BaseException as exc:
        payload = {"ok": False, "kind": "internal", "message": repr(exc), "index": None}
        status = 1
    try:
        data = pickle.dumps(payload)
        view = memoryview(struct.pack("<Q", len(data)) + data)
        while view:
            written = os.write(write_fd, view)
            view = view[written:]
    finally:
        os._exit(status)


def _supervise(pid: int, read_fd: int, shared: mmap.mmap, limits: Limits) -> dict[str, Any]:
    """Collect the child's report, killing it if one candle overruns the time limit."""
    header = np.frombuffer(shared, dtype=np.int64, count=2, offset=0)
    chunks: list[bytes] = []
    last_index = -1
    last_change = time.monotonic()
    allowed = limits.time_ms * _KILL_FACTOR / 1000.0
    while True:
        ready, _, _ = select.select([read_fd], [], [], _POLL_S)
        if ready:
            data = os.read(read_fd, 1 << 20)
            if not data:
                break
            chunks.append(data)
            continue
        now = time.monotonic()
        index, computing = int(header[0]), int(header[1])
        if index != last_index or computing or index < 0:
            last_index, last_change = index, now
        elif now - last_change > allowed:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return {"ok": False, "kind": "timeout", "message": None, "index": index, "killed": True}
    _, status = os.waitpid(pid, 0)
    raw = b"".join(chunks)
    if len(raw) < 8:
        if os.WIFSIGNALED(status):
            return {
                "ok": False,
                "kind": "died",
                "message": f"the strategy process died ({signal.Signals(os.WTERMSIG(status)).name})",
                "index": int(header[0]),
            }
        return {
            "ok": False,
            "kind": "died",
            "message": "the strategy process exited",
            "index": None,
        }
    (size,) = struct.unpack("<Q", raw[:8])
    payload: dict[str, Any] = pickle.loads(raw[8 : 8 + size])
    return payload


def _result(
    payload: dict[str, Any], decisions: npt.NDArray[np.int8], candles: CandleArrays, limits: Limits
) -> HistoryRun:
    logs = [
        LogLine(int(candles.time[min(index, len(candles) - 1)]), text)
        for index, text in payload.get("logs", [])
    ]
    if payload["ok"]:
        return HistoryRun(decisions, payload["warmup_candles"], payload["warmup"], logs)
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
        message = payload.get("message") or f"time limit of {limits.time_text} exceeded"
        raise StrategyLimitExceeded(f"{message} at candle {index} ({when})", "time")
    if kind == "memory":
        raise StrategyLimitExceeded(f"{payload['message']} at candle {index} ({when})", "memory")
    message, line = plain_message(str(payload["message"]))
    raise StrategyRuntimeError(
        f"{message} (at candle {index}, {when})", index, int(candles.time[index]), line
    )


def _iso(time_ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time_ms / 1000))
