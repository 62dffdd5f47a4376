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
    # Patterns whose worst-case backtracking bound exceeds this many steps are refused up front,
    # since Lua matches patterns in C where the time-limit hook cannot fire.
    pattern_budget: float = 1e9
    # Instructions between two checks of the clock by the time-limit hook.
    hook_interval: int = 1000

    def __post_init__(self) -> None:
        if self.time_ms <= 0:
            raise ValueError(f"time limit must be positive, got {self.time_ms} ms")
        if self.memory_mb <= 0:
            raise ValueError(f"memory limit must be positive, got {self.memory_mb} MiB")

    @property
    def memory_bytes(self) -> int:
        return int(self.memory_mb * 1024 * 1024)

    @property
    def time_text(self) -> str:
        return f"{self.time_ms:g} ms"

    @property
    def memory_text(self) -> str:
        return f"{self.memory_mb:g} MiB"
