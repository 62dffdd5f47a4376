"""Backtests from the web: queued per user, run in child processes, cancellable, kept.

A user's backtests run one after another (a user cannot take the server over); at most
`workers` run at once across all users, taken from the users' queues in turn. Each runs in a
spawned child (`backtest_job.run_job`), which cancelling ends. The row is the truth: a server
that restarts puts what was queued or running back in the queue.
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
from collections import OrderedDict, deque
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tradewinds.storage.trading_models import StrategyRow, StrategyVersionRow
from tradewinds.storage.web_models import BacktestRow
from tradewinds.web.backtest_job import BacktestJob, run_job
from tradewinds.web.sessions import now_ms

log = logging.getLogger("tradewinds.web")

QUEUED, RUNNING, DONE, FAILED, CANCELED = "queued", "running", "done", "failed", "canceled"
FINISHED = (DONE, FAILED, CANCELED)


class BacktestQueue:
    def __init__(self, engine: AsyncEngine, database_url: str, upload_folder: Any, workers: int = 1) -> None:
        self.engine = engine
        self.database_url = database_url
        self.upload_folder = upload_folder
        self.workers = workers
        self._queues: OrderedDict[int, deque[int]] = OrderedDict()  # user -> backtest ids, in order
        self._running: dict[int, multiprocessing.process.BaseProcess] = {}
        self._users_running: set[int] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._jobs: set[asyncio.Task[None]] = set()
        self._context = multiprocessing.get_context("spawn")

    async def start(self) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(BacktestRow).where(BacktestRow.status == RUNNING).values(status=QUEUED, progress=0.0)
            )
            rows = (
                await conn.execute(
                    select(BacktestRow.id, BacktestRow.user_id)
                    .where(BacktestRow.status == QUEUED)
                    .order_by(BacktestRow.id)
                )
            ).all()
        for backtest_id, user_id in rows:
            self._queues.setdefault(user_id, deque()).append(backtest_id)
        self._task = asyncio.create_task(self._dispatch(), name="web-backtests")
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)  # a cancel of stop() still ends it
        for process in self._running.values():
            process.kill()
        for job in list(self._jobs):
            job.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)

    def submit(self, user_id: int, backtest_id: int) -> None:
        self._queues.setdefault(user_id, deque()).append(backtest_id)
        self._wake.set()

    async def cancel(self, user_id: int, backtest_id: int) -> None:
        queue = self._queues.get(user_id)
        if queue is not None and backtest_id in queue:
            queue.remove(backtest_id)
        process = self._running.get(backtest_id)
        if process is not None:
            process.kill()
        await self._finish(backtest_id, CANCELED, error="canceled")

    def position(self, user_id: int, backtest_id: int) -> int | None:
        queue = self._queues.get(user_id)
        return None if queue is None or backtest_id not in queue else list(queue).index(backtest_id)

    async def _dispatch(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while len(self._running) < self.workers:
                picked = self._next()
                if picked is None:
                    break
                user_id, backtest_id = picked
                self._users_running.add(user_id)
                job = asyncio.create_task(self._run(user_id, backtest_id))
                self._jobs.add(job)
                job.add_done_callback(self._jobs.discard)

    def _next(self) -> tuple[int, int] | None:
        for user_id in list(self._queues):
            if user_id in self._users_running:
                continue
            queue = self._queues[user_id]
            if queue:
                backtest_id = queue.popleft()
                self._queues.move_to_end(user_id)  # users take turns
                return user_id, backtest_id
            del self._queues[user_id]
        return None

    async def _run(self, user_id: int, backtest_id: int) -> None:
        try:
            job = await self._job(backtest_id)
            if job is None:
                return
            await self._set(backtest_id, status=RUNNING, progress=0.01)
            status, payload = await self._spawn(job)
            if status == DONE:
                metrics = json.dumps(json.loads(payload)["metrics"])
                await self._finish(backtest_id, DONE, result=payload, metrics=metrics)
            elif status == FAILED:
                await self._finish(backtest_id, FAILED, error=payload)
        except Exception as exc:  # the server keeps serving; the user sees why
            log.exception("web: backtest %s failed", backtest_id)
            await self._finish(backtest_id, FAILED, error=f"the backtest could not run: {exc}")
        finally:
            self._running.pop(backtest_id, None)
            self._users_running.discard(user_id)
            self._wake.set()

    async def _spawn(self, job: BacktestJob) -> tuple[str, str]:
        receiver, sender = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=run_job, args=(job, sender), daemon=True, name=f"backtest-{job.backtest_id}"
        )
        process.start()
        sender.close()
        self._running[job.backtest_id] = process
        loop = asyncio.get_running_loop()
        try:
            while True:
                ready = await loop.run_in_executor(None, receiver.poll, 0.25)
                if ready:
                    try:
                        kind, value = receiver.recv()
                    except EOFError:
                        break
                    if kind == "progress":
                        await self._set(job.backtest_id, progress=float(value))
                        continue
                    return (DONE if kind == "done" else FAILED), str(value)
                if not process.is_alive() and not receiver.poll():
                    break
            return CANCELED if process.exitcode in (
                -9,
                None,
            ) else FAILED, "the backtest process ended unexpectedly"
        finally:
            receiver.close()
            await loop.run_in_executor(None, process.join, 5)

    async def _job(self, backtest_id: int) -> BacktestJob | None:
        query = (
            select(BacktestRow, StrategyVersionRow.source, StrategyRow.name)
            .join(StrategyVersionRow, StrategyVersionRow.id == BacktestRow.version_id)
            .join(StrategyRow, StrategyRow.id == StrategyVersionRow.strategy_id)
            .where(BacktestRow.id == backtest_id)
        )
        async with AsyncSession(self.engine) as session:
            found = (await session.execute(query)).first()
        if found is None or found[0].status != QUEUED:
            return None
        row = found[0]
        upload = str(self.upload_folder / row.upload_name) if row.upload_name else None
        return BacktestJob(
            backtest_id=row.id,
            source=found.source,
            strategy_name=found.name,
            database_url=self.database_url,
            exchange=row.exchange,
            symbol=row.symbol,
            upload_path=upload,
            timeframe=row.timeframe,
            since_ms=row.since_ms,
            until_ms=row.until_ms,
            cash=float(row.cash),
            fee=float(row.fee),
            params=json.loads(row.params or "{}"),
        )

    async def _set(self, backtest_id: int, **values: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(BacktestRow)
                .where(BacktestRow.id == backtest_id, BacktestRow.status.not_in(FINISHED))
                .values(**values)
            )

    async def _finish(
        self,
        backtest_id: int,
        status: str,
        *,
        result: str | None = None,
        metrics: str | None = None,
        error: str | None = None,
    ) -> None:
        progress = 1.0 if status == DONE else 0.0
        await self._set(
            backtest_id,
            status=status,
            result=result,
            metrics=metrics,
            error=error,
            progress=progress,
            finished_ms=now_ms(),
        )
