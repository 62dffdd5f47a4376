"""How `tradewinds web` is configured: command-line options over environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class WebSettings:
    home: Path  # the data folder: secret key, uploaded candle files
    database_url: str | None = None  # None: the data folder's SQLite database
    nats_url: str | None = None  # None: the data folder's embedded server, if one runs
    # Cookies are marked Secure behind HTTPS (TRADEWINDS_WEB_SECURE_COOKIES=1, or when the
    # request arrives over https / with X-Forwarded-Proto: https from a trusted proxy).
    secure_cookies: bool = False
    session_days: float = 14.0
    # Origins allowed to write with the session cookie besides the server's own (CSRF defence in
    # depth on top of the token): none by default.
    trusted_origins: tuple[str, ...] = ()
    backtest_workers: int = 1  # backtests at once across all users; each user's queue in order
    max_upload_bytes: int = 64 * 1024 * 1024
    signin_attempts_per_address: int = 20  # failures per 10 minutes
    signin_attempts_per_account: int = 8

    @classmethod
    def from_environment(cls, home: Path) -> WebSettings:
        origins = tuple(
            o.strip() for o in os.environ.get("TRADEWINDS_WEB_ORIGINS", "").split(",") if o.strip()
        )
        return cls(
            home=home,
            database_url=os.environ.get("TRADEWINDS_DATABASE_URL") or None,
            nats_url=os.environ.get("TRADEWINDS_NATS_URL") or None,
            secure_cookies=_flag("TRADEWINDS_WEB_SECURE_COOKIES", False),
            trusted_origins=origins,
            backtest_workers=max(1, int(os.environ.get("TRADEWINDS_WEB_BACKTEST_WORKERS", "1"))),
        )
