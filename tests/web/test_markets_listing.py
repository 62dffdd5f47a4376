"""Markets of every connected exchange: the desk asks each exchange adapter on the bus for the
markets its venue lists, beside the markets with stored candles."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from tests.web.test_schemathesis import _free_port
from tradewinds.exchange.service import ExchangeService
from tradewinds.exchange.sim import SimulatedExchange
from tradewinds.storage.database import upgrade_schema
from tradewinds.web.app import create_app
from tradewinds.web.server import WebServer
from tradewinds.web.settings import WebSettings


@pytest.fixture
def desk_with_an_exchange(tmp_path: Path, nats_url: str) -> Iterator[tuple[str, list[str]]]:
    """The web server and a sim exchange adapter streaming one of its markets, on one bus."""
    url = f"sqlite:///{tmp_path / 'tradewinds.db'}"
    asyncio.run(upgrade_schema(url))
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def start() -> None:
        bus = await nats.connect(nats_url)
        sim = SimulatedExchange(pairs=3, seed=4)
        stop = asyncio.Event()
        service = ExchangeService(bus, sim, sim.symbols[:1])
        state.update(bus=bus, stop=stop, symbols=sim.symbols, running=asyncio.create_task(service.run(stop)))
        server = WebServer(
            create_app(WebSettings(home=tmp_path, database_url=url), bus=bus), "127.0.0.1", _free_port()
        )
        await server.start()
        state["server"] = server

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()

    async def finish() -> None:
        state["stop"].set()
        await asyncio.gather(state["running"], return_exceptions=True)
        await state["server"].stop()
        await state["bus"].close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(30)
    yield state["server"].url, state["symbols"]
    asyncio.run_coroutine_threadsafe(finish(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(30)


def test_every_market_the_exchange_lists_is_shown(desk_with_an_exchange: tuple[str, list[str]]) -> None:
    base, symbols = desk_with_an_exchange
    with httpx.Client(base_url=base, timeout=10) as client:
        client.post("/api/auth/signup", json={"email": "m@example.com", "password": "correct horse battery"})
        deadline = time.monotonic() + 20
        markets: list[dict[str, Any]] = []
        while time.monotonic() < deadline:  # the adapter announces itself within a few seconds
            markets = client.get("/api/markets").json()["items"]
            if markets:
                break
            time.sleep(0.5)
        listed = {m["symbol"]: m for m in markets if m["exchange"] == "sim"}
        assert sorted(listed) == sorted(symbols)
        assert listed[symbols[0]]["streamed"] is True and listed[symbols[1]]["streamed"] is False
        assert all(m["last_price"] is None for m in listed.values())  # nothing stored yet
        assert client.get("/api/markets", params={"q": symbols[1][:3]}).json()["total"] >= 1
