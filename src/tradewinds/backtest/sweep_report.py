"""How a sweep is shown: a progress bar on stderr, the best combinations as a table, JSON lines."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import TextIO

from tradewinds.backtest.sweep import SweepResult, result_row

_COLUMNS = (
    ("total_return", "return", "{:+.2%}"),
    ("sharpe", "sharpe", "{:.2f}"),
    ("max_drawdown", "drawdown", "{:.2%}"),
    ("trades", "trades", "{:d}"),
    ("win_rate", "win rate", "{:.2%}"),
    ("exposure", "exposure", "{:.2%}"),
    ("final_equity", "final equity", "{:,.2f}"),
)


class ProgressBar:
    """`sweep [########------------]  412/1,000  41%  12.3 s`, redrawn in place on a terminal."""

    def __init__(self, total: int, out: TextIO, *, width: int = 30, interval_s: float = 0.1) -> None:
        self.total, self.out, self.width, self.interval_s = total, out, width, interval_s
        self.done = 0
        self.started = time.monotonic()
        self._drawn = 0.0
        self.live = out.isatty()

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if self.live and (now - self._drawn >= self.interval_s or self.done == self.total):
            self._drawn = now
            self.out.write("\r" + self.line(now))
            self.out.flush()

    def line(self, now: float | None = None) -> str:
        elapsed = (now or time.monotonic()) - self.started
        share = self.done / self.total if self.total else 1.0
        filled = round(share * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        done = f"{self.done:,}".rjust(len(f"{self.total:,}"))
        return f"sweep [{bar}] {done}/{self.total:,} {share:4.0%}  {elapsed:.1f} s"

    def finish(self, failed: int) -> None:
        elapsed = time.monotonic() - self.started
        if self.live:
            self.out.write("\r" + " " * len(self.line()) + "\r")
        note = f", {failed:,} failed" if failed else ""
        self.out.write(f"swept {self.done:,} combinations in {elapsed:.1f} s{note}\n")
        self.out.flush()


def render_table(results: Sequence[SweepResult], names: Sequence[str], rank: str, top: int) -> str:
    """The `top` best combinations (results already ranked), one row each."""
    shown = [r for r in results if r.metrics is not None][:top]
    header = ["#", *names, *(label + (" *" if key == rank else "") for key, label, _ in _COLUMNS)]
    rows = [header]
    for place, result in enumerate(shown, 1):
        assert result.metrics is not None
        values = [fmt.format(getattr(result.metrics, key)) for key, _, fmt in _COLUMNS]
        rows.append([str(place), *(_param(result.params[name]) for name in names), *values])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    rule = "-" * len(lines[0])
    ok = sum(r.metrics is not None for r in results)
    title = f"SWEEP: best {len(shown)} of {ok:,} combinations by {rank} (*)"
    return "\n".join([title, rule, lines[0], rule, *lines[1:], rule])


def failures_text(results: Sequence[SweepResult], limit: int = 3) -> list[str]:
    """A few failed combinations with their error, for stderr."""
    failed = [r for r in results if r.metrics is None]
    lines = [f"{_params_text(r)}: {r.error}" for r in failed[:limit]]
    if len(failed) > limit:
        lines.append(f"... and {len(failed) - limit:,} more combinations failed")
    return lines


def json_lines(results: Sequence[SweepResult]) -> str:
    return "\n".join(json.dumps(result_row(r)) for r in results)


def _params_text(result: SweepResult) -> str:
    return " ".join(f"{k}={_param(v)}" for k, v in result.params.items())


def _param(value: object) -> str:
    return format(value, "g") if isinstance(value, float) else str(value)
