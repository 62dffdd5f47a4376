"""Execution speed: order intents on JetStream to filled paper orders recorded in the database.

ACCOUNTS paper accounts with PER_ACCOUNT assignments each; one `long` intent per assignment is
published at once (as one close of a market does) and the ExecutionService fills them. Printed:
the time from publishing to each fill being recorded (p50, p99, max) and intents per second,
on SQLite (and PostgreSQL when TRADEWINDS_TEST_POSTGRES_URL names a server).
Each run publishes under message ids of its own: JetStream drops an id it saw within a day.

Run: .venv/bin/python benchmarks/execution.py [ACCOUNTS PER_ACCOUNT]
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import nats
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

sys.path.insert(0, str(Path(__file__).parents[1]))

from tests.exchange.execution.helpers import make_intent, seed_assignment

from tradewinds.bus import codec, streams, subjects
from tradewinds.bus.server import EmbeddedNatsServer
from tradewinds.exchange.adapter import MarketInfo
from tradewinds.exchange.execution.service import ExecutionService
from tradewinds.storage.database import create_engine, upgrade_schema
from tradewinds.storage.orders import list_orders
from tradewinds.storage.trading_models import AssignmentRow

T = 1_700_000_040_000 - 1_700_000_040_000 % 60_000
ALPHA = MarketInfo(
    "ALPHA/USD", "ALPHAUSD", "ALPHA", "USD", amount_precision=Decimal("1e-8"), min_amount=Decimal("0.001")
)


class Feed:
    name = "sim"

    async def list_markets(self) -> list[MarketInfo]:
        return [ALPHA]


async def seed(url: str, accounts: int, per_account: int) -> list[AssignmentRow]:
    engine = create_engine(url)
    made: list[AssignmentRow] = []
    try:
        for n in range(accounts):
            first = await seed_assignment(engine, allocation="100", email=f"u{n}@example.com")
            made.append(first)
            async with AsyncSession(engine, expire_on_commit=False) as session:
                for _ in range(per_account - 1):
                    row = AssignmentRow(
                        user_id=first.user_id, version_id=first.version_id, account_id=first.account_id,
                        exchange="sim", symbol="ALPHA/USD", timeframe="1m", allocation=Decimal(100),
                        params="{}", enabled=True, target="short", consecutive_failures=0,
                        created_ms=0, updated_ms=0,
                    )  # fmt: skip
                    session.add(row)
                    made.append(row)
                await session.commit()
        return made
    finally:
        await engine.dispose()


async def measure(label: str, url: str, nats_url: str, accounts: int, per_account: int) -> None:
    await upgrade_schema(url)
    assignments = await seed(url, accounts, per_account)
    engine = create_engine(url)
    bus = await nats.connect(nats_url)
    js = bus.jetstream()
    await streams.ensure_stream(js, streams.ORDERS)
    await js.purge_stream(subjects.ORDERS_STREAM)
    service = ExecutionService(bus, engine, "sim", Feed())  # type: ignore[arg-type]
    await service.start()
    try:
        started = time.time_ns() // 1_000_000
        intents = [make_intent(a, "long", T, 100.0) for a in assignments]
        await asyncio.gather(  # at once, as the decision service publishes one close's intents
            *(
                js.publish(
                    subjects.order_intents("sim"),
                    codec.encode(intent),
                    headers={"Nats-Msg-Id": f"{label}:{intent.intent_id}"},
                )
                for intent in intents
            )
        )
        published_ms = time.time_ns() // 1_000_000 - started
        filled = text("SELECT count(*) FROM orders WHERE status = 'filled'")
        while True:  # counted cheaply: this process also runs the service being measured
            async with engine.connect() as conn:
                if (await conn.scalar(filled) or 0) >= len(assignments):
                    break
            await asyncio.sleep(0.2)
        orders = [o for o in await list_orders(engine) if o.status == "filled"]
        latencies = sorted(o.updated_ms - started for o in orders)
        elapsed = (max(o.updated_ms for o in orders) - started) / 1000
        p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99) - 1]
        print(
            f"{label:10s} {len(assignments):6d} intents on {accounts} paper accounts: "
            f"publish -> fill recorded p50 {p50} ms, p99 {p99} ms, max {latencies[-1]} ms; "
            f"{len(assignments) / elapsed:.0f} intents/s (publishing them took {published_ms} ms)"
        )
    finally:
        await service.stop()
        await bus.close()
        await engine.dispose()


async def main() -> None:
    accounts, per_account = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) > 2 else (20, 25)
    with tempfile.TemporaryDirectory() as folder:
        server = EmbeddedNatsServer(Path(folder) / "nats")
        server.start()
        try:
            await measure("sqlite", f"sqlite:///{folder}/bench.db", server.url, accounts, per_account)
            postgres = os.environ.get("TRADEWINDS_TEST_POSTGRES_URL")
            if postgres:
                name = f"bench_{uuid.uuid4().hex[:8]}"
                admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
                async with admin.connect() as conn:
                    await conn.execute(text(f"CREATE DATABASE {name}"))
                try:
                    url = postgres.rsplit("/", 1)[0] + f"/{name}"
                    await measure("postgresql", url, server.url, accounts, per_account)
                finally:
                    async with admin.connect() as conn:
                        await conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
                    await admin.dispose()
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
