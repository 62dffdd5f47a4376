"""Reading a backtest's candles from a SQLite file without loading SQLAlchemy and Alembic.

`tradewinds backtest --exchange ...` on the default SQLite database spent 0.3 s of its start
importing SQLAlchemy, Alembic and asyncpg to check the schema and read one series. When the
database is a plain SQLite file at the newest schema revision, this path checks the revision with
the stdlib `sqlite3` and reads the candles through ADBC (`sqlite_arrow`). Anything else (another
database, a missing file, an old schema, no candles) returns None, and the caller takes the full
path (`candles.load_candle_arrays_to_roll_up`), which says what is wrong in its usual words.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from urllib.parse import quote

from tradewinds.config import Settings
from tradewinds.domain.candle_arrays import CandleArrays
from tradewinds.domain.candles import SeriesKey
from tradewinds.domain.timeframes import Timeframe
from tradewinds.storage import sqlite_arrow

DATABASE_FILE = "tradewinds.db"  # database.DATABASE_FILE (tested): that module imports SQLAlchemy
VERSIONS_DIR = Path(__file__).with_name("migrations") / "versions"
_SQLITE_SCHEMES = ("sqlite", "sqlite+aiosqlite", "sqlite+pysqlite")
_REVISION = re.compile(r'^revision(?::[^=]*)?=\s*"([^"]+)"', re.MULTILINE)
_DOWN_REVISION = re.compile(r'^down_revision(?::[^=]*)?=\s*"([^"]+)"', re.MULTILINE)


def sqlite_file(url: str | None) -> Path | None:
    """The existing file a SQLite database URL names (None: the configured database), or None
    when the database is not a plain SQLite file that exists."""
    if url is None:
        settings = Settings.from_env()
        if settings.database_url is None:
            path = settings.home / DATABASE_FILE
            return path if path.is_file() else None
        url = settings.database_url
    scheme, sep, rest = url.partition(":///")
    if not sep or scheme not in _SQLITE_SCHEMES or "?" in rest or not rest or rest == ":memory:":
        return None
    path = Path(rest)
    return path if path.is_file() else None


def head_revision() -> str | None:
    """The newest migration's revision, read from the migration files (Alembic's answer, tested);
    None when the files do not make one line of revisions."""
    revisions, downs = set(), set()
    for script in VERSIONS_DIR.glob("v*.py"):
        text = script.read_text(encoding="utf-8")
        found = _REVISION.search(text)
        if found is None:
            return None
        revisions.add(found.group(1))
        down = _DOWN_REVISION.search(text)
        if down:
            downs.add(down.group(1))
    heads = revisions - downs
    return heads.pop() if len(heads) == 1 else None


def schema_revision(path: Path) -> str | None:
    """The file's Alembic revision, or None when it has none (or cannot be read)."""
    try:
        with sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True) as conn:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else str(row[0])


def load_candle_arrays_to_roll_up(
    url: str | None, key: SeriesKey, since_ms: int | None, until_ms: int | None
) -> tuple[CandleArrays, Timeframe] | None:
    """As `candles.load_candle_arrays_to_roll_up`, for a SQLite file at the newest revision that
    holds candles of the series (or of a finer timeframe that rolls up into it); else None."""
    path = sqlite_file(url)
    if path is None or schema_revision(path) != head_revision() or head_revision() is None:
        return None
    for timeframe in (key.timeframe, *key.timeframe.finer_divisors()):
        series = SeriesKey(key.exchange, key.symbol, timeframe)
        arrays = sqlite_arrow.read_candle_arrays(str(path), series, since_ms, until_ms)
        if len(arrays):
            return arrays, timeframe
    return None
