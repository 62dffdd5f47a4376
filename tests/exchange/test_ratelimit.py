"""Token buckets, shared budgets, cool-down and retry, and reconnect back-off, on a fake clock."""

from __future__ import annotations

import asyncio
import random

import pytest

from tradewinds.exchange.ratelimit import (
    Backoff,
    BucketSpec,
    RateLimiter,
    RetryPolicy,
    api_key_bucket_name,
    call_with_backoff,
    shared_rate_limiter,
)


class FakeClock:
    """Time moves only when someone sleeps; concurrent sleepers do not add up."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        target = self.now + seconds
        await asyncio.sleep(0)
        self.now = max(self.now, target)


class Refused(Exception):
    pass


def refused(exc: BaseException) -> bool:
    return isinstance(exc, Refused)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def acquisition_times(
    limiter: RateLimiter, clock: FakeClock, spec: BucketSpec, count: int
) -> list[float]:
    bucket = limiter.bucket("venue:candles", spec)
    times = []
    for _ in range(count):
        await bucket.acquire()
        times.append(clock.now - 1000.0)
    return times


async def test_burst_then_steady_pace(clock: FakeClock) -> None:
    times = await acquisition_times(RateLimiter(clock), clock, BucketSpec(per_minute=60, burst=3), 5)
    interval = 60 / 57  # 57 tokens a minute refill after the burst of 3
    assert times[:3] == [0.0, 0.0, 0.0]
    assert times[3] == pytest.approx(interval)
    assert times[4] == pytest.approx(2 * interval)


async def test_no_sixty_second_window_exceeds_the_limit(clock: FakeClock) -> None:
    spec = BucketSpec.for_limit(30)  # Bitfinex's candle budget
    times = await acquisition_times(RateLimiter(clock), clock, spec, 200)
    for start in times:
        in_window = [t for t in times if start <= t < start + 60]
        assert len(in_window) <= 30
    # ...and the budget is used: after the burst, requests come at the refill rate, not slower.
    steady = (200 - spec.burst) / spec.refill_per_second
    assert times[-1] == pytest.approx(steady)


async def test_buckets_are_shared_by_name(clock: FakeClock) -> None:
    limiter = RateLimiter(clock)
    first = limiter.bucket("bitfinex:candles", BucketSpec(30, 5))
    again = limiter.bucket("bitfinex:candles", BucketSpec(90, 10))
    assert again is first and again.spec == BucketSpec(30, 5)
    assert limiter.get("bitfinex:rest") is None
    assert shared_rate_limiter() is shared_rate_limiter()


async def test_a_request_waits_for_every_bucket(clock: FakeClock) -> None:
    limiter = RateLimiter(clock)
    loose = limiter.bucket("ip", BucketSpec(6000, 100))
    tight = limiter.bucket("venue:key:abc", BucketSpec(61, 1))  # one a second
    for _ in range(3):
        await limiter.acquire([loose, tight])
    assert clock.now - 1000.0 == pytest.approx(2.0)


async def test_concurrent_callers_share_one_budget(clock: FakeClock) -> None:
    limiter = RateLimiter(clock)
    bucket = limiter.bucket("venue:rest", BucketSpec(61, 1))
    await asyncio.gather(*(bucket.acquire() for _ in range(5)))
    assert clock.now - 1000.0 == pytest.approx(4.0)


async def test_cool_down_pauses_everyone(clock: FakeClock) -> None:
    limiter = RateLimiter(clock)
    bucket = limiter.bucket("venue:rest", BucketSpec(6000, 10))
    bucket.cool_down(30)
    assert bucket.wait_time() == pytest.approx(30)
    await bucket.acquire()
    assert clock.now - 1000.0 >= 30


async def test_call_with_backoff_retries_after_cooling_down(clock: FakeClock) -> None:
    limiter = RateLimiter(clock)
    bucket = limiter.bucket("venue:rest", BucketSpec(6000, 10))
    calls = []

    async def request() -> str:
        calls.append(clock.now)
        if len(calls) < 3:
            raise Refused("429")
        return "answer"

    policy = RetryPolicy(attempts=3, cool_down_s=10, max_cool_down_s=15)
    assert await call_with_backoff(limiter, [bucket], request, refused, policy, "test") == "answer"
    assert [t - 1000.0 for t in calls] == pytest.approx([0, 10, 25])  # 10, then min(20, 15)


async def test_call_with_backoff_gives_up_and_passes_other_errors(clock: FakeClock) -> None:
    limiter = RateLimiter(clock)
    bucket = limiter.bucket("venue:rest", BucketSpec(6000, 10))
    attempts = 0

    async def always_refused() -> None:
        nonlocal attempts
        attempts += 1
        raise Refused("429")

    with pytest.raises(Refused):
        await call_with_backoff(limiter, [bucket], always_refused, refused, RetryPolicy(attempts=2), "test")
    assert attempts == 2

    async def broken() -> None:
        nonlocal attempts
        attempts += 1
        raise KeyError("bug")

    attempts = 0
    with pytest.raises(KeyError):
        await call_with_backoff(limiter, [bucket], broken, refused, RetryPolicy(attempts=5), "test")
    assert attempts == 1


def test_backoff_grows_with_jitter_up_to_a_cap_and_resets() -> None:
    backoff = Backoff(initial_s=1, max_s=8, factor=2, jitter=0.5, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(6)]
    bases = [1, 2, 4, 8, 8, 8]
    for delay, base in zip(delays, bases, strict=True):
        assert base * 0.5 <= delay <= base
    assert len(set(delays)) == len(delays)  # jittered
    backoff.reset()
    assert backoff.failures == 0 and backoff.next_delay() <= 1


def test_invalid_specs_are_refused(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="burst must be at least 1"):
        BucketSpec(30, 0)
    with pytest.raises(ValueError, match="must exceed burst"):
        BucketSpec(5, 5)
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
    bucket = RateLimiter(clock).bucket("x", BucketSpec(30, 2))
    with pytest.raises(ValueError, match="exceeds its burst"):
        asyncio.run(bucket.acquire(3))


def test_api_key_buckets_do_not_reveal_the_key() -> None:
    name = api_key_bucket_name("bitfinex", "my-secret-key")
    assert name.startswith("bitfinex:key:") and "my-secret-key" not in name
    assert name == api_key_bucket_name("bitfinex", "my-secret-key")
    assert name != api_key_bucket_name("bitfinex", "another-key")
