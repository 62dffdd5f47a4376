"""Secrets the browser and scripts hold, and what the server keeps of them.

A session id or API token is a random 256-bit string; the database keeps only its SHA-256
digest, so the table cannot be replayed. Digests of random tokens need no salt or slow hash:
guessing a token is as hard as guessing its 256 bits.

Sign-in attempts are limited per client address and per account (`AttemptLimiter`), because an
argon2 verification costs ~0.1 s of CPU and a password may be guessed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass, field

SESSION_COOKIE = "tw_session"
CSRF_COOKIE = "tw_csrf"  # readable by the page's script, which echoes it in CSRF_HEADER
CSRF_HEADER = "x-csrf-token"
TOKEN_PREFIX = "tw_"  # API tokens start with it, so a leaked one is recognisable


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_api_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass
class AttemptLimiter:
    """At most `limit` failed attempts per key within `window_s`; successes do not count."""

    limit: int
    window_s: float
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after(self, key: str, now: float | None = None) -> float:
        """Seconds until `key` may try again (0 when it may now)."""
        now = time.monotonic() if now is None else now
        failures = self._failures.get(key)
        if not failures:
            return 0.0
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return 0.0
        if len(failures) < self.limit:
            return 0.0
        return failures[0] + self.window_s - now

    def failed(self, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._failures.setdefault(key, deque()).append(now)
        if len(self._failures) > 100_000:  # a flood of distinct keys must not grow memory for ever
            oldest = min(self._failures, key=lambda k: self._failures[k][-1])
            del self._failures[oldest]

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)
