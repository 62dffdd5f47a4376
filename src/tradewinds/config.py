"""Settings read from the environment, with zero-setup defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


class ConfigError(Exception):
    """The environment names something Tradewinds cannot use; the message says what and why."""


def tradewinds_home() -> Path:
    """The data folder (`TRADEWINDS_HOME`, default `~/.tradewinds`), created on first use.

    Raises ConfigError when it cannot be a folder (a file is in the way, no permission)."""
    named = os.environ.get("TRADEWINDS_HOME")
    home = Path(named or Path.home() / ".tradewinds").expanduser()
    where = f"TRADEWINDS_HOME={named}" if named else f"the data folder {home}"
    if home.exists() and not home.is_dir():
        raise ConfigError(f"{where} is a file, not a folder; point TRADEWINDS_HOME at a folder")
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot create the folder ({exc.strerror})") from None
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
