"""`tradewinds up` on a fresh data folder: the demo trades on paper within the first minute, a
second `up` or a `core` on the same folder refuses naming the first, Ctrl-C stops cleanly with
every position equal to its fills, and a second run continues where the first stopped."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tradewinds.domain.candles import SeriesKey
from tradewinds.domain.timeframes import Timeframe
from tradewinds.exchange.sim import SyntheticMarket
from tradewinds.platform.snapshot import read_snapshot
from tradewinds.storage.candles import CandleStore
from tradewinds.storage.database import create_engine
from tradewinds.storage.trading_models import AssignmentRow, DecisionRow, FillRow, OrderRow, UserRow

pytestmark = pytest.mark.slow

TRADEWINDS = [sys.executable, "-m", "tradewinds.cli"]
# "orders 12 filled; ..." or, when some were noted first (superseded, nothing to do), "orders 8
# canceled, 12 filled; ..."
FILLED = re.compile(r"orders (?:\d+ \w+, )*(\d+) filled")


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWINDS_")}
    env["TRADEWINDS_HOME"] = str(home)
    with socket.socket() as sock:  # the web desk on a free port, not the default 8000
        sock.bind(("127.0.0.1", 0))
        env["TRADEWINDS_WEB_PORT"] = str(sock.getsockname()[1])
    return env


def read_until(
    process: subprocess.Popen[str], seen: list[str], wanted: re.Pattern[str], seconds: float
) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if wanted.search(line):
            return line
    raise AssertionError("never printed " + wanted.pattern + ":\n" + "".join(seen))


async def books(url: str) -> dict[str, object]:
    engine = create_engine(url)
    try:
        snapshot = await read_snapshot(engine, time.time_ns() // 1_000_000)
        async with AsyncSession(engine) as session:
            users = await session.scalar(select(func.count(UserRow.id)))
            assignments = await session.scalar(select(func.count(AssignmentRow.id)))
            orders = (
                await session.execute(select(OrderRow.status, func.count()).group_by(OrderRow.status))
            ).all()
            fills = await session.scalar(select(func.count(FillRow.id)))
            intents = set(
                (await session.scalars(select(DecisionRow.intent_id).where(~DecisionRow.stale))).all()
            )
            executed = set((await session.scalars(select(OrderRow.intent_id))).all())
        minutes = await CandleStore(engine).range_arrays(SeriesKey("sim", "ALPHA/USD", Timeframe.M1))
    finally:
        await engine.dispose()
    return {
        "users": users,
        "assignments": assignments,
        "orders": dict((str(s), int(n)) for s, n in orders),
        "fills": fills,
        "intents": intents,
        "executed": executed,
        "snapshot": snapshot,
        "minute_times": minutes.time.astype(int).tolist(),
    }


def test_up_trades_on_paper_refuses_a_second_instance_and_continues(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = environment(home)
    url = f"sqlite:///{home / 'tradewinds.db'}"
    first = subprocess.Popen(
        [*TRADEWINDS, "up", "--every", "2", "--for", "150"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen: list[str] = []
    try:
        read_until(first, seen, re.compile(r"Demo user demo@tradewinds.local \(created"), 60)
        read_until(first, seen, re.compile(rf"Web desk: http://127.0.0.1:{env['TRADEWINDS_WEB_PORT']}"), 30)
        read_until(first, seen, FILLED, 75)  # trades happen within the first minute of trading

        # A second platform or core on the same folder refuses, naming the one running.
        for command in (["up"], ["core"]):
            done = subprocess.run(
                [*TRADEWINDS, *command], env=env, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 1, done.stderr
            assert f"tradewinds up is already running on the data folder {home}" in done.stderr
            assert f"pid {first.pid} " in done.stderr

        first.send_signal(signal.SIGINT)
        try:
            out, err = first.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            log = (home / "logs" / "up.log").read_text()
            raise AssertionError("Ctrl-C did not stop it; the log ends:\n" + log[-4000:]) from None
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    seen.append(out)
    assert first.returncode == 0, err
    assert "Stopped cleanly:" in out, "".join(seen)
    assert "Traceback" not in err
    assert not (home / "nats" / "server.json").exists()  # the embedded bus stopped with it
    assert "core: listening" in (home / "logs" / "up.log").read_text()  # logs went to the file

    after_first = asyncio.run(books(url))
    assert after_first["users"] == 1 and after_first["assignments"] == 4
    orders = after_first["orders"]
    assert isinstance(orders, dict) and orders.get("filled", 0) > 0
    # Nothing left pending, failed or rejected (canceled: superseded by a newer decision, unplaced).
    assert set(orders) <= {"filled", "canceled"}, orders
    snapshot = after_first["snapshot"]
    assert all(v.ledger_error is None for v in snapshot.assignments)  # type: ignore[attr-defined]
    decided_first = after_first["intents"]
    assert isinstance(decided_first, set) and decided_first

    second = subprocess.run(
        [*TRADEWINDS, "up", "--every", "5", "--for", "20"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 0, second.stderr
    assert "Demo user demo@tradewinds.local (continuing" in second.stdout
    after_second = asyncio.run(books(url))
    assert after_second["users"] == 1 and after_second["assignments"] == 4  # created once
    # No decision lost: one the first run had not executed when stopped (its intent waited in
    # JetStream) was executed by the second, once.
    executed = after_second["executed"]
    assert isinstance(executed, set) and decided_first <= executed, decided_first - executed
    # The sim resumed where the first run stopped: every minute ALPHA traded from the first
    # stored one to the last is stored, across the stop.
    times = after_second["minute_times"]
    assert isinstance(times, list) and len(times) > len(after_first["minute_times"])  # type: ignore[arg-type]
    traded = SyntheticMarket(10, 1).closed("ALPHA/USD", times[0], times[-1]).time.astype(int).tolist()
    assert times == traded
