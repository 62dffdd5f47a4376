"""Connecting to the bus: the NATS server at TRADEWINDS_NATS_URL, or an embedded one started here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import nats
from nats.aio.client import Client as NatsClient

from tradewinds.bus.shared_server import shared_embedded_server
from tradewinds.config import Settings

log = logging.getLogger("tradewinds.bus")


class BusUnavailable(RuntimeError):
    """The NATS server could not be reached; the message names it."""


async def connect_to(url: str, name: str, connect_timeout: float = 10.0) -> NatsClient:
    """A client that keeps reconnecting for ever once connected (components outlive NATS restarts).

    The first connection must succeed within `connect_timeout` seconds: nats-py would otherwise retry a
    wrong URL for ever, and a mistyped TRADEWINDS_NATS_URL should be an error, not a hang."""

    async def on_disconnect() -> None:
        if client is not None and not (client.is_closed or client.is_draining):
            log.warning("bus: %s lost its connection to %s; reconnecting", name, url)

    async def on_reconnect() -> None:
        log.info("bus: %s reconnected to %s", name, url)

    async def on_error(exc: Exception) -> None:
        log.warning("bus: %s: %s", name, exc)

    client: NatsClient | None = None
    try:
        async with asyncio.timeout(connect_timeout):
            client = await nats.connect(
                url,
                name=name,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                connect_timeout=5,
                allow_reconnect=True,
                disconnected_cb=on_disconnect,
                reconnected_cb=on_reconnect,
                error_cb=on_error,
            )
    except TimeoutError as exc:
        raise BusUnavailable(
            f"cannot connect to NATS at {url}: no answer within {connect_timeout:.0f} s"
        ) from exc
    except Exception as exc:  # nats-py raises several kinds: say which server and why
        raise BusUnavailable(f"cannot connect to NATS at {url}: {exc or type(exc).__name__}") from exc
    return client


@contextlib.asynccontextmanager
async def bus_connection(
    settings: Settings, name: str, connect_timeout: float = 10.0
) -> AsyncIterator[NatsClient]:
    """Connected to `settings.nats_url`, or to a nats-server started under the data folder for as
    long as the block runs (TRADEWINDS_NATS_URL unset: one process runs everything)."""
    with contextlib.ExitStack() as stack:
        url = settings.nats_url
        if url is None:
            url = stack.enter_context(shared_embedded_server(embedded_server_folder(settings.home)))
            log.info("bus: using the embedded nats-server at %s", url)
        client = await connect_to(url, name, connect_timeout)
        try:
            yield client
        finally:
            with contextlib.suppress(Exception):
                await client.drain()


def embedded_server_folder(home: Path) -> Path:
    return home / "nats"
