"""Request budgets shared by everything in one process, and the back-off used when a venue says no.

Exchanges limit requests per IP address and per API key. A process is one IP address, so the
buckets live in one `RateLimiter` per process (`shared_rate_limiter()`) and every adapter instance,
whichever user it serves, draws from the same ones:

- an exchange endpoint bucket, e.g. `bitfinex:candles` (the venue's per-IP limit for candles),
- an API key bucket for signed requests, e.g. `bitfinex:key:3f2a...`,
- the IP bucket `ip`, a ceiling on all exchange requests the process makes.

A request waits for a token from each of its buckets. When the venue still answers "rate limited",
`call_with_backoff` puts the buckets into a cool-down (everybody waits, not just the caller) and
retries a bounded number of times. ccxt's own limiter is switched off: it would wait again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

IP_BUCKET = "ip"
_TOKEN_EPSILON = 1e-9


class Clock(Protocol):
    """Monotonic seconds and sleeping; tests substitute a fake that does not really wait."""

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(frozen=True)
class BucketSpec:
    """At most `per_minute` requests in any 60 seconds, of which `burst` may come at once.

    Tokens refill at (per_minute - burst) per minute into a bucket holding `burst`, so a full
    bucket plus a minute of refill is exactly `per_minute`: the venue's window is never exceeded.
    """

    per_minute: float
    burst: int = 1

    def __post_init__(self) -> None:
        if self.burst < 1:
            raise ValueError(f"burst must be at least 1, got {self.burst}")
        if self.per_minute <= self.burst:
            raise ValueError(f"per_minute ({self.per_minute}) must exceed burst ({self.burst})")

    @classmethod
    def for_limit(cls, per_minute: float) -> BucketSpec:
        """A spec for a venue limit of `per_minute`, allowing a sixth of it as a burst."""
        return cls(per_minute=per_minute, burst=max(1, min(int(per_minute // 6), int(per_minute) - 1)))

    @property
    def refill_per_second(self) -> float:
        return (self.per_minute - self.burst) / 60.0


class TokenBucket:
    """One budget. Waiters are served first come, first served."""

    def __init__(self, name: str, spec: BucketSpec, clock: Clock) -> None:
        self.name = name
        self.spec = spec
        self._clock = clock
        self._tokens = float(spec.burst)
        self._stamp = clock.monotonic()
        self._paused_until = 0.0
        # One lock per event loop: a process-wide bucket may outlive the loop that first used it.
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    def _refill(self) -> None:
        now = self._clock.monotonic()
        if now > self._stamp:
            self._tokens = min(
                float(self.spec.burst), self._tokens + (now - self._stamp) * self.spec.refill_per_second
            )
            self._stamp = now

    def wait_time(self, cost: float = 1.0) -> float:
        """Seconds until `cost` tokens are available (0 if now), ignoring other waiters."""
        self._refill()
        now = self._clock.monotonic()
        pause = max(0.0, self._paused_until - now)
        missing = cost - self._tokens
        # A shortfall below a billionth of a token is float rounding: waiting for it could be a
        # sleep too short to move the clock, forever.
        refill = missing / self.spec.refill_per_second if missing > _TOKEN_EPSILON else 0.0
        return max(pause, refill)

    async def acquire(self, cost: float = 1.0) -> None:
        if cost > self.spec.burst:
            raise ValueError(f"bucket {self.name}: cost {cost} exceeds its burst {self.spec.burst}")
        async with self._lock():
            while (delay := self.wait_time(cost)) > 0:
                await self._clock.sleep(delay)
            self._tokens -= cost

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            for old in [known for known in self._locks if known.is_closed()]:
                del self._locks[old]
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    def cool_down(self, seconds: float) -> None:
        """Hand out nothing for `seconds` (the venue told us to back off), and start empty after."""
        until = self._clock.monotonic() + seconds
        if until > self._paused_until:
            self._paused_until = until
            self._refill()
            self._tokens = min(self._tokens, 0.0)

    @property
    def paused_until(self) -> float:
        return self._paused_until


class RateLimiter:
    """Named buckets, created on first use and then shared by every caller of the same name."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self._buckets: dict[str, TokenBucket] = {}

    def bucket(self, name: str, spec: BucketSpec) -> TokenBucket:
        """The bucket called `name`; its spec is fixed by whoever asked for it first."""
        existing = self._buckets.get(name)
        if existing is not None:
            return existing
        created = TokenBucket(name, spec, self.clock)
        self._buckets[name] = created
        return created

    def get(self, name: str) -> TokenBucket | None:
        return self._buckets.get(name)

    async def acquire(self, buckets: Sequence[TokenBucket], cost: float = 1.0) -> None:
        """Wait for a token from each bucket (in a fixed order, so callers cannot deadlock)."""
        for bucket in sorted(buckets, key=lambda b: b.name):
            await bucket.acquire(cost)


_shared: RateLimiter | None = None


def shared_rate_limiter() -> RateLimiter:
    """The process-wide limiter: one set of buckets for every adapter in this process."""
    global _shared
    if _shared is None:
        _shared = RateLimiter()
    return _shared


def api_key_bucket_name(exchange_id: str, api_key: str) -> str:
    """A bucket name for an API key that does not reveal the key (it ends up in logs)."""
    digest = hashlib.sha256(api_key.encode()).hexdigest()[:12]
    return f"{exchange_id}:key:{digest}"


@dataclass(frozen=True)
class RetryPolicy:
    """What to do when the venue answers "rate limited" although we kept to our budget."""

    attempts: int = 3  # tries in total, the first included
    cool_down_s: float = 60.0  # Bitfinex blocks an offending IP for 60 s
    max_cool_down_s: float = 300.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")

    def cool_down(self, failures: int) -> float:
        return min(self.max_cool_down_s, self.cool_down_s * 2.0 ** (failures - 1))


async def call_with_backoff(
    limiter: RateLimiter,
    buckets: Sequence[TokenBucket],
    request: Callable[[], Awaitable[T]],
    is_rate_limited: Callable[[BaseException], bool],
    policy: RetryPolicy,
    what: str,
    cost: float = 1.0,
) -> T:
    """Run `request` within the buckets' budgets, retrying after a cool-down when rate limited.

    The last rate-limit error is re-raised once `policy.attempts` are used up.
    """
    failures = 0
    while True:
        await limiter.acquire(buckets, cost)
        try:
            return await request()
        except Exception as exc:
            if not is_rate_limited(exc):
                raise
            failures += 1
            if failures >= policy.attempts:
                raise
            pause = policy.cool_down(failures)
            log.warning(
                "%s: rate limited (%s); cooling down %.1f s before retry %d", what, exc, pause, failures
            )
            for bucket in buckets:
                bucket.cool_down(pause)


class Backoff:
    """Exponential back-off with full jitter for reconnects: each delay in [base, cap] grows by `factor`."""

    def __init__(
        self,
        initial_s: float = 1.0,
        max_s: float = 60.0,
        factor: float = 2.0,
        jitter: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        if initial_s <= 0 or max_s < initial_s or factor < 1:
            raise ValueError("backoff needs 0 < initial_s <= max_s and factor >= 1")
        self.initial_s = initial_s
        self.max_s = max_s
        self.factor = factor
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._failures = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one more failure."""
        base = min(self.max_s, self.initial_s * self.factor**self._failures)
        self._failures += 1
        # Jitter spreads reconnects of many connections so they do not hit the venue together.
        return base * (1.0 - self.jitter * self._rng.random())

    def reset(self) -> None:
        self._failures = 0

    @property
    def failures(self) -> int:
        return self._failures
