"""Many rows through one statement at the driver's speed, on SQLite and PostgreSQL alike.

SQLAlchemy's executemany builds every row's parameters in Python: the 10,000 last evaluations of
one wave of closes took about 100 ms on SQLite, in the decision service's event loop, where the
driver's own executemany takes 30 ms (`benchmarks/recording.py`). A `BulkStatement` is written
once with `:name` placeholders and rendered for the driver's parameter style; rows are mappings
of those names.

The same goes for queries over a long list of ids: SQLAlchemy's `in_` renders and binds one
parameter per id (10,000 per wave: about 50 ms of the decision service's loop), where
`select_rows` passes the list as one parameter: JSON for SQLite's json_each, an array for
PostgreSQL's unnest. Write `IN :name[]` for such a list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

_PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_ID_LIST = re.compile(r"\bIN :([A-Za-z_]\w*)\[\]")


@dataclass(frozen=True)
class BulkStatement:
    qmark: str  # SQLite: one `?` per occurrence
    qmark_names: tuple[str, ...]  # the name of each `?`, in order
    numeric: str  # PostgreSQL (asyncpg): `$k` per distinct name
    numeric_names: tuple[str, ...]  # the name of each `$k`, k = index + 1
    id_lists: frozenset[str] = frozenset()  # names that are lists of integer ids (`IN :name[]`)


def bulk_statement(sql: str) -> BulkStatement:
    """Render `sql` (with `:name` placeholders) for both parameter styles."""
    occurrences = tuple(_PLACEHOLDER.findall(sql))
    if not occurrences:
        raise ValueError("a bulk statement needs :name placeholders")
    distinct = tuple(dict.fromkeys(occurrences))
    numbers = {name: index + 1 for index, name in enumerate(distinct)}
    return BulkStatement(
        qmark=_PLACEHOLDER.sub("?", sql),
        qmark_names=occurrences,
        numeric=_PLACEHOLDER.sub(lambda m: f"${numbers[m.group(1)]}", sql),
        numeric_names=distinct,
    )


def id_list_query(sql: str) -> BulkStatement:
    """`sql` where each `IN :name[]` takes a whole list of integer ids as one parameter."""
    lists = frozenset(_ID_LIST.findall(sql))
    if not lists:
        raise ValueError("an id list query needs an `IN :name[]`")
    sqlite = bulk_statement(_ID_LIST.sub(r"IN (SELECT value FROM json_each(:\1))", sql))
    postgres = bulk_statement(_ID_LIST.sub(r"IN (SELECT unnest(CAST(:\1 AS BIGINT[])))", sql))
    return BulkStatement(sqlite.qmark, sqlite.qmark_names, postgres.numeric, postgres.numeric_names, lists)


async def select_rows(
    conn: AsyncConnection, statement: BulkStatement, params: Mapping[str, Any]
) -> list[tuple[Any, ...]]:
    """The rows of one query, in `conn`'s transaction."""
    sql, names = _rendered(conn, statement)
    qmark = conn.dialect.paramstyle == "qmark"

    def value(name: str) -> Any:
        given = params[name]
        if name not in statement.id_lists:
            return given
        ids = [int(i) for i in given]
        return json.dumps(ids) if qmark else ids

    result = await conn.exec_driver_sql(sql, tuple(value(name) for name in names))
    return [tuple(row) for row in result.all()]


def _rendered(conn: AsyncConnection, statement: BulkStatement) -> tuple[str, tuple[str, ...]]:
    style = conn.dialect.paramstyle
    if style == "qmark":
        return statement.qmark, statement.qmark_names
    if style == "numeric_dollar":
        return statement.numeric, statement.numeric_names
    raise ValueError(f"bulk statements support the qmark and numeric_dollar styles, not {style}")


async def execute_many(
    conn: AsyncConnection, statement: BulkStatement, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Run `statement` once per row, in `conn`'s transaction."""
    if not rows:
        return
    sql, names = _rendered(conn, statement)
    if len(names) == 1:
        await conn.exec_driver_sql(sql, [(row[names[0]],) for row in rows])
        return
    values = itemgetter(*names)
    await conn.exec_driver_sql(sql, [values(row) for row in rows])
