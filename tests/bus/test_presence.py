"""Presence: components announce themselves periodically and on a query, say `stopping` when they
stop cleanly, and a broken stats source does not silence them."""

from __future__ import annotations

import asyncio

import nats
import pytest

from tradewinds.bus import codec, subjects
from tradewinds.bus.presence import Presence, describe, is_current, query_presence
from tradewinds.domain.messages import Announcement


async def test_a_query_finds_every_running_component_with_its_stats(nats_url: str) -> None:
    bus = await nats.connect(nats_url)
    counted = {"n": 0}

    def stats() -> dict[str, int]:
        counted["n"] += 1
        return {"evaluations": 7 * counted["n"]}

    try:
        async with Presence(bus, "eval", stats, interval_s=60), Presence(bus, "core", interval_s=60):
            found = await query_presence(bus, wait_s=0.3)
            assert [a.component for a in found] == ["core", "eval"]
            evaluator = found[1]
            assert evaluator.pid > 0 and evaluator.host and evaluator.instance.startswith("eval-")
            assert isinstance(evaluator.stats["evaluations"], int) and evaluator.stats["evaluations"] > 0
            assert "eval pid" in describe(evaluator)
        # Stopped: nobody answers any more.
        assert await query_presence(bus, wait_s=0.3) == []
    finally:
        await bus.close()


async def test_announces_every_interval_and_says_stopping_last(nats_url: str) -> None:
    bus = await nats.connect(nats_url)
    heard: list[Announcement] = []

    async def on(msg: object) -> None:
        heard.append(codec.decode(msg.data, Announcement))  # type: ignore[attr-defined]

    try:
        await bus.subscribe(subjects.ALL_PRESENCE, cb=on)
        await bus.flush()
        presence = Presence(bus, "exchange", lambda: {"updates": 1}, interval_s=0.1)
        await presence.start()
        await asyncio.sleep(0.45)
        await presence.stop()
        await bus.flush()
        await asyncio.sleep(0.1)
        assert len(heard) >= 4  # the first at start, then one per interval
        assert {a.instance for a in heard} == {presence.instance}
        assert [a.stopping for a in heard][-1] is True and not any(a.stopping for a in heard[:-1])
        assert is_current(heard[0], heard[0].sent_ms + 200)
        assert not is_current(heard[0], heard[0].sent_ms + 400)  # missed three intervals
        assert not is_current(heard[-1], heard[-1].sent_ms)
    finally:
        await bus.close()


async def test_a_failing_stats_source_is_reported_not_fatal(nats_url: str) -> None:
    bus = await nats.connect(nats_url)

    def broken() -> dict[str, int]:
        raise RuntimeError("counter gone")

    try:
        async with Presence(bus, "core", broken, interval_s=60):
            (found,) = await query_presence(bus, wait_s=0.3)
            assert found.stats == {"stats_error": "counter gone"}
    finally:
        await bus.close()


def test_a_component_name_must_be_a_subject_token() -> None:
    with pytest.raises(ValueError, match="component"):
        Presence(object(), "bad.name")


async def test_rates_per_minute_come_from_the_counters_between_announcements(nats_url: str) -> None:
    bus = await nats.connect(nats_url)
    counter = {"evaluations": 0}
    try:
        presence = Presence(bus, "eval", lambda: dict(counter), interval_s=60, rates=("evaluations",))
        first = presence.announcement()
        assert first.stats["evaluations_per_min"] == 0.0
        await asyncio.sleep(0.5)
        counter["evaluations"] = 100
        rate = presence.announcement().stats["evaluations_per_min"]
        assert isinstance(rate, float) and 9_000 < rate < 12_100  # 100 in about half a second
    finally:
        await bus.close()
