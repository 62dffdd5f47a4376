"""Sandbox limits for one evaluation of a strategy."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Per-evaluation limits. A backtest applies `time_ms` to each candle's decision."""

    time_ms: float = 50.0
    memory_mb: float = 32.0
    log_lines: int = 200  # kept per history run; a live evaluation keeps `logs_per_evaluation`
    logs_per_evaluation: int = 20
    log_line_chars: int = 500
    # Library calls that run in C, where the time-limit hook cannot fire (pattern matching, a sort
    # without a comparison function), are refused up front when their worst case exceeds this
    # many work units; 2e8 is about 25 ms on the reference machine.
    pattern_budget: float = 2e8
    # Instructions between two checks of the clock by the time-limit hook.
    hook_interval: int = 1000
    # History runs compute each indicator over the whole history, outside the per-candle limits:
    # these bound how many series one run may create, the memory they hold, and their total time.
    max_indicator_series: int = 100
    indicator_memory_mb: float = 256.0
    indicator_time_ms: float = 5000.0

    def __post_init__(self) -> None:
        if self.time_ms <= 0:
            raise ValueError(f"time limit must be positive, got {self.time_ms} ms")
        if self.memory_mb <= 0:
            raise ValueError(f"memory limit must be positive, got {self.memory_mb} MiB")
        if self.max_indicator_series < 1 or self.indicator_memory_mb <= 0 or self.indicator_time_ms <= 0:
            raise ValueError("indicator limits must be positive")

    @property
    def memory_bytes(self) -> int:
        return int(self.memory_mb * 1024 * 1024)

    @property
    def time_text(self) -> str:
        return f"{self.time_ms:g} ms"

    @property
    def memory_text(self) -> str:
        return f"{self.memory_mb:g} MiB"

    @property
    def indicator_memory_bytes(self) -> int:
        return int(self.indicator_memory_mb * 1024 * 1024)

    @property
    def indicator_memory_text(self) -> str:
        return f"{self.indicator_memory_mb:g} MiB"

    @property
    def indicator_time_text(self) -> str:
        return f"{self.indicator_time_ms:g} ms"
