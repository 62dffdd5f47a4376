"""Gather a `StatusReport`: ask the bus who runs, read the database, build the report."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from tradewinds.bus.presence import query_presence
from tradewinds.domain.messages import Announcement
from tradewinds.platform.snapshot import TradingSnapshot, read_snapshot
from tradewinds.platform.status import Problem, StatusReport, build_report
from tradewinds.storage.database import describe_database_error


async def collect_report(
    bus: Any | None, engine: AsyncEngine | None, bus_url: str | None, wait_s: float = 0.5
) -> StatusReport:
    problems: list[Problem] = []
    announcements: list[Announcement] = []
    if bus is not None:
        announcements = await query_presence(bus, wait_s)
    snapshot: TradingSnapshot | None = None
    if engine is not None:
        try:
            snapshot = await read_snapshot(engine, _now_ms())
        except (SQLAlchemyError, OSError) as exc:  # no schema yet, database down
            problems.append(Problem("database", describe_database_error(exc)))
    return build_report(_now_ms(), announcements, snapshot, bus_url, problems)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
