"""The platform's status from what its components announce and what the database holds (pure).

`build_report` turns announcements (bus/presence.py) and a database snapshot (snapshot.py) into
one `StatusReport`, which `tradewinds status` prints as text or JSON and `tradewinds up` redraws.
Conventions for the stats a component announces: `errors` counts its failures, `lag_ms.{exchange}`
(the core) how far the newest closed minute ends behind the clock, `evaluations` (workers, the
decision service) what it evaluated and `evaluations_per_min` its recent rate.
"""

from __future__ import annotations

import time
from collections import defaultdict

import msgspec

from tradewinds.bus.presence import is_current
from tradewinds.domain.messages import Announcement, StatValue
from tradewinds.platform.snapshot import FAILED_OUTCOMES, AssignmentView, OrderLine, TradingSnapshot


class ComponentView(msgspec.Struct, frozen=True):
    component: str
    instance: str
    host: str
    pid: int
    started: str  # UTC, ISO 8601
    uptime_s: float
    stats: dict[str, StatValue]


class ExchangeCandles(msgspec.Struct, frozen=True):
    exchange: str
    lag_s: float | None  # newest closed minute's end behind the clock (the core's view)
    updates: int  # updates its adapters published


class Evaluations(msgspec.Struct, frozen=True):
    per_minute: float  # what the workers announce, else the assignments evaluated last minute
    total: int  # evaluated by the running workers since they started
    assignments_last_minute: int
    failing: int  # assignments whose last evaluation failed


class Orders(msgspec.Struct, frozen=True):
    by_status: dict[str, int]
    last_hour: int
    fills: int
    recent: list[OrderLine]


class Problem(msgspec.Struct, frozen=True):
    source: str  # "core", "assignment 12", "order 7", "database", ...
    message: str


class StatusReport(msgspec.Struct, frozen=True):
    time: str
    bus: str | None
    components: list[ComponentView]
    candles: list[ExchangeCandles]
    evaluations: Evaluations
    orders: Orders
    errors: list[Problem]
    assignments: list[AssignmentView]


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def build_report(
    now_ms: int,
    announcements: list[Announcement],
    snapshot: TradingSnapshot | None,
    bus_url: str | None,
    problems: list[Problem] | None = None,
) -> StatusReport:
    live = [a for a in announcements if is_current(a, now_ms)]
    components = [_component(a, now_ms) for a in live]
    errors = [*(problems or []), *_component_problems(live)]
    if snapshot is not None:
        errors.extend(_trading_problems(snapshot))
    return StatusReport(
        time=iso(now_ms),
        bus=bus_url,
        components=components,
        candles=_candles(live),
        evaluations=_evaluations(live, snapshot),
        orders=_orders(snapshot),
        errors=errors,
        assignments=[] if snapshot is None else snapshot.assignments,
    )


def _component(a: Announcement, now_ms: int) -> ComponentView:
    return ComponentView(
        a.component,
        a.instance,
        a.host,
        a.pid,
        iso(a.started_ms),
        round((now_ms - a.started_ms) / 1000, 1),
        a.stats,
    )


def _number(stats: dict[str, StatValue], key: str) -> float:
    value = stats.get(key, 0)
    return float(value) if isinstance(value, int | float) else 0.0


def _candles(live: list[Announcement]) -> list[ExchangeCandles]:
    lags: dict[str, float] = {}
    updates: dict[str, int] = defaultdict(int)
    for a in live:
        for key, value in a.stats.items():
            if a.component == "core" and key.startswith("lag_ms.") and isinstance(value, int | float):
                exchange = key.removeprefix("lag_ms.")
                lags[exchange] = min(lags.get(exchange, float("inf")), value / 1000)
        if a.component == "exchange" and isinstance(a.stats.get("exchange"), str):
            updates[str(a.stats["exchange"])] += int(_number(a.stats, "updates"))
    return [
        ExchangeCandles(
            exchange, round(lags[exchange], 1) if exchange in lags else None, updates.get(exchange, 0)
        )
        for exchange in sorted({*lags, *updates})
    ]


def _evaluations(live: list[Announcement], snapshot: TradingSnapshot | None) -> Evaluations:
    workers = [a for a in live if a.component == "eval"]
    recent = 0 if snapshot is None else snapshot.evaluated_last_minute
    failing = 0
    if snapshot is not None:
        failing = sum(1 for v in snapshot.assignments if v.last_eval_outcome in FAILED_OUTCOMES)
    # The workers' own rate over the last minute, else their average since they started, else
    # the assignments evaluated in the last minute (no worker running or announcing).
    per_minute = float(recent)
    for key in ("evaluations_per_min", "evaluations_per_minute"):
        if any(key in a.stats for a in workers):
            per_minute = round(sum(_number(a.stats, key) for a in workers), 1)
            break
    return Evaluations(
        per_minute=per_minute,
        total=int(sum(_number(a.stats, "evaluations") for a in workers)),
        assignments_last_minute=recent,
        failing=failing,
    )


def _orders(snapshot: TradingSnapshot | None) -> Orders:
    if snapshot is None:
        return Orders({}, 0, 0, [])
    return Orders(
        snapshot.orders_by_status, snapshot.orders_last_hour, snapshot.fills, snapshot.recent_orders
    )


def _component_problems(live: list[Announcement]) -> list[Problem]:
    problems = []
    for a in live:
        if "stats_error" in a.stats:
            problems.append(Problem(a.component, f"its counters failed: {a.stats['stats_error']}"))
        errors = _number(a.stats, "errors")
        if errors:
            problems.append(
                Problem(a.component, f"{errors:g} errors since it started (pid {a.pid}, its log says which)")
            )
    return problems


def _trading_problems(snapshot: TradingSnapshot) -> list[Problem]:
    problems = []
    for v in snapshot.assignments:
        where = f"assignment {v.id} ({v.strategy} v{v.version} on {v.exchange}:{v.symbol} {v.timeframe})"
        if v.last_eval_outcome in FAILED_OUTCOMES:
            problems.append(Problem(where, f"{v.last_eval_outcome}: {v.last_eval_message or 'no message'}"))
        if not v.enabled and v.disabled_reason:
            problems.append(Problem(where, f"disabled: {v.disabled_reason}"))
        if v.ledger_error:
            problems.append(Problem(where, f"its fills do not add up: {v.ledger_error}"))
    for order in snapshot.failed_orders:
        problems.append(
            Problem(f"order {order.id} (assignment {order.assignment_id})", f"{order.status}: {order.error}")
        )
    return problems
