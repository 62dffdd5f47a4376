"""Fixtures of the end-to-end tests that run the platform as processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.processes import NatsServer
from tests.e2e.test_bitfinex_processes import ServedFake
from tests.exchange.fake_bitfinex import FakeBitfinex


@pytest.fixture
def nats_server_in_place(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats")
    server.folder.mkdir()
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.kill()


@pytest.fixture
def fake() -> Iterator[ServedFake]:
    """The fake Bitfinex, served from a thread of this process (a test module may override it)."""
    served = ServedFake(FakeBitfinex(heartbeat_s=2.0))
    try:
        yield served
    finally:
        served.close()
