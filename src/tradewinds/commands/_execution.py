"""Order execution beside an exchange adapter (`tradewinds exchange NAME`, `tradewinds up`).

The adapter process executes its exchange's order intents when its database is ready; without
one (a market-data-only setup) it says why in one warning and streams candles only.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tradewinds.exchange.adapter import ExchangeAdapter
    from tradewinds.exchange.execution.service import ExecutionService

log = logging.getLogger("tradewinds.execution")


@contextlib.asynccontextmanager
async def running_execution(
    bus: Any, feed: ExchangeAdapter, *, enabled: bool = True, database_url: str | None = None
) -> AsyncIterator[ExecutionService | None]:
    """Run an ExecutionService for `feed`'s exchange while the body runs (None when it cannot)."""
    if not enabled:
        yield None
        return
    from sqlalchemy.exc import SQLAlchemyError

    from tradewinds.config import Settings
    from tradewinds.exchange.execution.service import ExecutionService
    from tradewinds.storage import schema
    from tradewinds.storage.database import create_engine, display_url, resolve_database_url
    from tradewinds.storage.errors import StorageError
    from tradewinds.storage.secrets import SecretBox, SecretKeyError

    url = resolve_database_url(database_url)
    engine = create_engine(url)
    try:
        problem: str | None = None
        try:
            await schema.check_current(engine, f"database {display_url(url)}")
            secrets = SecretBox.load(Settings.from_env().home)
        except (StorageError, SQLAlchemyError, OSError, SecretKeyError) as exc:
            problem = str(exc)
        if problem is not None:
            log.warning("%s: order intents are not executed: %s", feed.name, problem)
            yield None
            return
        service = ExecutionService(bus, engine, feed.name, feed, secrets=secrets)
        await service.start()
        try:
            yield service
        finally:
            await service.stop()
    finally:
        await engine.dispose()
