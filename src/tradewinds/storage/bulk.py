"""Many rows through one statement at the driver's speed, on SQLite and PostgreSQL alike.

SQLAlchemy's executemany builds every row's parameters in Python: the 10,000 last evaluations of
one wave of closes took about 100 ms on SQLite, in the decision service's event loop, where the
driver's own executemany takes 30 ms (`benchmarks/recording.py`). A `BulkStatement` is written
once with `:name` placeholders and rendered for the driver's parameter style; rows are mappings
of those names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

_PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@dataclass(frozen=True)
class BulkStatement:
    qmark: str  # SQLite: one `?` per occurrence
    qmark_names: tuple[str, ...]  # the name of each `?`, in order
    numeric: str  # PostgreSQL (asyncpg): `$k` per distinct name
    numeric_names: tuple[str, ...]  # the name of each `$k`, k = index + 1


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


async def execute_many(
    conn: AsyncConnection, statement: BulkStatement, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Run `statement` once per row, in `conn`'s transaction."""
    if not rows:
        return
    style = conn.dialect.paramstyle
    if style == "qmark":
        sql, names = statement.qmark, statement.qmark_names
    elif style == "numeric_dollar":
        sql, names = statement.numeric, statement.numeric_names
    else:
        raise ValueError(f"bulk statements support the qmark and numeric_dollar styles, not {style}")
    if len(names) == 1:
        await conn.exec_driver_sql(sql, [(row[names[0]],) for row in rows])
        return
    values = itemgetter(*names)
    await conn.exec_driver_sql(sql, [values(row) for row in rows])
