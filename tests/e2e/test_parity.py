"""Parity: a candle CSV replayed through the live platform, as real processes, trades exactly as
`tradewinds backtest` on the same CSV with the same fee.

`tradewinds exchange sim --replay` streams five hours of real Coinbase minutes at 30x, each minute
once, closed, at its end (`--updates-per-minute 1`: the sim vouches for it, so the core closes it
at once, and the paper fill sees that candle's close as the latest price until the next minute's
end, 2 s later; with forming updates the next price came a third of a second after the close, and
a fill that took longer under load traded at it); `tradewinds core` closes, rolls up and decides;
`tradewinds eval` evaluates. Each strategy (the founding paper's example, EMA(50), RSI(14), MACD)
is assigned at 1m and at 5m (a rolled-up timeframe), each on its own paper account whose
allocation is the backtest's cash. The fills (candle, side, price, amount) must be the backtest's,
and each slice's equity equal to the backtest's final equity to the cent.
"""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.e2e.processes import TRADEWINDS, Processes, platform
from tests.e2e.processes import wait_until as _wait_until
from tradewinds.domain.candle_csv import read_candle_csv
from tradewinds.domain.ledger import LedgerFill, equity, replay
from tradewinds.domain.times import format_time_ms
from tradewinds.storage.accounts import add_paper_account
from tradewinds.storage.assignments import add_assignment
from tradewinds.storage.database import create_engine
from tradewinds.storage.strategies import save_strategy
from tradewinds.storage.trading_models import AssignmentRow, FillRow, OrderRow
from tradewinds.storage.users import add_user

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parents[2] / "data" / "coinbase_BTCUSD_1m_2018-04-04_06.csv"
ROWS = 300  # five hours from a UTC midnight: 300 one-minute and 60 five-minute candles
SPEED = "30"  # a minute every 2 s: time for each decision to be filled before the next price
CASH = Decimal(10_000)
FEE = "0.001"
STRATEGIES = {
    "paper-example": (Path(__file__).resolve().parents[2] / "examples" / "sma_ema.lua").read_text(),
    "ema50": 'local e = ta.ema(50)\nif close() > e() then return "long" else return "short" end',
    "rsi14": 'local r = ta.rsi(14)\nif r() < 45 then return "long" elseif r() > 55 then return "short" end',
    "macd": (
        "local m, s = ta.macd(12, 26, 9)\n"
        'if crossover(m, s) then return "long" elseif crossunder(m, s) then return "short" end'
    ),
}
TIMEFRAMES = ("1m", "5m")


def wait_until(processes: Processes, what: str, condition: Callable[[], bool], within: float) -> None:
    _wait_until(processes, what, condition, within, every=0.5)  # the condition reads the database


@pytest.fixture
def processes(tmp_path: Path, nats_url: str) -> Iterator[Processes]:
    yield from platform(tmp_path, nats_url)


async def seed(url: str) -> dict[tuple[str, str], int]:
    """One user; per strategy and timeframe a paper account holding exactly the allocation."""
    engine = create_engine(url)
    ids: dict[tuple[str, str], int] = {}
    try:
        user = await add_user(engine, "parity@example.com", "a long enough password")
        for name, source in STRATEGIES.items():
            await save_strategy(engine, user, name, source)
            for timeframe in TIMEFRAMES:
                account = f"{name}-{timeframe}"
                await add_paper_account(engine, user, account, {"USD": CASH}, fee_rate=Decimal(FEE))
                view = await add_assignment(
                    engine, user, strategy=name, exchange="sim", symbol="BTC/USD", timeframe=timeframe,
                    account=account, allocation=CASH,
                )  # fmt: skip
                ids[(name, timeframe)] = view.id
    finally:
        await engine.dispose()
    return ids


async def live_state(url: str) -> tuple[dict[int, int | None], dict[int, list[FillRow]], int]:
    engine = create_engine(url)
    try:
        async with AsyncSession(engine) as session:
            rows = (await session.scalars(select(AssignmentRow))).all()
            fills = (await session.scalars(select(FillRow).order_by(FillRow.time_ms, FillRow.id))).all()
            open_orders = len(
                (
                    await session.scalars(select(OrderRow).where(OrderRow.status.in_(("pending", "open"))))
                ).all()
            )
    finally:
        await engine.dispose()
    by_assignment: dict[int, list[FillRow]] = {}
    for fill in fills:
        by_assignment.setdefault(fill.assignment_id, []).append(fill)
    return {a.id: a.last_eval_candle_ms for a in rows}, by_assignment, open_orders


async def order_candles(url: str) -> dict[int, int]:
    engine = create_engine(url)
    try:
        async with AsyncSession(engine) as session:
            return {o.id: o.candle_time_ms for o in (await session.scalars(select(OrderRow))).all()}
    finally:
        await engine.dispose()


def backtest(
    tmp_path: Path, csv_path: Path, name: str, timeframe: str
) -> tuple[dict[str, object], list[dict[str, str]]]:
    strategy = tmp_path / f"{name}.lua"
    strategy.write_text(STRATEGIES[name])
    trades = tmp_path / f"{name}-{timeframe}-trades.csv"
    done = subprocess.run(
        [*TRADEWINDS, "backtest", str(strategy), "--candles", str(csv_path), "--timeframe", timeframe,
         "--cash", str(CASH), "--fee", FEE, "--fill", "close", "--json", "--trades", str(trades)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with trades.open() as handle:
        return json.loads(done.stdout), list(csv.DictReader(handle))


def test_replayed_live_trading_equals_the_backtest(processes: Processes, tmp_path: Path) -> None:
    csv_path = tmp_path / "candles.csv"
    csv_path.write_text("".join(DATA.read_text().splitlines(keepends=True)[: ROWS + 1]))
    candles = read_candle_csv(csv_path)
    last_minute = int(candles.time[-1])
    last_close = Decimal(repr(float(candles.close[-1])))
    url = processes.env["TRADEWINDS_DATABASE_URL"]
    ids = asyncio.run(seed(url))

    processes.start("core", "core", "--grace", "1")
    processes.start("eval", "eval")
    wait_until(processes, "the core and the worker", lambda: "core: listening on" in processes.log("core")
               and "takes requests" in processes.log("eval"), 60)  # fmt: skip
    processes.start(
        "exchange",
        "exchange",
        "sim",
        "--replay",
        str(csv_path),
        "--replay-symbol",
        "BTC/USD",
        "--speed",
        SPEED,
        "--updates-per-minute",
        "1",
    )
    last_of = {"1m": last_minute, "5m": last_minute - 4 * 60_000}

    def all_decided() -> bool:
        evaluated, _, open_orders = asyncio.run(live_state(url))
        done = all(evaluated[ids[(n, tf)]] == last_of[tf] for n in STRATEGIES for tf in TIMEFRAMES)
        return done and open_orders == 0

    wait_until(
        processes,
        "every assignment to decide on the last candle",
        all_decided,
        ROWS * 60 / float(SPEED) + 120,
    )
    time.sleep(3)  # an intent of the last close would be executing now
    _, fills, open_orders = asyncio.run(live_state(url))
    assert open_orders == 0
    candle_of = asyncio.run(order_candles(url))

    backtests = {(n, tf): backtest(tmp_path, csv_path, n, tf) for n in STRATEGIES for tf in TIMEFRAMES}
    traded = 0
    for (name, timeframe), (report, trades) in backtests.items():
        mine = fills.get(ids[(name, timeframe)], [])
        where = f"{name} at {timeframe}"
        expected = [(t["time"], t["side"], float(t["price"])) for t in trades]
        got = [(format_time_ms(candle_of[f.order_id]), f.side, float(f.price)) for f in mine]
        assert got == expected, where
        for fill, trade in zip(mine, trades, strict=True):
            # Units the same to the market's amount precision (the live order is rounded to it).
            net = fill.amount - (fill.fee if fill.fee_currency == "BTC" else 0)
            assert abs(float(net) - float(trade["units"])) < 1e-7, (where, fill.id)
        book = replay(
            CASH,
            "BTC",
            "USD",
            [LedgerFill(f.side, f.amount, f.price, f.fee, f.fee_currency, f.time_ms) for f in mine],
        )
        final = float(report["final_equity"])  # type: ignore[arg-type]
        assert abs(float(equity(book, last_close)) - final) < 0.01, (where, equity(book, last_close), final)

        traded += len(mine)
    assert traded >= 20  # the proof is about trades: the strategies must have made some
