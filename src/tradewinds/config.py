"""Settings read from the environment, with zero-setup defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def tradewinds_home() -> Path:
    """The data folder (`TRADEWINDS_HOME`, default `~/.tradewinds`), created on first use."""
    home = Path(os.environ.get("TRADEWINDS_HOME") or Path.home() / ".tradewinds").expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str | None  # None: the SQLite file in `home`
    nats_url: str | None  # None: start an embedded nats-server

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            home=tradewinds_home(),
            database_url=os.environ.get("TRADEWINDS_DATABASE_URL") or None,
            nats_url=os.environ.get("TRADEWINDS_NATS_URL") or None,
        )
