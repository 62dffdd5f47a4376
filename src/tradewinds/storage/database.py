"""Which database, and how to connect to it: URL normalisation, engines, sessions, schema upgrades.

Users write database URLs the usual way (`sqlite:///file.db`, `postgresql://user@host/db`,
`postgres://...`); Tradewinds picks the async driver for them (aiosqlite, asyncpg). Without
`TRADEWINDS_DATABASE_URL` the database is the SQLite file `tradewinds.db` in the data folder.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from tradewinds.config import Settings
from tradewinds.storage import schema
from tradewinds.storage.errors import DatabaseUrlError, StorageError
from tradewinds.storage.schema import SchemaUpgrade

DATABASE_FILE = "tradewinds.db"
SQLITE_DRIVER = "sqlite+aiosqlite"
POSTGRES_DRIVER = "postgresql+asyncpg"
# A writer waits this long for another writer's lock before SQLite gives up with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 10_000

_SUPPORTED = "sqlite:///FILE.db, sqlite:////ABSOLUTE/PATH.db or postgresql://USER@HOST/DATABASE (postgres://)"
_POSTGRES_NAMES = ("postgresql", "postgres")


def default_database_url(home: Path) -> str:
    """The zero-setup database: `tradewinds.db` in the data folder."""
    return f"{SQLITE_DRIVER}:///{home / DATABASE_FILE}"


def resolve_database_url(url: str | None = None) -> str:
    """The async URL to use: `url` if given, else `TRADEWINDS_DATABASE_URL`, else the default file."""
    if url is None:
        settings = Settings.from_env()
        url = settings.database_url or default_database_url(settings.home)
    return normalize_database_url(url)


def normalize_database_url(url: str) -> str:
    """Rewrite a database URL to its async-driver form, or raise DatabaseUrlError saying why not."""
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise DatabaseUrlError(
                f"database URL {url!r} is an in-memory SQLite database, which every connection sees "
                f"empty; name a file instead, e.g. sqlite:///tradewinds.db"
            )
        return _render(parsed.set(drivername=SQLITE_DRIVER))
    if backend in _POSTGRES_NAMES:
        if not parsed.database:
            raise DatabaseUrlError(
                f"database URL {display_url(url)!r} names no database; e.g. postgresql://user@host/tradewinds"
            )
        query = dict(parsed.query)
        if "sslmode" in query:  # libpq's spelling; asyncpg calls it `ssl` and takes the same modes
            query["ssl"] = query.pop("sslmode")
        return _render(parsed.set(drivername=POSTGRES_DRIVER, query=query))
    raise DatabaseUrlError(
        f"unsupported database URL scheme {parsed.drivername!r} in {display_url(url)!r}; "
        f"Tradewinds supports SQLite and PostgreSQL: {_SUPPORTED}"
    )


def display_url(url: str) -> str:
    """The URL with any password masked, fit for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def is_sqlite(url: str) -> bool:
    return _parse(url).get_backend_name() == "sqlite"


def create_engine(url: str | None = None, **options: Any) -> AsyncEngine:
    """An async engine for `url` (any form `normalize_database_url` accepts; None: the default).

    SQLite connections use WAL (readers never block the writer), enforce foreign keys and wait
    for a busy writer instead of failing at once.
    """
    async_url = resolve_database_url(url)
    if is_sqlite(async_url):
        database = _parse(async_url).database
        if database:
            _check_sqlite_folder(Path(database))
        engine = create_async_engine(async_url, **options)
        event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
        return engine
    return create_async_engine(async_url, **options)


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for ORM work; objects stay usable after commit (no lazy reloads in async code)."""
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def connect(url: str | None = None) -> AsyncIterator[AsyncEngine]:
    """An engine for the duration of a block, disposed (connections closed) afterwards."""
    engine = create_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def upgrade_schema(url: str | None = None, revision: str = "head") -> SchemaUpgrade:
    """Bring the database at `url` (None: the configured one) to `revision` by its migrations."""
    async with connect(url) as engine:
        return await schema.upgrade(engine, revision)


async def schema_revision(url: str | None = None) -> str | None:
    """The schema revision of the database at `url`, None if it has no Tradewinds tables."""
    async with connect(url) as engine:
        return await schema.current_revision(engine)


async def driver_connection(conn: AsyncConnection) -> Any:
    """The driver's own connection (asyncpg or aiosqlite) under `conn`, for bulk paths SQLAlchemy
    has no API for. Statements on it share `conn`'s transaction once SQLAlchemy has begun one."""
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    if driver is None:
        raise StorageError("the database connection was closed before use")
    return driver


def describe_database_error(exc: BaseException, url: str | None = None) -> str:
    """One readable line for a failure to reach or use the database (no SQL echo, no links)."""
    where = f"database {display_url(url)}" if url else "the database"
    cause: BaseException = exc
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        cause = exc.orig
    elif isinstance(exc, SQLAlchemyError) and exc.__cause__ is not None:
        cause = exc.__cause__
    detail = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    if detail.startswith("<class '") and ">: " in detail:  # SQLAlchemy's asyncpg wrapper prefixes the type
        detail = detail.split(">: ", 1)[1]
    if isinstance(cause, OSError) and not isinstance(exc, DBAPIError):
        return f"cannot reach {where}: {detail}"
    return f"{where}: {detail}"


def _parse(url: str) -> URL:
    try:
        return make_url(url.strip())
    except ArgumentError:
        raise DatabaseUrlError(
            f"{display_url(url)!r} is not a database URL; use one of: {_SUPPORTED}"
        ) from None


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def _check_sqlite_folder(database: Path) -> None:
    folder = database.expanduser().parent
    if not folder.is_dir():
        raise DatabaseUrlError(
            f"SQLite database {database}: the folder {folder} does not exist; create it first"
        )


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL loses at most the last commits on power loss, never consistency.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()
