"""ExecutionService: the order intents of one exchange, executed exactly once.

It reads `OrderIntent`s from JetStream (stream ORDERS, a durable consumer per exchange, explicit
acknowledgement); an intent is acknowledged only once its outcome is recorded, and delivered again
later when something was left unknown. Intents of exchange accounts go to the `Executor`: those of
one API key one at a time in the order they arrived (so its requests are signed and sent in order,
with increasing nonces), different keys in parallel, each within its own rate-limit budget (the
adapters' shared limiter). Intents of paper accounts go to the `PaperLane`, each fetched batch in
one transaction, batches one after another in the order they were fetched. On start it first
reconciles every order recorded as pending or open with the exchange. Every order change is
published as an `OrderEvent` on `tw.orders.event.{user_id}`.

Prices come from the candle updates the exchange adapter publishes (`tw.candles.update.{exchange}`),
so the service needs no access to the adapter's internals and runs beside it in any process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import nats.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tradewinds.bus import codec, streams, subjects
from tradewinds.bus.presence import Presence
from tradewinds.domain.messages import CandleUpdate
from tradewinds.domain.trading import AccountKind, AssignmentChanged, OrderIntent
from tradewinds.exchange.adapter import (
    AuthenticationFailed,
    ExchangeAdapter,
    ExchangeError,
    InvalidOrder,
    MarketInfo,
)
from tradewinds.exchange.execution.delivery import Delivery, decode_intents
from tradewinds.exchange.execution.executor import ExecutionSettings, Executor, Outcome
from tradewinds.exchange.execution.paper_lane import PaperLane
from tradewinds.exchange.execution.prices import LatestPrices
from tradewinds.exchange.execution.venues import (
    AdapterFactory,
    Venue,
    open_exchange_venue,
)
from tradewinds.exchange.resume import wall_clock_ms
from tradewinds.storage.orders import OrderFields, in_flight_orders, order_event
from tradewinds.storage.secrets import SecretBox
from tradewinds.storage.trading_models import TradingAccountRow

log = logging.getLogger("tradewinds.execution")


@dataclass(frozen=True)
class ServiceSettings:
    execution: ExecutionSettings = field(default_factory=ExecutionSettings)
    ack_wait_s: float = 10.0  # an intent not acknowledged by then (its process died) is delivered again
    retry_delay_s: float = 5.0  # an intent left unknown is delivered again after this
    batch: int = 512  # messages fetched at once (their paper intents: one transaction)
    max_unsettled: int = 2_000  # messages taken and not yet settled: no more are fetched meanwhile


@dataclass
class ExecutionCounters:
    intents: int = 0
    retried: int = 0
    order_events: int = 0
    errors: int = 0


def default_adapter_factory(
    exchange: str, api_key: str, secret: str, passphrase: str | None
) -> ExchangeAdapter:
    from tradewinds.exchange.registry import open_adapter

    return open_adapter(exchange, api_key=api_key, secret=secret)


class ExecutionService:
    """Executes `exchange`'s order intents; `feed` is the exchange's adapter (markets)."""

    def __init__(
        self,
        bus: Any,
        engine: AsyncEngine,
        exchange: str,
        feed: ExchangeAdapter,
        *,
        secrets: SecretBox | None = None,
        adapter_factory: AdapterFactory = default_adapter_factory,
        settings: ServiceSettings | None = None,
        now_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.bus = bus
        self.engine = engine
        self.exchange = exchange
        self.feed = feed
        self.secrets = secrets
        self.adapter_factory = adapter_factory
        self.settings = settings or ServiceSettings()
        self.prices = LatestPrices()
        self.counters = ExecutionCounters()
        self.executor = Executor(
            engine,
            self._venue,
            self._market,
            self.prices,
            self._publish,
            self._pause_account,
            self.settings.execution,
            now_ms,
        )
        self.paper = PaperLane(
            engine,
            self.executor.records,
            self._market,
            self._all_markets,
            self.prices,
            self.settings.execution.max_legs,
        )
        self._paper_turn = asyncio.Lock()  # paper batches run one after another, in fetch order
        self._markets: dict[str, MarketInfo] = {}
        self._exchange_venues: dict[str, Venue] = {}  # by key name (_key_of)
        self._key_names: dict[int, str] = {}  # account id -> key name
        self._kinds: dict[int, str] = {}  # account id -> AccountKind value (it never changes)
        self._deliveries: set[Delivery] = set()  # messages with intents still executing
        self._room = asyncio.Event()  # set when a delivery settles (room to fetch more)
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._consumer: asyncio.Task[None] | None = None
        self._subscription: Any = None
        self._price_sub: Any = None
        self._presence: Presence | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._price_sub = await self.bus.subscribe(subjects.candle_updates(self.exchange), cb=self._on_update)
        js = self.bus.jetstream()
        await streams.ensure_stream(js, streams.ORDERS)
        await self.reconcile()
        subscription = await js.pull_subscribe(
            subjects.order_intents(self.exchange),
            durable=f"execution-{self.exchange}",
            stream=subjects.ORDERS_STREAM,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=self.settings.ack_wait_s,
                max_ack_pending=10_000,
            ),
        )
        self._subscription = subscription
        self._consumer = asyncio.create_task(self._consume(subscription), name=f"execution-{self.exchange}")
        self._presence = Presence(self.bus, component="execution", stats=self._stats)
        await self._presence.start()
        log.info("%s: executing order intents from %s", self.exchange, subjects.order_intents(self.exchange))

    async def stop(self) -> None:
        """Stop taking intents; those being executed finish (an unfinished one is delivered again)."""
        if self._consumer is not None:
            self._consumer.cancel()
            await asyncio.gather(self._consumer, return_exceptions=True)
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.settings.execution.fill_wait_s)
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for delivery in self._deliveries:
            delivery.abandon()
        self._deliveries.clear()
        if self._presence is not None:
            await self._presence.stop()
        if self._price_sub is not None:
            with contextlib.suppress(Exception):
                await self._price_sub.unsubscribe()
        for venue in self._exchange_venues.values():
            with contextlib.suppress(Exception):
                await venue.close()
        self._exchange_venues.clear()

    def _stats(self) -> dict[str, int]:
        c = self.counters
        return {
            "intents": c.intents,
            "retried": c.retried,
            "order_events": c.order_events,
            "errors": c.errors,
        }

    # ------------------------------------------------------------------ reconciliation

    async def reconcile(self) -> int:
        """Ask the exchange about every order recorded as in flight; the number asked about."""
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            rows = await in_flight_orders(session, self.exchange)
            accounts = {row.account_id: await session.get(TradingAccountRow, row.account_id) for row in rows}
        for row in rows:
            account = accounts[row.account_id]
            if account is None:
                continue
            async with self._lock(self._key_of(account)):
                venue = await self._venue(account)
                settled = await self.executor.settle_recorded(venue, row)
            state = "unknown (exchange unreachable)" if settled is None else settled.status
            log.info(
                "reconciled order %d (cid %d, %s %s %s): %s",
                row.id,
                row.client_order_id,
                row.side,
                row.amount,
                row.symbol,
                state,
            )
        return len(rows)

    # ------------------------------------------------------------------ intents

    async def _consume(self, subscription: Any) -> None:
        # Exchange intents wait for their key's turn (its rate-limit budget): they never hold up
        # fetching, or paper intents would wait behind a slow key.
        paper_slots = asyncio.Semaphore(2)  # one batch recording, the next one ready
        while True:
            while len(self._deliveries) >= self.settings.max_unsettled:
                self._room.clear()
                await self._room.wait()
            try:
                messages = await subscription.fetch(self.settings.batch, timeout=1.0)
            except (TimeoutError, nats.errors.TimeoutError):  # nats-py raises either when idle
                continue
            except (nats.errors.ConnectionClosedError, nats.errors.ConnectionReconnectingError) as exc:
                log.warning("%s: intents cannot be fetched now (%s)", self.exchange, exc)
                await asyncio.sleep(1.0)
                continue
            deliveries = [d for d in [await self._delivery(msg) for msg in messages] if d is not None]
            items = [(intent, delivery) for delivery in deliveries for intent in delivery.intents]
            try:
                paper = await self._paper_accounts({intent.account_id for intent, _ in items})
            except Exception as exc:  # the database is away: every intent is delivered again
                log.warning("%s: accounts cannot be read now (%s)", self.exchange, exc)
                for delivery in deliveries:
                    await delivery.hand_back()
                continue
            on_paper = [item for item in items if item[0].account_id in paper]
            if on_paper:
                await paper_slots.acquire()
                self._spawn(self._handle_paper(on_paper), paper_slots)
            for intent, delivery in items:
                if intent.account_id not in paper:
                    self._spawn(self._handle(intent, delivery))

    def _spawn(self, work: Any, slots: asyncio.Semaphore | None = None) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if slots is not None:
            task.add_done_callback(lambda _t: slots.release())

    async def _delivery(self, msg: Any) -> Delivery | None:
        try:
            intents = decode_intents(msg.data)
        except msgspec.DecodeError as exc:
            log.error("%s: an order intent that does not decode was dropped: %s", self.exchange, exc)
            await msg.term()
            return None
        if not intents:
            with contextlib.suppress(Exception):
                await msg.ack()
            return None
        self.counters.intents += len(intents)
        delivery = Delivery(msg, intents, self.settings.ack_wait_s, self.settings.retry_delay_s)
        self._deliveries.add(delivery)
        return delivery

    async def _paper_accounts(self, account_ids: set[int]) -> set[int]:
        """Which of the accounts are paper accounts (one that is not in the database is not)."""
        unknown = [a for a in account_ids if a not in self._kinds]
        if unknown:
            async with AsyncSession(self.engine) as session:
                query = select(TradingAccountRow.id, TradingAccountRow.kind)
                rows = await session.execute(query.where(TradingAccountRow.id.in_(unknown)))
                self._kinds.update({int(a): str(kind) for a, kind in rows.all()})
        return {a for a in account_ids if self._kinds.get(a) == AccountKind.PAPER.value}

    async def _handle_paper(self, items: list[tuple[OrderIntent, Delivery]]) -> None:
        """A batch of paper intents, recorded in one transaction (or not at all: delivered again)."""
        try:
            async with self._paper_turn:
                outcomes = await self.paper.execute([intent for intent, _ in items], self.executor)
        except Exception:  # the database failed (nothing of the batch is recorded)
            self.counters.errors += 1
            log.exception("%d paper intents failed; they will be delivered again", len(items))
            outcomes = [Outcome.RETRY] * len(items)
        for (_, delivery), outcome in zip(items, outcomes, strict=True):
            await self._settle(delivery, outcome)

    async def _handle(self, intent: OrderIntent, delivery: Delivery) -> None:
        try:
            # The assignment's lock is taken before any other await, in the order intents arrive,
            # so one assignment's decisions execute in order; then its key's (one at a time per key).
            async with (
                self._lock(f"assignment:{intent.assignment_id}"),
                await self._lock_for(intent.account_id),
            ):
                outcome = await self._execute(intent)
        except Exception:  # the account cannot even be read (database down, a wrong secret key)
            self.counters.errors += 1
            log.exception("intent %s failed; it will be delivered again", intent.intent_id)
            outcome = Outcome.RETRY
        await self._settle(delivery, outcome)

    async def _settle(self, delivery: Delivery, outcome: Outcome) -> None:
        if outcome is Outcome.RETRY:
            self.counters.retried += 1
        await delivery.settle(outcome)
        if delivery.finished:
            self._deliveries.discard(delivery)
            self._room.set()

    async def _execute(self, intent: OrderIntent) -> Outcome:
        try:
            return await self.executor.execute(intent)
        except InvalidOrder as exc:  # the market is gone: nothing can be placed for this decision
            log.error("intent %s: %s", intent.intent_id, exc)
            await self.executor.note_unplaceable(intent, str(exc))
            return Outcome.DONE
        except AuthenticationFailed as exc:  # the keys were refused (reading balances, say)
            account = await self._account(intent.account_id)
            if account is not None:  # paused first: whoever sees the order sees the pause too
                await self._pause_account(account, str(exc))
            await self.executor.note_unplaceable(intent, str(exc))
            return Outcome.DONE
        except ExchangeError as exc:  # unreachable, maintenance, rate limited: later
            self.counters.errors += 1
            log.warning("intent %s: %s; it will be delivered again", intent.intent_id, exc)
            return Outcome.RETRY
        except Exception:
            self.counters.errors += 1
            log.exception("intent %s failed; it will be delivered again", intent.intent_id)
            return Outcome.RETRY

    async def _account(self, account_id: int) -> TradingAccountRow | None:
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            return await session.get(TradingAccountRow, account_id)

    def _key_of(self, account: TradingAccountRow) -> str:
        """What orders are serialised by: the API key (accounts sharing a key share its nonces and
        its budget), or the paper account."""
        known = self._key_names.get(account.id)
        if known is not None:
            return known
        name = f"account:{account.id}"
        if account.kind == AccountKind.EXCHANGE.value and account.api_key_enc and self.secrets is not None:
            api_key = self.secrets.decrypt(account.api_key_enc)
            name = f"{account.exchange}:key:{hashlib.sha256(api_key.encode()).hexdigest()[:16]}"
        self._key_names[account.id] = name
        return name

    async def _lock_for(self, account_id: int) -> asyncio.Lock:
        known = self._key_names.get(account_id)
        if known is not None:
            return self._lock(known)
        account = await self._account(account_id)
        name = f"account:{account_id}" if account is None else self._key_of(account)
        return self._lock(name)

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    # ------------------------------------------------------------------ what the executor uses

    async def _venue(self, account: TradingAccountRow) -> Venue:
        if account.kind == AccountKind.PAPER.value:
            return await self.paper.venue(account)
        key = self._key_of(account)
        venue = self._exchange_venues.get(key)  # one adapter per key: one nonce sequence
        if venue is None:
            if self.secrets is None:
                raise RuntimeError("exchange accounts need the platform's secret key (SecretBox)")
            venue = open_exchange_venue(
                account, self.secrets, self.adapter_factory, self.settings.execution.exchange_buy_reserve
            )
            self._exchange_venues[key] = venue
        return venue

    async def _all_markets(self) -> dict[str, MarketInfo]:
        if not self._markets:
            self._markets = {m.symbol: m for m in await self.feed.list_markets()}
        return self._markets

    async def _market(self, symbol: str) -> MarketInfo:
        market = (await self._all_markets()).get(symbol)
        if market is None:
            self._markets = {m.symbol: m for m in await self.feed.list_markets()}
            market = self._markets.get(symbol)
        if market is None:
            raise InvalidOrder(f"{self.exchange} no longer lists {symbol}; no order can be placed")
        return market

    async def _publish(self, row: OrderFields) -> None:
        self.counters.order_events += 1
        with contextlib.suppress(Exception):  # watchers only; the records are the truth
            await self.bus.publish(subjects.order_events(row.user_id), codec.encode(order_event(row)))

    async def _pause_account(self, account: TradingAccountRow, reason: str) -> None:
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            current = await session.get(TradingAccountRow, account.id)
            if current is not None:
                current.paused_reason = reason
                await session.commit()
        venue = self._exchange_venues.pop(self._key_of(account), None)
        self._key_names.pop(account.id, None)  # new keys may be entered
        if venue is not None:
            with contextlib.suppress(Exception):
                await venue.close()
        log.error("account %d (%s) paused: %s", account.id, account.name, reason)
        change = AssignmentChanged(user_id=account.user_id, reason=f"account {account.name} paused: {reason}")
        with contextlib.suppress(Exception):
            await self.bus.publish(subjects.ASSIGNMENTS_CHANGED, codec.encode(change))

    async def _on_update(self, msg: Any) -> None:
        try:
            self.prices.observe(codec.decode(msg.data, CandleUpdate))
        except msgspec.DecodeError:
            return
