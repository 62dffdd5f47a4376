"""`tradewinds up` on a fresh data folder: embedded bus and database, simulated markets, closes
printed, a clean stop, and the candles it printed are the ones it stored."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tradewinds.domain.candles import SeriesKey
from tradewinds.domain.timeframes import Timeframe
from tradewinds.domain.times import format_time_ms
from tradewinds.storage.candles import CandleStore
from tradewinds.storage.database import create_engine

pytestmark = pytest.mark.slow

LINE = re.compile(r"^(\S+)Z\s+sim:(\S+)\s+5m\s+O (\S+)\s+H (\S+)\s+L (\S+)\s+C (\S+)\s+V (\S+)\s+rollup$")


async def stored_5m(url: str, symbol: str) -> dict[str, tuple[float, ...]]:
    engine = create_engine(url)
    try:
        candles = await CandleStore(engine).range(SeriesKey("sim", symbol, Timeframe.M5), None, None)
    finally:
        await engine.dispose()
    return {format_time_ms(c.time)[:-1]: (c.open, c.high, c.low, c.close) for c in candles}


def test_up_runs_the_platform_on_a_fresh_data_folder(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWINDS_")}
    env["TRADEWINDS_HOME"] = str(tmp_path / "home")
    command = [sys.executable, "-m", "tradewinds.cli", "up", "--no-backtest", "--for", "10"]
    options = ["--pairs", "2", "--catch-up", "0.75", "--speed", "600", "--show", "5m"]
    done = subprocess.run([*command, *options], env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    lines = [m.groups() for m in map(LINE.match, done.stdout.splitlines()) if m]
    assert len(lines) >= 10, done.stdout
    assert "Stopped:" in done.stdout
    assert not (tmp_path / "home" / "nats" / "server.json").exists()  # the embedded bus stopped
    url = f"sqlite:///{tmp_path / 'home' / 'tradewinds.db'}"
    for symbol in ("ALPHA/USD", "BRAVO/USD"):
        stored = asyncio.run(stored_5m(url, symbol))
        printed = [g for g in lines if g[1] == symbol]
        assert printed, symbol
        for time, _, o, h, low, c, _ in printed:
            assert stored[time] == pytest.approx((float(o), float(h), float(low), float(c)), rel=1e-9)
