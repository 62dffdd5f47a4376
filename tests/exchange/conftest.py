"""Fixtures for the exchange adapter tests: a fake Bitfinex on loopback, and no way out of it."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.exchange.fake_bitfinex import FakeBitfinex
from tradewinds.domain.messages import CandleUpdate
from tradewinds.domain.timeframes import MINUTE_MS
from tradewinds.exchange.bitfinex import BitfinexAdapter, StreamSettings
from tradewinds.exchange.ccxt_adapter import VenueLimits
from tradewinds.exchange.ratelimit import RateLimiter, RetryPolicy

API_KEY = "test-key"
API_SECRET = "test-secret"
# A minute boundary (2023-11-14T22:13:00Z); tests place candles around it.
T0 = 28_333_333 * MINUTE_MS

FAST_RETRY = RetryPolicy(attempts=3, cool_down_s=0.05, max_cool_down_s=0.2)
# Generous budgets so that tests exercise the limiter without waiting on it.
TEST_LIMITS = VenueLimits(
    rest_per_minute=6000, candles_per_minute=6000, key_per_minute=6000, ip_per_minute=60000, retry=FAST_RETRY
)
FAST_STREAM = StreamSettings(
    connections_per_minute=6000,
    connection_burst=50,
    silence_timeout_s=0.5,
    maintenance_timeout_s=30.0,
    reconnect_initial_s=0.05,
    reconnect_max_s=0.2,
    healthy_after_s=0.2,
    backfill_retry_s=0.05,
)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any attempt to resolve or reach a host other than this machine."""
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "localhost", "::1", None):
            raise OSError(f"test tried to resolve {host!r}: only loopback is allowed")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple) and not ipaddress.ip_address(address[0]).is_loopback:
            raise OSError(f"test tried to connect to {address!r}: only loopback is allowed")
        return real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBitfinex]:
    server = FakeBitfinex(now_ms=T0 + 10_000, heartbeat_s=0.1)
    server.add_account(API_KEY, API_SECRET)
    async with server:
        yield server


@pytest.fixture
def limiter() -> RateLimiter:
    return RateLimiter()


AdapterFactory = Callable[..., Awaitable[BitfinexAdapter]]


@pytest.fixture
async def make_adapter(fake: FakeBitfinex, limiter: RateLimiter) -> AsyncIterator[AdapterFactory]:
    made: list[BitfinexAdapter] = []

    async def make(**overrides: Any) -> BitfinexAdapter:
        options: dict[str, Any] = {
            "api_key": API_KEY,
            "secret": API_SECRET,
            "limits": TEST_LIMITS,
            "limiter": limiter,
            "stream_settings": FAST_STREAM,
            "env": fake.env(),
            "now_ms": lambda: fake.now_ms,
        }
        options.update(overrides)
        adapter = BitfinexAdapter(**options)
        adapter.exchange.timeout_on_exit = 0  # ccxt waits 250 ms on close for TLS; loopback has none
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        await adapter.close()


class Collector:
    """Consumes a candle stream in the background so tests can wait for what arrives."""

    def __init__(self, stream: AsyncIterator[CandleUpdate]) -> None:
        self.updates: list[CandleUpdate] = []
        self._stream = stream
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for update in self._stream:
            self.updates.append(update)

    async def wait_for(self, predicate: Callable[[list[CandleUpdate]], bool], within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while not predicate(self.updates):
                if self._task.done():
                    self._task.result()
                    raise AssertionError("the stream ended")
                await asyncio.sleep(0.01)

    async def wait_count(self, count: int, within: float = 5.0) -> list[CandleUpdate]:
        await self.wait_for(lambda updates: len(updates) >= count, within)
        return self.updates[:count]

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            await aclose()


async def wait_until(predicate: Callable[[], bool], within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - the condition lives in another object
            await asyncio.sleep(0.01)
