"""A `StatusReport` as text a person reads at a glance: the full view (`tradewinds status`, `up`'s
screen) and one compact line (`up` when its output is not a terminal)."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from tradewinds.domain.times import format_time_ms
from tradewinds.platform.status import StatusReport

MAX_ASSIGNMENTS = 20
MAX_ERRORS = 8


def _money(value: Decimal | None, sign: bool = False) -> str:
    if value is None:
        return "-"
    cents = value.quantize(Decimal("0.01")) + 0  # + 0: no "-0.00" for a loss under half a cent
    return f"{cents:+,.2f}" if sign else f"{cents:,.2f}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def components_line(report: StatusReport) -> str:
    if not report.components:
        return "none running" if report.bus else "no bus running (nothing started on this data folder?)"
    counts = Counter(c.component for c in report.components)
    oldest = {c.component: c.uptime_s for c in reversed(report.components)}
    return ", ".join(f"{name} x{n} (up {_duration(oldest[name])})" for name, n in sorted(counts.items()))


def candles_line(report: StatusReport) -> str:
    if not report.candles:
        return "none yet"
    parts = []
    for c in report.candles:
        lag = "no close yet" if c.lag_s is None else f"lag {c.lag_s:.1f}s"
        parts.append(f"{c.exchange} {lag}, {c.updates:,} updates")
    return "; ".join(parts)


def evaluations_line(report: StatusReport) -> str:
    e = report.evaluations
    return f"{e.per_minute:,.0f}/min ({e.total:,} by the running workers), {e.failing} failing"


def orders_line(report: StatusReport) -> str:
    o = report.orders
    if not o.by_status:
        return "none yet"
    statuses = ", ".join(f"{n:,} {status}" for status, n in sorted(o.by_status.items()))
    return f"{statuses}; {o.last_hour:,} in the last hour; {o.fills:,} fills"


def render(report: StatusReport) -> list[str]:
    lines = [
        f"Tradewinds status at {report.time}" + (f"  (bus {report.bus})" if report.bus else ""),
        f"  components   {components_line(report)}",
        f"  candles      {candles_line(report)}",
        f"  evaluations  {evaluations_line(report)}",
        f"  orders       {orders_line(report)}",
    ]
    lines.extend(_assignment_lines(report))
    if report.errors:
        lines.append(f"  errors ({len(report.errors)})")
        lines.extend(f"    {p.source}: {p.message}"[:160] for p in report.errors[:MAX_ERRORS])
        if len(report.errors) > MAX_ERRORS:
            lines.append(f"    ... and {len(report.errors) - MAX_ERRORS} more (tradewinds status --json)")
    else:
        lines.append("  errors       none")
    return lines


def _assignment_lines(report: StatusReport) -> list[str]:
    if not report.assignments:
        return ["  assignments  none"]
    header = (
        f"  {'id':>4}  {'strategy':<22} {'market':<18} {'tf':<4} {'pos':<5} {'equity':>11} "
        f"{'realized':>10} {'unrealized':>10} {'fees':>8}  last evaluation"
    )
    lines = [f"  assignments ({len(report.assignments)})", header]
    for v in report.assignments[:MAX_ASSIGNMENTS]:
        last = "-"
        if v.last_eval_outcome:
            when = format_time_ms(v.last_eval_candle_ms)[11:16] if v.last_eval_candle_ms else "?"
            last = f"{v.last_eval_outcome} @ {when}"
        if not v.enabled:
            last = "disabled"
        lines.append(
            f"  {v.id:>4}  {f'{v.strategy} v{v.version}'[:22]:<22} {f'{v.exchange}:{v.symbol}'[:18]:<18} "
            f"{v.timeframe:<4} {v.position:<5} {_money(v.equity):>11} {_money(v.realized_pnl, True):>10} "
            f"{_money(v.unrealized_pnl, True):>10} {_money(v.fees):>8}  {last}"
        )
    if len(report.assignments) > MAX_ASSIGNMENTS:
        lines.append(f"  ... and {len(report.assignments) - MAX_ASSIGNMENTS} more (tradewinds assignments)")
    return lines


def compact(report: StatusReport) -> str:
    """One line for logs and pipes: candles, evaluations, orders, the assignments' total P&L."""
    pnl = sum((v.realized_pnl + v.unrealized_pnl for v in report.assignments), Decimal(0))
    longs = sum(1 for v in report.assignments if v.position == "long")
    return (
        f"{report.time[11:19]} candles: {candles_line(report)} | evaluations {evaluations_line(report)}"
        f" | orders {orders_line(report)} | {len(report.assignments)} assignments, {longs} long,"
        f" P&L {_money(pnl, True)} | {len(report.errors)} errors"
    )
