"""Restart safety on Bitfinex (issue 9): the fake Bitfinex (a thread of this test process) streams
three markets, pushed by the test a minute every few seconds from two minutes in the past to a few
ahead of the clock (a replay faster than the clock), up and down 2 % each minute so that fast
EMA-cross strategies change position at every close. Assignments trade on an account on the fake
exchange itself (its API key on the fake, its wallet funded) and on a paper account, all on
`bitfinex` markets, so both execution paths run in one `tradewinds exchange bitfinex` process.
While they trade, each component is killed with -9 in turn and started again: nats-server, the
core (with its decision service), a worker, the exchange adapter (mid-trade: an order executed on
the fake, its reply still on its way). A lost reply is thrown in as well. Afterwards:

- no closed candle was skipped: every minute of the stream was stored and published once to
  CANDLES, the decision service's durable consumer acknowledged every close (it acknowledges only
  after the evaluations and decisions are recorded), and every assignment evaluated its market's
  last close, and holds what it said there;
- no decision was executed twice: no client order id reached the fake exchange twice, what was
  recorded as filled is exactly what the fake executed, no paper intent has two filled orders and
  no exchange intent more than a first order and the remainder it left, no slice ever spent (much)
  more than it had;
- none was lost: every intent was executed and acknowledged, every decision has its orders, or was
  noted (superseded, nothing to do), or found its slice already holding its target;
- the exchange account's positions replayed from the recorded fills (domain.ledger.replay) equal
  the fake's wallets (every base currency and the quote), and each paper slice's replayed base
  equals what the paper account holds, which never went below zero.

About 2 minutes.
"""

from __future__ import annotations

import asyncio
import json
import math
import signal
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.e2e.processes import NatsServer, Processes, platform, wait_until
from tests.e2e.test_bitfinex_processes import ServedFake
from tests.e2e.test_restart_safety import stream_state
from tests.exchange.fake_bitfinex import wire_row
from tradewinds.bus import subjects
from tradewinds.domain.candles import SeriesKey
from tradewinds.domain.ledger import LedgerFill, SliceBook, replay
from tradewinds.domain.timeframes import MINUTE_MS, Timeframe
from tradewinds.storage.accounts import add_exchange_account, add_paper_account
from tradewinds.storage.assignments import add_assignment
from tradewinds.storage.candles import CandleStore
from tradewinds.storage.database import create_engine
from tradewinds.storage.secrets import SecretBox
from tradewinds.storage.strategies import save_strategy
from tradewinds.storage.trading_models import (
    AssignmentRow,
    DecisionRow,
    FillRow,
    OrderRow,
    TradingAccountRow,
)
from tradewinds.storage.users import add_user

pytestmark = pytest.mark.slow

# symbol -> (Bitfinex id, price level, decimals of its prices)
MARKETS = {
    "BTC/USD": ("tBTCUSD", 30_000.0, 1),
    "ETH/USD": ("tETHUSD", 2_000.0, 2),
    "AVAX/USD": ("tAVAX:USD", 20.0, 3),
}
FAST_CROSS = (
    "local f = ta.ema(param('fast', 3)) local s = ta.ema(param('slow', 8))\n"
    'if f() > s() then return "long" else return "short" end'
)
EXCHANGE_PARAMS = ({"fast": 2, "slow": 5}, {"fast": 3, "slow": 8})  # two slices per market
PAPER_PARAMS = {"fast": 2, "slow": 5}  # one slice per market: the account's base is the slice's
ALLOCATION = Decimal(1_000)
WALLET_USD = Decimal(10_000)
API_KEY, API_SECRET = "restart-key", "restart-secret"
SECRET_KEY = Fernet.generate_key().decode()
HISTORY = 30  # closed minutes the fake holds before the stream starts
PACE_S = 7.0  # while waiting for trades, a new minute at most this often
AHEAD = 4  # minutes the stream may run ahead of the clock (the core refuses more than 5)
EXECUTION_CONSUMER = "execution-bitfinex"
DUST_USD = Decimal(1)  # what a rounded sale may leave behind


def minute_now() -> int:
    now = time.time_ns() // 1_000_000
    return now - now % MINUTE_MS


def price(symbol: str, minute: int) -> float:
    """Up and down by 2 % each minute, with a slow drift: fast and slow EMAs cross at every close."""
    _, level, decimals = MARKETS[symbol]
    drift = 0.005 * math.sin(minute / 7 + list(MARKETS).index(symbol))
    return float(round(level * (1 + 0.02 * (-1) ** minute + drift), decimals))


def row(symbol: str, time_ms: int) -> list[float]:
    minute = time_ms // MINUTE_MS
    open_, close = price(symbol, minute - 1), price(symbol, minute)
    step = 10 ** -MARKETS[symbol][2]
    return wire_row(time_ms, open_, max(open_, close) + step, min(open_, close) - step, close, 1.0)


class Market:
    """The fake's market: one final candle per market and minute, pushed by the test minute after
    minute from `first` on; each minute closes when the next one arrives.

    It starts two minutes in the past and runs ahead of the clock (as far as the core accepts), as
    a replay faster than the clock: minutes further in the past would be over by the clock at once,
    and so would their rollups (a 5m close before its minutes makes the decisions on them stale)."""

    def __init__(self, fake: ServedFake) -> None:
        self.fake = fake
        self.first = minute_now() - 2 * MINUTE_MS
        self.next = self.first
        self.pushed_at = 0.0

    def load_history(self) -> None:
        def load() -> None:
            for symbol, (symbol_id, _, _) in MARKETS.items():
                times = range(self.first - HISTORY * MINUTE_MS, self.first, MINUTE_MS)
                self.fake.server.load_rows(symbol_id, "1m", [row(symbol, t) for t in times])
                self.fake.server.set_price(symbol_id, str(price(symbol, self.first // MINUTE_MS - 1)))

        self.fake.call(load)

    def push(self) -> bool:
        """The next minute, if the clock allows it yet."""
        if self.next > minute_now() + AHEAD * MINUTE_MS:
            return False
        self.fake.run(self._push(self.next))
        self.next += MINUTE_MS
        self.pushed_at = time.monotonic()
        return True

    async def _push(self, time_ms: int) -> None:
        server = self.fake.server
        server.now_ms = int(time.time() * 1000)  # the venue dates its orders by its own clock
        for symbol, (symbol_id, _, _) in MARKETS.items():
            await server.push_candle(symbol_id, row(symbol, time_ms))


@pytest.fixture
def processes(tmp_path: Path, nats_server_in_place: NatsServer, fake: ServedFake) -> Iterator[Processes]:
    yield from platform(
        tmp_path,
        nats_server_in_place.url,
        extra_env={**fake.server.env(), "TRADEWINDS_SECRET_KEY": SECRET_KEY},
    )


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def seed(url: str) -> None:
    engine = create_engine(url)
    try:
        user = await add_user(engine, "restarts@example.com", "a long enough password")
        await save_strategy(engine, user, "fast-cross", FAST_CROSS)
        box = SecretBox([SECRET_KEY.encode()], "test")
        await add_exchange_account(engine, user, "fake", "bitfinex", API_KEY, API_SECRET, box)
        await add_paper_account(engine, user, "paper", {"USD": ALLOCATION * len(MARKETS)})
        for symbol in MARKETS:
            for params in EXCHANGE_PARAMS:
                await add_assignment(
                    engine, user, strategy="fast-cross", exchange="bitfinex", symbol=symbol,
                    timeframe="1m", account="fake", allocation=ALLOCATION, params=dict(params),
                )  # fmt: skip
            await add_assignment(
                engine, user, strategy="fast-cross", exchange="bitfinex", symbol=symbol,
                timeframe="1m", account="paper", allocation=ALLOCATION, params=dict(PAPER_PARAMS),
            )  # fmt: skip
    finally:
        await engine.dispose()


Records = tuple[
    list[TradingAccountRow], list[AssignmentRow], list[DecisionRow], list[OrderRow], list[FillRow]
]


async def _records(url: str) -> Records:
    engine = create_engine(url)
    try:
        async with AsyncSession(engine) as session:
            return (
                list((await session.scalars(select(TradingAccountRow))).all()),
                list((await session.scalars(select(AssignmentRow))).all()),
                list((await session.scalars(select(DecisionRow))).all()),
                list((await session.scalars(select(OrderRow).order_by(OrderRow.id))).all()),
                list((await session.scalars(select(FillRow).order_by(FillRow.time_ms, FillRow.id))).all()),
            )
    finally:
        await engine.dispose()


def records(url: str) -> Records:
    result: Records = run(_records(url))
    return result


def filled(url: str) -> Counter[str]:
    """Filled orders per account kind."""
    accounts, _, _, orders, _ = records(url)
    kind = {a.id: a.kind for a in accounts}
    return Counter(kind[o.account_id] for o in orders if o.status == "filled")


async def _intents_state(url: str) -> tuple[int, int]:
    client = await nats.connect(url)
    try:
        consumer = await client.jetstream().consumer_info(subjects.ORDERS_STREAM, EXECUTION_CONSUMER)
        return consumer.num_pending or 0, consumer.num_ack_pending or 0
    finally:
        await client.close()


async def _stored_minutes(url: str, symbol: str) -> list[int]:
    engine = create_engine(url)
    try:
        key = SeriesKey("bitfinex", symbol, Timeframe.M1)
        return [int(t) for t in (await CandleStore(engine).range_arrays(key, None, None)).time]
    finally:
        await engine.dispose()


def submitted_cids(fake: ServedFake) -> list[int]:
    """The client order id of every submit that reached the fake (refused ones included)."""
    bodies = [r.body for r in fake.call(lambda: fake.server.requests_to("/v2/auth/w/order/submit"))]
    return [json.loads(body)["cid"] for body in bodies if body]


def book_of(a: AssignmentRow, fills: list[LedgerFill]) -> SliceBook:
    base, quote = a.symbol.split("/")
    return replay(a.allocation, base, quote, fills)


def ledger(fills: list[FillRow], assignment_id: int) -> list[LedgerFill]:
    return [
        LedgerFill(f.side, f.amount, f.price, f.fee, f.fee_currency, f.time_ms)
        for f in fills
        if f.assignment_id == assignment_id
    ]


def test_killing_each_component_on_bitfinex_loses_and_doubles_nothing(
    processes: Processes, nats_server_in_place: NatsServer, fake: ServedFake
) -> None:
    url = processes.env["TRADEWINDS_DATABASE_URL"]
    nats_url = nats_server_in_place.url
    server = fake.server

    def prepare() -> None:
        server.add_account(API_KEY, API_SECRET)
        server.set_wallet(API_KEY, "USD", str(WALLET_USD))

    fake.call(prepare)
    run(seed(url))
    market = Market(fake)
    market.load_history()

    symbols = ",".join(MARKETS)
    processes.start("core", "core", "--grace", "1")
    processes.start("eval-1", "eval")
    processes.start("eval-2", "eval")
    wait_until(processes, "the core", lambda: "core: listening on" in processes.log("core"), 60)
    processes.start("exchange", "exchange", "bitfinex", "--symbols", symbols)

    def channels() -> int:
        return int(fake.call(lambda: server.channel_count))

    wait_until(processes, "the subscriptions", lambda: channels() == len(MARKETS), 60)
    wait_until(
        processes, "execution to start", lambda: "executing order intents" in processes.log("exchange"), 60
    )

    def trading(what: str, condition: Callable[[], bool], within: float = 120) -> None:
        """Wait for `condition` while the market goes on, a minute every PACE_S at most."""
        deadline = time.monotonic() + within
        while not condition():
            processes.check_alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {within:.0f} s for {what}\n{processes.logs()}")
            if time.monotonic() - market.pushed_at >= PACE_S:
                market.push()
            time.sleep(0.2)

    def progressed(before: Counter[str]) -> Callable[[], bool]:
        """Both execution paths filled a new order since `before`."""

        def check() -> bool:
            now = filled(url)
            return now["exchange"] > before["exchange"] and now["paper"] > before["paper"]

        return check

    trading("the first filled orders", progressed(Counter()))

    def kill(name: str) -> Counter[str]:
        process = processes.running[name]
        process.send_signal(signal.SIGKILL)
        process.wait()
        return filled(url)

    def logged(name: str, text: str) -> Callable[[], int]:
        return lambda: processes.log(name).count(text)

    def back(name: str, count: Callable[[], int], before: int) -> None:
        """Wait, pushing nothing, until `name` has said once more that it is ready."""
        wait_until(processes, f"{name} to be back", lambda: count() > before, 60)

    def kill_and_restart(name: str, *args: str, ready: str, push_while_down: bool = True) -> None:
        readiness = logged(name, ready)
        ready_before = readiness()
        before = kill(name)
        if push_while_down:
            market.push()  # a minute closes while it is down
        processes.start(name, *args)
        back(name, readiness, ready_before)
        trading(f"trading to go on after {name} was killed", progressed(before))

    # Nothing is pushed while the bus or the core is down, nor until what was restarted is back
    # (reconnected, subscribed): the core would get the minutes it missed from the adapter's REST
    # backfill, which leaves out a minute that is not over by the clock (right for the real venue,
    # where no minute ends ahead of the clock; this market runs ahead of it, and a minute pushed
    # too early went missing from the stored stream). Trading goes on across the kill all the
    # same: decisions and orders in flight.
    reconnects = {name: logged(name, "reconnected to") for name in ("core", "exchange")}
    reconnects_before = {name: reconnected() for name, reconnected in reconnects.items()}
    nats_server_in_place.kill()
    before = filled(url)
    time.sleep(1.0)  # down for a moment
    nats_server_in_place.start()
    for name, reconnected in reconnects.items():
        back(name, reconnected, reconnects_before[name])
    trading("trading to go on after nats-server was killed", progressed(before))

    kill_and_restart("core", "core", "--grace", "1", ready="core: listening on", push_while_down=False)

    # A reply lost on the way back: the adapter must look the order up before sending it again.
    fake.call(lambda: setattr(server, "lose_replies", 1))
    trading("a lost reply", lambda: "looking it up" in processes.log("exchange"))

    kill_and_restart("eval-1", "eval", ready="takes requests")

    # The adapter killed mid-trade: an order executed on the fake, its reply held back.
    executed_before = len(fake.call(lambda: server.executed_orders(API_KEY)))
    fake.call(lambda: setattr(server, "reply_delay_s", 8.0))
    trading(
        "an order to execute",
        lambda: len(fake.call(lambda: server.executed_orders(API_KEY))) > executed_before,
    )
    before = kill("exchange")
    fake.call(lambda: setattr(server, "reply_delay_s", 0.0))
    newest_cid = fake.call(lambda: server.executed_orders(API_KEY))[-1][2]
    in_flight = [o for o in records(url)[3] if o.client_order_id == newest_cid]
    assert [o.status for o in in_flight] == ["pending"], in_flight  # executed, but not known here
    wait_until(processes, "the fake to see the adapter go", lambda: channels() == 0, 30)
    market.push()  # a minute closes while it is down: the restarted adapter's snapshot brings it
    processes.start("exchange", "exchange", "bitfinex", "--symbols", symbols)
    wait_until(processes, "the subscriptions again", lambda: channels() == len(MARKETS), 60)
    trading("trading to go on after exchange was killed", progressed(before))
    assert f"(cid {newest_cid}," in processes.log("exchange"), processes.log("exchange")

    # Everything settles: every close decided on and acknowledged (a close whose acknowledgement a
    # kill lost is delivered again, after the newer ones), every intent executed. Then one more
    # minute closes, the last one every assignment evaluates.
    def settled() -> bool:
        _, pending, unacked, undelivered = run(stream_state(nats_url))
        in_flight = [o for o in records(url)[3] if o.status in ("pending", "open")]
        return (
            (pending, unacked, undelivered) == (0, 0, 0)
            and run(_intents_state(nats_url)) == (0, 0)
            and not in_flight
        )

    wait_until(processes, "every close and intent to be settled", settled, 120)
    newest_before = max(c.candle.time for c in run(stream_state(nats_url))[0] if c.timeframe == "1m")
    trading(
        "one more close",
        lambda: (
            max(c.candle.time for c in run(stream_state(nats_url))[0] if c.timeframe == "1m") > newest_before
        ),
    )

    def final_close_evaluated() -> bool:
        closes = run(stream_state(nats_url))[0]
        newest = {
            s: max(c.candle.time for c in closes if c.symbol == s and c.timeframe == "1m") for s in MARKETS
        }
        return settled() and all(a.last_eval_candle_ms == newest[a.symbol] for a in records(url)[1])

    wait_until(processes, "the last close to be evaluated and executed", final_close_evaluated, 90)
    for name in ("exchange", "core", "eval-1", "eval-2"):
        assert processes.stop(name) == 0, processes.log(name)
    for name in ("exchange", "core", "eval-1", "eval-2"):
        processes.running.pop(name)

    closes, pending, unacked, undelivered = run(stream_state(nats_url))
    accounts, assignments, decisions, orders, fills = records(url)
    logs = processes.logs()

    # No closed candle skipped: each close published once, every stored minute of the stream
    # published, every one decided on and acknowledged, every assignment at its market's last.
    keys = [(c.symbol, c.timeframe, c.candle.time) for c in closes]
    assert len(keys) == len(set(keys)), [k for k, n in Counter(keys).items() if n > 1]
    assert (pending, unacked, undelivered) == (0, 0, 0), logs
    for symbol in MARKETS:
        published = {c.candle.time for c in closes if c.symbol == symbol and c.timeframe == "1m"}
        last = max(published)
        stored = [t for t in run(_stored_minutes(url, symbol)) if market.first <= t <= last]
        assert stored == list(range(market.first, last + MINUTE_MS, MINUTE_MS)), symbol
        assert set(stored) <= published, (symbol, sorted(set(stored) - published))
    newest = {s: max(c.candle.time for c in closes if c.symbol == s and c.timeframe == "1m") for s in MARKETS}
    for a in assignments:
        assert a.last_eval_candle_ms == newest[a.symbol], (a.id, a.last_eval_candle_ms, newest)

    # No decision executed twice: each client order id reached the fake once, and what the fake
    # executed is exactly what was recorded as filled.
    kind = {a.id: a.kind for a in accounts}
    by_intent: dict[str, list[OrderRow]] = defaultdict(list)
    for o in orders:
        by_intent[o.intent_id].append(o)
    cids = submitted_cids(fake)
    assert len(cids) == len(set(cids)), [c for c, n in Counter(cids).items() if n > 1]
    executed = fake.call(lambda: [list(o) for o in server.executed_orders(API_KEY)])
    on_exchange = [o for o in orders if kind[o.account_id] == "exchange" and o.status == "filled"]
    assert sorted(int(o.exchange_order_id or 0) for o in on_exchange) == sorted(o[0] for o in executed)
    assert sorted(o.client_order_id for o in on_exchange) == sorted(o[2] for o in executed)
    # An exchange buy may take a second leg for what the first left (its reserve for fees and
    # price moves); a paper order fills at once, one per intent.
    filled_per_intent = Counter(o.intent_id for o in orders if o.status == "filled")
    assert max(n for i, n in filled_per_intent.items() if kind[by_intent[i][0].account_id] == "paper") == 1
    assert max(filled_per_intent.values()) <= 3, filled_per_intent
    assert {o.status for o in orders} <= {"filled", "canceled"}, Counter(o.status for o in orders)
    assert sum(filled_per_intent.values()) >= 12, filled_per_intent  # trading went on throughout

    # None lost: walking each assignment's decisions in candle order, a decision either filled
    # (the slice then holds its target), or was noted (superseded, nothing to do), or found the
    # slice already holding its target (the one before it was superseded).
    live = sorted((d for d in decisions if not d.stale), key=lambda d: d.candle_time_ms)
    assert {d.intent_id for d in live} >= set(by_intent), "an order without a decision"
    for a in assignments:
        holds = "short"
        for d in (d for d in live if d.assignment_id == a.id):
            placed = by_intent.get(d.intent_id, [])
            if any(o.status == "filled" for o in placed):
                holds = d.target
            elif not placed:
                assert holds == d.target, (a.id, d.candle_time_ms, d.target, "decision lost")
        book = book_of(a, ledger(fills, a.id))
        price_now = Decimal(str(price(a.symbol, newest[a.symbol] // MINUTE_MS)))
        replayed = "long" if book.base * price_now > DUST_USD else "short"
        assert replayed == holds == a.target, (a.id, book, holds, a.target)
        # The last close was evaluated fresh: what the strategy said is what the slice holds.
        assert a.last_eval_target == a.target, (a.id, a.last_eval_outcome, a.last_eval_target, a.target)

    # The exchange account: what its slices hold, replayed from the recorded fills, is what the
    # fake's wallets hold (they started with USD only).
    wallets = fake.call(lambda: {c: b for (k, c), (b, _) in server.accounts[API_KEY].wallets.items()})
    slices = [a for a in assignments if kind[a.account_id] == "exchange"]
    # Never spent much more than it had (a buy executed twice would spend twice): a market order
    # sized at the last streamed price may fill at the next minute's, up to 4 % higher.
    for a in slices:
        exchange_fills = ledger(fills, a.id)
        for count in range(1, len(exchange_fills) + 1):
            book = book_of(a, exchange_fills[:count])
            assert book.quote >= -a.allocation / 10 and book.base >= 0, (a.id, count, book)
    quote = WALLET_USD
    for symbol in MARKETS:
        base_currency = symbol.split("/")[0]
        held = Decimal(0)
        for a in (a for a in slices if a.symbol == symbol):
            book = replay(a.allocation, base_currency, "USD", ledger(fills, a.id))
            held += book.base
            quote += book.quote - a.allocation
        assert abs(held - wallets.get(base_currency, Decimal(0))) < Decimal("1e-9"), (symbol, held, wallets)
    assert abs(quote - wallets["USD"]) < Decimal("1e-6"), (quote, wallets)

    # The paper account: each slice's replayed base is what the account holds, and neither the
    # slices nor the account ever spent or sold more than they had.
    (paper,) = [a for a in accounts if a.kind == "paper"]
    holdings: dict[str, Decimal] = defaultdict(Decimal, {"USD": ALLOCATION * len(MARKETS)})
    symbol_of = {a.id: a.symbol for a in assignments}
    for f in fills:
        if f.account_id != paper.id:
            continue
        base_currency, quote_currency = symbol_of[f.assignment_id].split("/")
        sign = 1 if f.side == "buy" else -1
        holdings[base_currency] += sign * f.amount
        holdings[quote_currency] -= sign * f.amount * f.price
        holdings[f.fee_currency or quote_currency] -= f.fee
        assert all(v >= 0 for v in holdings.values()), (f.id, dict(holdings))
    for a in (a for a in assignments if a.account_id == paper.id):
        mine_fills = ledger(fills, a.id)
        for count in range(1, len(mine_fills) + 1):
            book = book_of(a, mine_fills[:count])
            assert book.quote >= 0 and book.base >= 0, (a.id, count, book)
        book = book_of(a, mine_fills)
        assert book.base == holdings[a.symbol.split("/")[0]], (a.id, book, dict(holdings))
