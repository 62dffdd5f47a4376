"""DecisionService: closed candles in, evaluations to the workers, decisions recorded, intents out.

- Closes come from JetStream (stream CANDLES) through the durable consumer `decisions`, so a close
  published while the service was down is handled when it is back. A close is acknowledged only
  after its evaluations and decisions are recorded and its intents published: a crash in between
  redelivers it, and the decisions already recorded are published again (same message id).
- Per close, the assignments due for its market and timeframe get one `EvaluationRequest` (the
  window travels once), sent until a worker answers it (requests.py).
- Closes of one series are handled in order; different series in parallel, and each fetched batch
  of closes in a task of its own while the next batch is fetched (intake.py). Whatever has been
  evaluated is recorded at once (one transaction for all the closes whose replies are in) and its
  intents published, while the other series are still being evaluated: the first orders leave
  before the last strategies have run. One close's intents travel as one `OrderIntents` message.
- Assignments are loaded at start, again on `AssignmentChanged`, and every `reload_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy.ext.asyncio import AsyncEngine

from tradewinds.bus import codec, streams, subjects
from tradewinds.bus.presence import Presence
from tradewinds.core.decision.group_commit import GroupCommit
from tradewinds.core.decision.intake import CloseIntake
from tradewinds.core.decision.markets import MarketsAnnouncer
from tradewinds.core.decision.plan import (
    ExchangeClocks,
    Roster,
    evaluation_request,
    intent_bundles,
    is_stale,
    plan_results,
)
from tradewinds.core.decision.requests import Patience, request_evaluation
from tradewinds.core.decision.sizes import WindowSizes
from tradewinds.core.decision.windows import WindowCache
from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candles import SeriesKey
from tradewinds.domain.messages import CandleUpdate, ClosedCandle
from tradewinds.domain.timeframes import Timeframe
from tradewinds.domain.trading import (
    Assignment,
    EvaluationReply,
)
from tradewinds.eval.window_sizer import WindowSizer
from tradewinds.storage.decisions import (
    CloseRecord,
    RecordedDecision,
    load_enabled_assignments,
    newest_minutes,
    record_closes,
    window_until,
)

log = logging.getLogger("tradewinds.decision")

DURABLE = "decisions"


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class DecisionSettings:
    max_failures: int = 5  # failed evaluations in a row that disable an assignment
    reload_seconds: float = 30.0
    request_timeout_s: float = 10.0  # first attempt; doubles per retry, up to request_timeout_max_s
    request_timeout_max_s: float = 30.0  # below ack_wait_s: JetStream must not redeliver meanwhile
    retry_wait_s: float = 0.5  # after "no responders" (no worker running), doubling up to 10 s
    fetch_batch: int = 256
    concurrent_series: int = 64
    concurrent_batches: int = 16  # tasks handling fetched closes at once (the consumer waits beyond)
    ack_wait_s: float = 60.0  # a close taken by a decision service that died is redelivered after this
    markets_seconds: float = 30.0  # how often the markets wanted are announced to the adapters
    max_window: int = 20_000
    intents_per_message: int = 1_000  # well below NATS's 1 MB payload limit


@dataclass
class DecisionCounters:
    closes: int = 0
    evaluations: int = 0
    decisions: int = 0
    stale: int = 0
    intents: int = 0
    errors: int = 0
    retries: int = 0
    disabled: int = 0


class DecisionService:
    """`start()`, then `stop()`; `run(stop_event)` does both."""

    def __init__(
        self,
        bus: Any,
        engine: AsyncEngine,
        settings: DecisionSettings | None = None,
        sizer: WindowSizer | None = None,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.bus = bus
        self.engine = engine
        self.settings = settings or DecisionSettings()
        self._own_sizer = sizer is None
        self.sizer = sizer or WindowSizer(maximum=self.settings.max_window)
        self._clock = clock
        self.roster = Roster()
        self.clocks = ExchangeClocks()
        self.counters = DecisionCounters()
        self._lock = asyncio.Lock()  # a reload never interleaves with recording a close
        self.sizes = WindowSizes(self.sizer)
        self._reload_now = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._subscriptions: list[Any] = []
        self._pull: Any = None
        self._patience = Patience(
            self.settings.request_timeout_s, self.settings.request_timeout_max_s, self.settings.retry_wait_s
        )
        self._group: GroupCommit[tuple[_Due, EvaluationReply], tuple[_Due, list[RecordedDecision]]]
        self._group = GroupCommit(self._record)
        self._series_slots = asyncio.Semaphore(self.settings.concurrent_series)
        self.markets = MarketsAnnouncer(bus, self.settings.markets_seconds)
        self.windows = WindowCache()
        self.presence = Presence(bus, "decision", self.presence_stats)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        js = self.bus.jetstream()
        await streams.ensure_stream(js, streams.CANDLES)
        await streams.ensure_stream(js, streams.ORDERS)
        started = self._clock()
        for exchange, open_ms in (await newest_minutes(self.engine)).items():
            self.clocks.saw_minute(exchange, open_ms, started)
        await self.reload()
        self._subscriptions = [
            await self.bus.subscribe(subjects.ASSIGNMENTS_CHANGED, cb=self._on_assignments_changed),
            await self.bus.subscribe(subjects.ALL_CANDLE_UPDATES, cb=self._on_candle_update),
        ]
        self._pull = await js.pull_subscribe(
            subjects.ALL_CLOSED_CANDLES,
            durable=DURABLE,
            stream=subjects.CANDLES_STREAM,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                # A first start decides from now on; later starts resume where the durable stopped.
                deliver_policy=DeliverPolicy.NEW,
                ack_wait=self.settings.ack_wait_s,
                max_ack_pending=20_000,
            ),
        )
        await self.bus.flush()
        await self.markets.start(self.roster, self._history_candles)
        await self.presence.start()
        self._tasks = [
            asyncio.create_task(self._intake().run(), name="decision-consume"),
            asyncio.create_task(self._reloads(), name="decision-reload"),
        ]
        log.info("decision: %d enabled assignments; reading closes as durable %r", len(self.roster), DURABLE)

    async def stop(self) -> None:
        """Stop taking closes; a close being handled is finished or left unacknowledged."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._group.finish()
        for subscription in self._subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        if self._pull is not None:
            with contextlib.suppress(Exception):
                await self._pull.unsubscribe()
        await self.markets.stop()
        await self.presence.stop()
        self.sizes.shutdown()
        if self._own_sizer:
            await asyncio.get_running_loop().run_in_executor(None, self.sizer.close)
        log.info("decision: stopped; %s", self.status_line())

    async def run(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

    # -- assignments ----------------------------------------------------------------------

    async def reload(self) -> None:
        async with self._lock:
            assignments = await load_enabled_assignments(self.engine)
            self.roster.replace(assignments)
            self.sizes.keep_only({a.id for a in assignments})
        if self._tasks:  # started: tell the adapters at once if the markets changed
            await self.markets.announce()

    async def _reloads(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reload_now.wait(), self.settings.reload_seconds)
            self._reload_now.clear()
            try:
                await self.reload()
            except Exception as exc:  # the database may be away; the next round tries again
                self.counters.errors += 1
                log.error("decision: reloading assignments failed: %s", exc)

    async def _on_assignments_changed(self, msg: Any) -> None:
        self._reload_now.set()

    async def _on_candle_update(self, msg: Any) -> None:
        try:
            update = codec.decode(msg.data, CandleUpdate)
        except msgspec.DecodeError:
            return
        self.clocks.saw_minute(update.exchange, update.candle.time, self._clock())

    async def _history_candles(self, assignments: list[Assignment]) -> int:
        sizes = [await self.sizes.of(a) for a in assignments]
        return max(sizes, default=0)

    # -- closes ---------------------------------------------------------------------------

    def _intake(self) -> CloseIntake:
        fetch, concurrent = self.settings.fetch_batch, self.settings.concurrent_batches
        return CloseIntake(self._pull, self.handle_closes, self._count_error, fetch, concurrent)

    def _count_error(self) -> None:
        self.counters.errors += 1

    async def handle_close(self, close: ClosedCandle, msg: Any = None) -> list[RecordedDecision]:
        """Evaluate the assignments due at `close`, record what they decided, publish the intents."""
        return await self.handle_closes([(close, msg)])

    async def handle_closes(self, closes: list[tuple[ClosedCandle, Any]]) -> list[RecordedDecision]:
        """Closes of different series: evaluated in parallel; each group of replies that is in is
        recorded in one transaction and its intents published while the rest are evaluated."""
        prepared = [p for p in (self._prepare(close, msg) for close, msg in closes) if p is not None]
        if not prepared:
            return []
        started = time.perf_counter()
        evaluating = {asyncio.create_task(self._evaluate_close(p)): p for p in prepared}
        decided: list[RecordedDecision] = []
        publishing: list[asyncio.Task[None]] = []
        recording_s, commits_before = 0.0, self._group.commits
        try:
            while evaluating:
                done, _ = await asyncio.wait(evaluating, return_when=asyncio.FIRST_COMPLETED)
                ready = [(evaluating.pop(task), task.result()) for task in done]
                before = time.perf_counter()
                recorded = await self._group.record(ready)
                recording_s += time.perf_counter() - before
                for due, decisions in recorded:
                    decided += decisions
                    publishing.append(asyncio.create_task(self._publish_intents(due.close, decisions)))
        except BaseException:
            for task in evaluating:
                task.cancel()
            await asyncio.gather(*evaluating, *publishing, return_exceptions=True)
            raise
        await asyncio.gather(*publishing)  # before the closes are acknowledged
        log.info(
            "decision: %d closes, %d assignments due, %d decisions, in %.0f ms (recording %.0f ms;"
            " %d transactions meanwhile, shared with the other closes being handled)",
            len(prepared),
            sum(len(p.due) for p in prepared),
            sum(1 for d in decided if d.new and not d.stale),
            (time.perf_counter() - started) * 1000,
            recording_s * 1000,
            self._group.commits - commits_before,
        )
        return decided

    async def _record(
        self, ready: list[tuple[_Due, EvaluationReply]]
    ) -> list[tuple[_Due, list[RecordedDecision]]]:
        """Record what the replies decided, in one transaction; per close, its decisions (through
        `self._group`: the replies of every task handling closes that are in meanwhile)."""
        prepared = [due for due, _ in ready]
        plans = [plan_results(due.due, reply.results, due.stale) for due, reply in ready]
        pieces = [
            CloseRecord(p.close.candle.time, p.close.candle.close, plan.records, plan.decisions)
            for p, plan in zip(prepared, plans, strict=True)
        ]
        async with self._lock:
            outcomes = await record_closes(self.engine, pieces, self.settings.max_failures, self._clock())
            for outcome in outcomes:
                for assignment_id in outcome.disabled:
                    self.roster.remove(assignment_id)
                    log.warning(
                        "decision: assignment %d disabled after %d failures in a row",
                        assignment_id,
                        self.settings.max_failures,
                    )
                for decision in outcome.decisions:
                    # One recorded by an earlier delivery moved the target then; set again now, an
                    # old close redelivered after newer ones would set it back and hide a change.
                    if decision.new and not decision.stale:
                        self.roster.set_target(decision.assignment_id, decision.target)
        for plan, outcome in zip(plans, outcomes, strict=True):
            self.counters.evaluations += len(plan.records)
            self.counters.disabled += len(outcome.disabled)
            self.counters.stale += sum(1 for d in outcome.decisions if d.stale)
            self.counters.decisions += sum(1 for d in outcome.decisions if d.new and not d.stale)
        return [(due, outcome.decisions) for due, outcome in zip(prepared, outcomes, strict=True)]

    def _prepare(self, close: ClosedCandle, msg: Any) -> _Due | None:
        timeframe = Timeframe(close.timeframe)
        published = _published_ms(msg, self._clock())
        exchange_clock = self.clocks.at(close.exchange, published)
        self.clocks.saw(close.exchange, close.candle.time + timeframe.ms, published)
        self.counters.closes += 1
        due = self.roster.due(close.exchange, close.symbol, close.timeframe)
        if not due:
            return None
        return _Due(close, msg, timeframe, due, is_stale(close.candle.time, timeframe, exchange_clock))

    async def _evaluate_close(self, due: _Due) -> EvaluationReply:
        async with self._series_slots:
            close = due.close
            size = max([await self.sizes.of(a) for a in due.due])
            key = SeriesKey(close.exchange, close.symbol, due.timeframe)
            window = self.windows.extend(key, close.candle, size)
            if window is None:
                window = _ending_with(await window_until(self.engine, key, close.candle.time, size), close)
                self.windows.put(key, window, size)
            request = evaluation_request(
                close.exchange, close.symbol, close.timeframe, close.candle.time, window, due.due
            )
            return await request_evaluation(
                self.bus, request, due.msg, self._patience, self._count_retry, lambda: self._stopping
            )

    def _count_retry(self) -> None:
        self.counters.retries += 1

    async def _publish_intents(self, close: ClosedCandle, decisions: list[RecordedDecision]) -> None:
        js = self.bus.jetstream()
        for bundle in intent_bundles(close, decisions, self.roster, self.settings.intents_per_message):
            await js.publish(
                subjects.order_intents(close.exchange),
                codec.encode(bundle),
                stream=subjects.ORDERS_STREAM,
                headers={"Nats-Msg-Id": bundle.bundle_id},
            )
            self.counters.intents += len(bundle.intents)

    # -- status ---------------------------------------------------------------------------

    def presence_stats(self) -> dict[str, int | float | str]:
        c = self.counters
        return {
            "assignments": len(self.roster),
            "closes": c.closes,
            "evaluations": c.evaluations,
            "decisions": c.decisions,
            "stale": c.stale,
            "intents": c.intents,
            "retries": c.retries,
            "disabled": c.disabled,
            "errors": c.errors,
        }

    def status_line(self) -> str:
        c = self.counters
        return (
            f"{len(self.roster)} assignments, {c.closes} closes, {c.evaluations} evaluations, "
            f"{c.decisions} decisions ({c.stale} stale), {c.intents} intents, {c.retries} retries, "
            f"{c.disabled} disabled, {c.errors} errors"
        )


@dataclass(frozen=True)
class _Due:
    close: ClosedCandle
    msg: Any
    timeframe: Timeframe
    due: list[Assignment]
    stale: bool


def _ending_with(window: CandleArrays, close: ClosedCandle) -> CandleArrays:
    """The window as stored, ending at the close (the core stores before it publishes, so it is
    there; a database replaced under the core is the only way it is not, and the close is the
    truth then)."""
    if len(window) and int(window.time[-1]) == close.candle.time:
        return window
    log.warning("decision: %s was not in the database; evaluating with it appended", _describe(close))
    return CandleArrays.concat([window, CandleArrays.from_candles([close.candle])])


def _published_ms(msg: Any, default_ms: int) -> int:
    """When JetStream stored the close (its publication), in wall-clock ms."""
    try:
        stamp = msg.metadata.timestamp
        return int(stamp.timestamp() * 1000)
    except Exception:  # no JetStream message (a direct call): now
        return default_ms


def _describe(close: ClosedCandle) -> str:
    from tradewinds.domain.times import format_time_ms

    return f"{close.exchange} {close.symbol} {close.timeframe} close at {format_time_ms(close.candle.time)}"
