"""Presence: every component announces itself on the bus, so `tradewinds status` can say what runs.

A component creates `Presence(bus, component="eval", stats=lambda: {...}, rates=("evaluations",))`,
`await start()`s it and `await stop()`s it when it stops. Counters named in `rates` also go out
as `{name}_per_min`, over the last minute of samples. It then publishes an `Announcement` on
`tw.presence.{component}` every `interval_s` seconds, answers `tw.presence_query` at once (so a
status command need not wait for the next round), and says `stopping` on a clean stop. A process
killed with -9 says nothing: it is gone once it misses its announcements (`is_current`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from tradewinds.bus import codec, subjects
from tradewinds.domain.messages import Announcement, StatValue

log = logging.getLogger("tradewinds.presence")

StatsSource = Callable[[], Mapping[str, StatValue]]

# An announcement older than this many intervals means the component is gone (killed, cut off).
MISSED_INTERVALS = 3.0


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Presence:
    """Announces one component instance on the bus until stopped."""

    def __init__(
        self,
        bus: Any,
        component: str,
        stats: StatsSource | None = None,
        interval_s: float = 5.0,
        rates: tuple[str, ...] = (),
    ) -> None:
        subjects.presence(component)  # refuses a component name that cannot be a subject token
        self.bus = bus
        self.component = component
        self.interval_s = interval_s
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.started_ms = _now_ms()
        self.instance = f"{component}-{self.host}-{self.pid}-{secrets.token_hex(3)}"
        self._stats = stats
        self._rates = rates
        self._samples: collections.deque[tuple[int, dict[str, StatValue]]] = collections.deque()
        self._subject = subjects.presence(component)
        self._query: Any = None
        self._task: asyncio.Task[None] | None = None

    def announcement(self, stopping: bool = False) -> Announcement:
        return Announcement(
            component=self.component,
            instance=self.instance,
            host=self.host,
            pid=self.pid,
            started_ms=self.started_ms,
            sent_ms=_now_ms(),
            interval_s=self.interval_s,
            stats=self._current_stats(),
            stopping=stopping,
        )

    async def start(self) -> None:
        self._query = await self.bus.subscribe(subjects.PRESENCE_QUERY, cb=self._on_query)
        await self._publish(self._subject)
        self._task = asyncio.create_task(self._announce(), name=f"presence-{self.component}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        with contextlib.suppress(Exception):  # the connection may already be gone
            if self._query is not None:
                await self._query.unsubscribe()
            await self._publish(self._subject, stopping=True)
            await self.bus.flush(timeout=1)

    async def __aenter__(self) -> Presence:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _current_stats(self) -> dict[str, StatValue]:
        if self._stats is None:
            return {}
        try:
            current = dict(self._stats())
        except Exception as exc:  # a broken counter must not silence the announcement
            log.warning("presence: %s stats failed: %s", self.component, exc)
            return {"stats_error": str(exc)}
        if self._rates:
            current.update(self._per_minute(current))
        return current

    def _per_minute(self, current: dict[str, StatValue]) -> dict[str, float]:
        now = time.monotonic_ns() // 1_000_000
        self._samples.append((now, current))
        while len(self._samples) > 2 and now - self._samples[1][0] >= 60_000:
            self._samples.popleft()  # keep one sample at least a minute old, if there is one
        then, old = self._samples[0]
        rates: dict[str, float] = {}
        for name in self._rates:
            before, after = old.get(name), current.get(name)
            if isinstance(before, int | float) and isinstance(after, int | float):
                elapsed = max(now - then, 1)
                rates[f"{name}_per_min"] = (
                    0.0 if now == then else round((after - before) * 60_000 / elapsed, 1)
                )
        return rates

    async def _publish(self, subject: str, stopping: bool = False) -> None:
        await self.bus.publish(subject, codec.encode(self.announcement(stopping)))

    async def _announce(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self._publish(self._subject)
            except Exception as exc:  # NATS reconnecting: the next round tries again
                log.debug("presence: %s could not announce: %s", self.component, exc)

    async def _on_query(self, msg: Any) -> None:
        if msg.reply:
            with contextlib.suppress(Exception):
                await self._publish(msg.reply)


def is_current(announcement: Announcement, now_ms: int) -> bool:
    """Whether the component still runs: not stopping, and heard from within a few intervals."""
    limit_ms = announcement.interval_s * MISSED_INTERVALS * 1000
    return not announcement.stopping and now_ms - announcement.sent_ms <= limit_ms


async def query_presence(bus: Any, wait_s: float = 0.5) -> list[Announcement]:
    """Every component that answers a presence query within `wait_s` (one per instance), sorted by
    component and start time."""
    inbox = bus.new_inbox()
    heard: dict[str, Announcement] = {}

    async def collect(msg: Any) -> None:
        if not msg.data:  # the server's "no responders" status: nobody runs
            return
        try:
            announcement = codec.decode(msg.data, Announcement)
        except msgspec.DecodeError as exc:
            log.warning("presence: ignored an answer that is not an Announcement: %s", exc)
            return
        if not announcement.stopping:
            heard[announcement.instance] = announcement

    subscription = await bus.subscribe(inbox, cb=collect)
    try:
        await bus.flush()
        await bus.publish(subjects.PRESENCE_QUERY, b"", reply=inbox)
        await bus.flush()
        await asyncio.sleep(wait_s)
    finally:
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()
    return sorted(heard.values(), key=lambda a: (a.component, a.started_ms, a.instance))


def describe(announcement: Announcement) -> str:
    """`core pid 1234 on host, since 2026-12-01 09:58:03 UTC`: for refusals and status."""
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(announcement.started_ms / 1000))
    return f"{announcement.component} pid {announcement.pid} on {announcement.host}, since {since}"
