"""`tradewinds status`: running components from their presence, candle lag, evaluations, orders,
positions and P&L replayed from the fills, and every problem named; the JSON a script reads."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

import nats
import pytest

from tests.platform.seed import seed_trading
from tradewinds.bus.presence import Presence
from tradewinds.domain.messages import Announcement
from tradewinds.platform.collect import collect_report
from tradewinds.platform.status import build_report
from tradewinds.platform.view import compact, render
from tradewinds.storage.database import create_engine


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def test_the_report_joins_presence_and_the_database(database_url: str, nats_url: str) -> None:
    engine = create_engine(database_url)
    bus = await nats.connect(nats_url)
    try:
        ids = await seed_trading(engine, now_ms())
        core = Presence(bus, "core", lambda: {"lag_ms.sim": 1500, "errors": 0}, interval_s=60)
        worker = Presence(
            bus, "eval", lambda: {"evaluations": 42, "evaluations_per_min": 30.0}, interval_s=60
        )
        adapter = Presence(bus, "exchange", lambda: {"exchange": "sim", "updates": 900, "errors": 2})
        async with core, worker, adapter:
            report = await collect_report(bus, engine, nats_url, wait_s=0.3)
    finally:
        await bus.close()
        await engine.dispose()

    assert sorted(c.component for c in report.components) == ["core", "eval", "exchange"]
    (sim,) = report.candles
    assert (sim.exchange, sim.lag_s, sim.updates) == ("sim", 1.5, 900)
    assert report.evaluations.per_minute == 30.0 and report.evaluations.total == 42
    assert report.evaluations.assignments_last_minute == 1 and report.evaluations.failing == 1
    assert report.orders.by_status == {"filled": 1, "rejected": 1} and report.orders.fills == 1
    assert report.orders.last_hour == 2

    holding = next(a for a in report.assignments if a.id == ids["holding"])
    # 2 ALPHA bought at 100 with the fee (0.002 ALPHA) taken from what was received; priced at 110.
    assert holding.position == "long" and holding.base_held == Decimal("1.998")
    assert holding.quote_held == Decimal(800) and holding.fees == Decimal("0.200")
    assert holding.equity == Decimal("1019.780") and holding.unrealized_pnl == Decimal("19.780")
    failing = next(a for a in report.assignments if a.id == ids["failing"])
    assert failing.position == "short" and failing.equity == Decimal(1000)

    messages = [f"{p.source}: {p.message}" for p in report.errors]
    assert any("exchange: 2 errors" in m for m in messages), messages
    assert any(
        f"assignment {ids['failing']}" in m and "line 3: attempt to call a nil value" in m for m in messages
    )
    assert any(f"order {ids['rejected']}" in m and "rejected: insufficient funds" in m for m in messages)

    text = "\n".join(render(report))
    assert "core x1" in text and "eval x1" in text and "sim lag 1.5s, 900 updates" in text
    assert "1,019.78" in text and "+19.78" in text and "insufficient funds" in text
    line = compact(report)
    assert "2 assignments, 1 long, P&L +19.78" in line and "3 errors" in line


def test_components_that_stopped_or_went_silent_are_not_running() -> None:
    now = now_ms()

    def heard(ago_ms: int, stopping: bool = False) -> Announcement:
        return Announcement("eval", f"eval-{ago_ms}", "h", 1, now - 60_000, now - ago_ms, 5.0, {}, stopping)

    report = build_report(now, [heard(1_000), heard(16_000), heard(0, stopping=True)], None, "nats://x")
    assert [c.instance for c in report.components] == ["eval-1000"]
    assert report.assignments == [] and report.orders.by_status == {}


@pytest.mark.slow
async def test_the_command_prints_json_for_scripts(database_url: str, nats_url: str, tmp_path: Path) -> None:
    engine = create_engine(database_url)
    try:
        ids = await seed_trading(engine, now_ms())
    finally:
        await engine.dispose()
    env = {
        **os.environ,
        "TRADEWINDS_HOME": str(tmp_path / "home"),
        "TRADEWINDS_NATS_URL": nats_url,
        "TRADEWINDS_DATABASE_URL": database_url,
    }
    bus = await nats.connect(nats_url)
    try:
        async with Presence(bus, "core", lambda: {"lag_ms.sim": 800}, interval_s=60):
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tradewinds.cli", "status", "--json", env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        await bus.close()
    assert process.returncode == 0, err.decode()
    status = json.loads(out)
    assert {"components", "evaluations", "orders", "errors", "candles", "assignments"} <= set(status)
    assert [c["component"] for c in status["components"]] == ["core"]
    assert status["candles"] == [{"exchange": "sim", "lag_s": 0.8, "updates": 0}]
    assert status["orders"]["by_status"] == {"filled": 1, "rejected": 1}
    holding = next(a for a in status["assignments"] if a["id"] == ids["holding"])
    assert holding["base_held"] == "1.998" and holding["equity"] == "1019.78"
    assert any("insufficient funds" in e["message"] for e in status["errors"])


def test_the_command_without_a_bus_still_reads_the_database(tmp_path: Path) -> None:
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWINDS_")}
    env["TRADEWINDS_HOME"] = str(tmp_path / "home")
    done = subprocess.run(
        [sys.executable, "-m", "tradewinds.cli", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "components   no bus running" in done.stdout
    assert "database" in done.stdout  # a fresh folder has no schema yet: said, not a traceback
    assert not (tmp_path / "home" / "nats" / "server.json").exists()  # status started no server
