"""Close to decision to order, the whole platform as processes, against the fake Bitfinex.

200 pairs, 10,000 enabled assignments (50 per pair; SMA, EMA, RSI and MACD strategies with varied
periods), 9,900 on paper accounts and 100 on five accounts on the fake exchange itself. Processes:
`tradewinds core` (with its decision service), `tradewinds exchange bitfinex` (streaming all 200
pairs and executing), and 1, then 2, then 4 `tradewinds eval` workers (added between rounds).

Each round closes one minute on all 200 pairs at once: the fake sends every pair's final candle of
the minute with a move (+3%, -6%, +6%: most strategies change position each time), then the
first candle of the next minute, which closes it. Per assignment it measures from the fake sending
the closing frame to the evaluation being recorded (`assignments.last_eval_ms`, stamped as the
recording starts), for each decision to change to its intent reaching the bus (recorded and
committed: the decision service publishes after its transaction), and to its order reaching the
fake (its submit handler) or the paper order and fill being recorded (`orders.updated_ms`,
stamped as the batch's transaction starts). A last round
measures one assignment alone on a quiet system. Run (about 6 minutes):

    .venv/bin/python benchmarks/pipeline.py [--database postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nats
import numpy as np
from cryptography.fernet import Fernet
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from tests.exchange.fake_bitfinex import FakeBitfinex, generated_pairs, wire_row

from tradewinds.bus import codec, subjects
from tradewinds.bus.server import EmbeddedNatsServer
from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candles import SeriesKey
from tradewinds.domain.timeframes import MINUTE_MS, Timeframe
from tradewinds.domain.trading import AssignmentChanged
from tradewinds.exchange.execution.delivery import decode_intents
from tradewinds.storage.candles import CandleStore
from tradewinds.storage.database import create_engine, upgrade_schema
from tradewinds.storage.secrets import KEY_ENV, SecretBox
from tradewinds.storage.trading_models import (
    AssignmentRow,
    DecisionRow,
    OrderRow,
    StrategyRow,
    StrategyVersionRow,
    TradingAccountRow,
    UserRow,
)

PAIRS = 200
PER_PAIR = 50
EXCHANGE_ACCOUNTS = 5
PER_EXCHANGE_ACCOUNT = 20
HISTORY = 300  # minutes stored before the first round
BASE_PRICE = 10.0  # the fake's generated pairs trade at least 1 unit: 100 USD buys 10
ALLOCATION = Decimal(100)
TRADEWINDS = [sys.executable, "-m", "tradewinds.cli"]

STRATEGIES = {
    "sma-band": "local m = ta.sma(param('p', 20))\n"
    "if close() > m() * 1.01 then return 'long' elseif close() < m() * 0.99 then return 'short' end",
    "ema-band": "local m = ta.ema(param('p', 20))\n"
    "if close() > m() * 1.01 then return 'long' elseif close() < m() * 0.99 then return 'short' end",
    "rsi": "local r = ta.rsi(param('p', 14))\n"
    "if r() > 70 then return 'long' elseif r() < 30 then return 'short' end",
    "macd": "local m, s = ta.macd(param('f', 12), param('s', 26), 9)\n"
    "local gap = close() * 0.002\n"
    "if m() > s() + gap then return 'long' elseif m() < s() - gap then return 'short' end",
}


class IntentClock:
    """When each decision's intent reached the bus, per (assignment, candle)."""

    def __init__(self) -> None:
        self.seen_ms: dict[tuple[int, int], int] = {}

    async def on_message(self, msg) -> None:  # type: ignore[no-untyped-def]
        arrived = now_ms()
        for intent in decode_intents(msg.data):
            self.seen_ms.setdefault((intent.assignment_id, intent.candle_time_ms), arrived)


class TimedFake(FakeBitfinex):
    """The fake Bitfinex, noting when each order submit reaches it (per client order id)."""

    def __init__(self, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.submitted_ms: dict[int, int] = {}

    async def _submit_handler(self, request):  # type: ignore[no-untyped-def]
        arrived = time.time_ns() // 1_000_000
        body = json.loads(await request.text() or "{}")
        if isinstance(body.get("cid"), int):
            self.submitted_ms[body["cid"]] = arrived
        return await super()._submit_handler(request)


def percentiles(values: list[float]) -> str:
    if not values:
        return "none"
    a = np.asarray(values)
    return f"p50 {np.percentile(a, 50):7.0f} ms  p99 {np.percentile(a, 99):7.0f} ms  max {a.max():7.0f} ms"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def seed(engine: AsyncEngine, pairs: list[str], box: SecretBox, start_ms: int) -> dict[str, float]:
    """History for every pair (the store and the fake's REST), and the assignments."""
    rng = np.random.default_rng(7)
    prices: dict[str, float] = {}
    store = CandleStore(engine)
    for pair in pairs:
        close = BASE_PRICE * (1 + np.cumsum(rng.normal(0, 0.0002, HISTORY)))
        arrays = CandleArrays(
            time=np.arange(HISTORY, dtype=np.int64) * MINUTE_MS + start_ms,
            open=close,
            high=close * 1.0001,
            low=close * 0.9999,
            close=close,
            volume=np.ones(HISTORY),
        )
        await store.upsert_arrays(SeriesKey("bitfinex", symbol(pair), Timeframe.M1), arrays)
        prices[pair] = float(close[-1])
    stamp = now_ms()
    async with AsyncSession(engine) as session, session.begin():
        user = UserRow(email="bench@example.com", password_hash="-", created_ms=stamp)
        session.add(user)
        await session.flush()
        versions = {}
        for name, source in STRATEGIES.items():
            strategy = StrategyRow(user_id=user.id, name=name, created_ms=stamp)
            session.add(strategy)
            await session.flush()
            version = StrategyVersionRow(strategy_id=strategy.id, number=1, source=source, created_ms=stamp)
            session.add(version)
            await session.flush()
            versions[name] = version.id
        accounts = []
        paper_count = (PAIRS * PER_PAIR - EXCHANGE_ACCOUNTS * PER_EXCHANGE_ACCOUNT) // 100
        for number in range(paper_count):
            accounts.append(
                TradingAccountRow(
                    user_id=user.id,
                    name=f"paper-{number}",
                    kind="paper",
                    paper_balances='{"USD": "10000"}',
                    paper_fee_rate=Decimal("0.002"),
                    paper_slippage=Decimal(0),
                    enabled=True,
                    created_ms=stamp,
                )
            )
        for number in range(EXCHANGE_ACCOUNTS):
            accounts.append(
                TradingAccountRow(
                    user_id=user.id,
                    name=f"fake-{number}",
                    kind="exchange",
                    exchange="bitfinex",
                    api_key_enc=box.encrypt(f"key-{number}"),
                    api_secret_enc=box.encrypt(f"secret-{number}"),
                    enabled=True,
                    created_ms=stamp,
                )
            )
        session.add_all(accounts)
        await session.flush()
        slots = [a.id for a in accounts[paper_count:] for _ in range(PER_EXCHANGE_ACCOUNT)]
        slots += [a.id for a in accounts[:paper_count] for _ in range(100)]
        random.Random(3).shuffle(slots)
        rows = []
        names = list(STRATEGIES)
        for index in range(PAIRS * PER_PAIR):
            name = names[index % len(names)]
            params = {"p": 5 + index % 40} if name != "macd" else {"f": 5 + index % 8, "s": 20 + index % 10}
            rows.append(
                {
                    "user_id": user.id,
                    "version_id": versions[name],
                    "account_id": slots[index],
                    "exchange": "bitfinex",
                    "symbol": symbol(pairs[index // PER_PAIR]),
                    "timeframe": "1m",
                    "allocation": ALLOCATION,
                    "params": json.dumps(params),
                    "enabled": True,
                    "target": "short",
                    "consecutive_failures": 0,
                    "created_ms": stamp,
                    "updated_ms": stamp,
                }
            )
        await session.execute(insert(AssignmentRow), rows)
    return prices


def symbol(pair: str) -> str:
    return f"{pair[:-3]}/{pair[-3:]}"


async def wait_for(engine: AsyncEngine, minute: int, count: int, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        async with AsyncSession(engine) as session:
            done = await session.scalar(
                select(func.count(AssignmentRow.id)).where(
                    AssignmentRow.enabled, AssignmentRow.last_eval_candle_ms == minute
                )
            )
        if done is not None and done >= count:
            return
        await asyncio.sleep(0.25)
    raise SystemExit(f"only {done} of {count} assignments evaluated minute {minute} within {within:.0f} s")


async def close_minute(
    fake: TimedFake, pairs: list[str], prices: dict[str, float], minute: int, move: float
) -> dict[str, int]:
    """Send `minute`'s final candle of every pair (moved by `move`), then the next minute's first
    frame, which closes it. Returns when each pair's closing frame left."""
    sent: dict[str, int] = {}
    for pair in pairs:
        prices[pair] *= 1 + move
        p = round(prices[pair], 6)
        await fake.push_candle(f"t{pair}", wire_row(minute, p, p, p, p, 1.0))
    for pair in pairs:
        p = round(prices[pair], 6)
        sent[pair] = now_ms()
        await fake.push_candle(f"t{pair}", wire_row(minute + MINUTE_MS, p, p, p, p, 0.5))
    return sent


async def settled_orders(engine: AsyncEngine, minute: int, quiet_s: float, within_s: float) -> None:
    """Wait until no paper order for `minute` was added or changed for `quiet_s` (at most
    `within_s`). Orders on the fake exchange are paced by the keys' rate limits: those that
    reached it by then are measured."""
    deadline, last, since = time.monotonic() + within_s, (-1, -1), time.monotonic()
    query = (
        select(func.count(OrderRow.id), func.max(OrderRow.updated_ms))
        .join(TradingAccountRow, TradingAccountRow.id == OrderRow.account_id)
        .where(OrderRow.candle_time_ms == minute, TradingAccountRow.kind == "paper")
    )
    while time.monotonic() < deadline:
        async with AsyncSession(engine) as session:
            now = tuple((await session.execute(query)).one())
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        await asyncio.sleep(0.5)


async def measure(
    engine: AsyncEngine,
    fake: TimedFake,
    clock: IntentClock,
    minute: int,
    sent: dict[str, int],
    settle_s: float,
) -> str:
    async with AsyncSession(engine) as session:  # now: the next minute will close by time later
        evaluated = (
            await session.execute(
                select(AssignmentRow.id, AssignmentRow.symbol, AssignmentRow.last_eval_ms).where(
                    AssignmentRow.enabled, AssignmentRow.last_eval_candle_ms == minute
                )
            )
        ).all()
    await asyncio.sleep(1)
    await settled_orders(engine, minute, quiet_s=settle_s, within_s=60)
    async with AsyncSession(engine) as session:
        orders = (
            await session.execute(
                select(
                    OrderRow.id,
                    OrderRow.symbol,
                    OrderRow.client_order_id,
                    OrderRow.account_id,
                    OrderRow.status,
                    OrderRow.updated_ms,
                    OrderRow.leg,
                ).where(OrderRow.candle_time_ms == minute)
            )
        ).all()
        changed_ids = (
            await session.execute(
                select(DecisionRow.assignment_id, AssignmentRow.symbol)
                .join(AssignmentRow, AssignmentRow.id == DecisionRow.assignment_id)
                .where(DecisionRow.candle_time_ms == minute, ~DecisionRow.stale)
            )
        ).all()
        paper = set(
            (
                await session.scalars(select(TradingAccountRow.id).where(TradingAccountRow.kind == "paper"))
            ).all()
        )
        paper_assignments = set(
            (await session.scalars(select(AssignmentRow.id).where(AssignmentRow.account_id.in_(paper)))).all()
        )
    by_symbol = {symbol(p): t for p, t in sent.items()}
    decided = [row.last_eval_ms - by_symbol[row.symbol] for row in evaluated if row.last_eval_ms]
    published = [
        clock.seen_ms[(aid, minute)] - by_symbol[sym]
        for aid, sym in changed_ids
        if (aid, minute) in clock.seen_ms
    ]
    on_paper, on_fake = [], []
    for o in orders:
        if o.leg != 0 or o.status != "filled":
            continue
        at = o.updated_ms if o.account_id in paper else fake.submitted_ms.get(o.client_order_id)
        if at is not None:
            (on_paper if o.account_id in paper else on_fake).append(at - by_symbol[o.symbol])
    span_s = max(max(decided, default=0), 1) / 1000  # from the first closing frame to the last record
    rate = len(decided) / span_s
    changed = len(changed_ids)
    fake_changed = changed - sum(1 for aid, _ in changed_ids if aid in paper_assignments)
    return (
        f"  evaluated {len(decided):>6,}  {percentiles(decided)}  ({rate:,.0f} evaluations/s)\n"
        f"  decided   {len(published):>6,}  {percentiles(published)}  (intent on the bus)\n"
        f"  orders    {len(on_paper) + len(on_fake):>6,}  {percentiles(on_paper + on_fake)}  (first legs"
        f" filled, of {changed:,} decisions to change)\n"
        f"    paper   {len(on_paper):>6,}  {percentiles(on_paper)}  (recorded with its fill)\n"
        f"    fake    {len(on_fake):>6,}  {percentiles(on_fake)}  (of {fake_changed} reached the fake"
        " Bitfinex while paper settled; 5 keys sharing Bitfinex's 90 requests a minute)"
    )


async def main(database: str | None) -> None:
    folder = Path(tempfile.mkdtemp(prefix="tw-pipeline-"))
    url = database or f"sqlite:///{folder / 'tw.db'}"
    os.environ[KEY_ENV] = Fernet.generate_key().decode()
    box = SecretBox.load(folder)
    pairs = generated_pairs(PAIRS)
    await upgrade_schema(url)
    engine = create_engine(url)
    minute0 = now_ms() - now_ms() % MINUTE_MS
    history_start = minute0 - HISTORY * MINUTE_MS
    prices = await seed(engine, pairs, box, history_start)
    fake = TimedFake(extra_pairs=PAIRS)
    for pair in pairs:
        fake.set_price(f"t{pair}", str(prices[pair]))
    for number in range(EXCHANGE_ACCOUNTS):
        fake.add_account(f"key-{number}", f"secret-{number}")
        fake.set_wallet(f"key-{number}", "USD", "100000")
        for pair in pairs:
            fake.set_wallet(f"key-{number}", pair[:-3], "0")
    await fake.start()
    with EmbeddedNatsServer(folder / "nats") as server:
        clock = IntentClock()
        watcher = await nats.connect(server.url)
        await watcher.subscribe(subjects.ALL_ORDER_INTENTS, cb=clock.on_message)
        env = {
            **os.environ,
            **fake.env(),
            "TRADEWINDS_NATS_URL": server.url,
            "TRADEWINDS_DATABASE_URL": url,
            "TRADEWINDS_HOME": str(folder / "home"),
        }
        logs = folder / "logs"
        logs.mkdir()

        def start(name: str, *args: str) -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [*TRADEWINDS, *args],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=(logs / f"{name}.log").open("wb"),
            )

        children = [start("core", "core"), start("eval-1", "eval")]
        await asyncio.sleep(4)
        symbols = ",".join(symbol(p) for p in pairs)
        children.append(start("exchange", "exchange", "bitfinex", "--symbols", symbols))
        print(f"{PAIRS} pairs, {PAIRS * PER_PAIR:,} assignments; logs in {logs}", flush=True)
        try:
            minute = minute0
            # Warm-up: every strategy compiled and every window loaded, no position changes.
            for pair in pairs:
                p = round(prices[pair], 6)
                await fake.push_candle(f"t{pair}", wire_row(minute, p, p, p, p, 1.0))
            await asyncio.sleep(15)
            await close_minute(fake, pairs, prices, minute, 0.0)
            await wait_for(engine, minute, PAIRS * PER_PAIR, 240)
            workers = 1
            for move, want in ((0.03, 1), (-0.06, 2), (0.06, 4)):
                while workers < want:
                    workers += 1
                    children.append(start(f"eval-{workers}", "eval"))
                await asyncio.sleep(8)
                # The minute now running: one the core has not closed by time while earlier
                # rounds' exchange orders were still paced out.
                minute = max(minute + MINUTE_MS, now_ms() - now_ms() % MINUTE_MS)
                sent = await close_minute(fake, pairs, prices, minute, move)
                await wait_for(engine, minute, PAIRS * PER_PAIR, 120)
                print(f"{workers} worker{'s' if workers > 1 else ''}, close {move:+.0%}:", flush=True)
                print(await measure(engine, fake, clock, minute, sent, settle_s=4), flush=True)
            # Quiet: one assignment alone.
            async with AsyncSession(engine) as session, session.begin():
                # An SMA band on paper, moved against its position: it changes, and trades.
                one, target = (
                    await session.execute(
                        select(AssignmentRow.id, AssignmentRow.target)
                        .join(StrategyVersionRow, StrategyVersionRow.id == AssignmentRow.version_id)
                        .join(StrategyRow, StrategyRow.id == StrategyVersionRow.strategy_id)
                        .join(TradingAccountRow, TradingAccountRow.id == AssignmentRow.account_id)
                        .where(
                            AssignmentRow.symbol == symbol(pairs[0]),
                            StrategyRow.name == "sma-band",
                            TradingAccountRow.kind == "paper",
                        )
                        .limit(1)
                    )
                ).one()
                await session.execute(
                    update(AssignmentRow).where(AssignmentRow.id != one).values(enabled=False)
                )
            bus = await nats.connect(server.url)
            await bus.publish(
                subjects.ASSIGNMENTS_CHANGED, codec.encode(AssignmentChanged(reason="benchmark"))
            )
            await bus.close()
            await asyncio.sleep(10)
            minute = max(minute + MINUTE_MS, now_ms() - now_ms() % MINUTE_MS)
            sent = await close_minute(fake, pairs[:1], prices, minute, -0.06 if target == "long" else 0.06)
            await wait_for(engine, minute, 1, 60)
            print("one assignment, quiet system:", flush=True)
            print(await measure(engine, fake, clock, minute, sent, settle_s=3), flush=True)
        finally:
            for child in children:
                child.terminate()
            for child in children:
                try:
                    child.wait(timeout=30)
                except subprocess.TimeoutExpired:  # still working off a backlog of intents
                    child.kill()
                    child.wait()
            await fake.stop()
            await watcher.close()
            await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", help="database URL (default: a new SQLite file)")
    asyncio.run(main(parser.parse_args().database))
